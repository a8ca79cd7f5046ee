"""C code generator: an IR graph and its memory plan -> `model.c` / `model.h` (the API every firmware main uses).

Weights and every precomputed parameter are `static const` arrays (flash); the activations live in one static
arena per memory region, sized and laid out by the planner (`edgefmr.firmware.planner.plan`, the single source of
truth for SRAM): each tensor is at exactly the planner's offset. One call per node; only the kernels the model uses
are copied into the build.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.firmware.c.emitters import C_TYPES, EmitContext, get_emitter
from edgefmr.firmware.c.fused import FusedWriter
from edgefmr.firmware.planner import Plan
from edgefmr.firmware.schedule import Step
from edgefmr.ir import Graph, graph_hash
from edgefmr.ir.graph import Tensor
from edgefmr.ir.streaming import frame_inputs, initial_value, state_pairs, step_outputs
from edgefmr.ops.registry import call

C_DIR = Path(__file__).resolve().parent
KERNEL_DIR = C_DIR / "kernels"
ARM_KERNEL_DIR = KERNEL_DIR / "arm"
#: Kernel code every model links (fixed-point helpers, strided copies).
BASE_KERNELS = ("efm_kernel",)
#: The C array of a streaming model's persistent state (planner region "state").
STATE_SYMBOL = "efm_state"
#: Byte alignment of the constant arrays in flash.
CONST_ALIGN = 4
_INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


@dataclass(frozen=True)
class Placement:
    """Where the planner put one tensor: arena region, byte offset in that region's arena, size in bytes."""

    region: str
    offset: int
    size: int


def placements(plan: Plan) -> dict[str, Placement]:
    """Tensor name -> Placement, read from a planner `Plan` (its `tensors` mapping of (region, offset, size))."""
    out: dict[str, Placement] = {}
    for name, p in plan.tensors.items():
        if isinstance(p, tuple):
            region, offset, size = p
        else:
            region, offset, size = p.region, p.offset, p.size
        out[name] = Placement(str(region), int(offset), int(size))
    return out


def arena_bytes(plan: Plan) -> dict[str, int]:
    """Region -> arena bytes of a planner `Plan`."""
    ab = plan.arena_bytes
    if isinstance(ab, dict):
        return {str(k): int(v) for k, v in ab.items()}
    raise EdgefmrError(f"planner returned arena_bytes of type {type(ab).__name__}; expected a region -> bytes dict")


@dataclass
class Generated:
    """The generated sources and what the build needs to know about them."""

    files: dict[str, str]  # generated file name -> text (model.c, model.h)
    kernel_files: list[Path]  # portable kernel sources and headers to copy
    arm_kernel_files: list[Path]  # Cortex-M variants (kernels/arm/<name>.c), copied as <name>_arm.c
    kernels: list[str]  # kernel names used
    const_bytes: int  # bytes of constant data written to model.c (weights, parameters, tables)
    arena: dict[str, int]  # region -> arena bytes
    arena_symbols: dict[str, str]  # region -> C symbol of its arena
    layers: list[dict[str, Any]] = field(default_factory=list)
    model_hash: str = ""
    # const_bytes with only the arrays merged that are the same by construction (one tensor's; those derived for
    # steps of one signature): a bound const_bytes never exceeds that does not depend on the weights' values (the
    # search's flash figure)
    const_bytes_unmerged: int = 0


def _c_string(s: str) -> str:
    """A C string literal of `s` (printable ASCII kept, everything else as octal escapes of its UTF-8 bytes)."""
    out = []
    for b in s.encode("utf-8"):
        ch = chr(b)
        if ch in '"\\' or not 32 <= b < 127:
            out.append(f"\\{b:03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _c_float(v: float, single: bool = True) -> str:
    """An exact C literal of a float32 (single) or double value."""
    v = float(np.float32(v)) if single else float(v)
    suffix = "f" if single else ""
    if math.isnan(v):
        return "__builtin_nanf(\"\")" if single else "__builtin_nan(\"\")"
    if math.isinf(v):
        inf = "__builtin_inff()" if single else "__builtin_inf()"
        return inf if v > 0 else f"(-{inf})"
    return f"{v.hex()}{suffix}"


def _c_int(v: int, ctype: str) -> str:
    if ctype == "int64_t":
        if v == -(2**63):
            return "(-INT64_C(9223372036854775807) - 1)"
        return f"INT64_C({v})"
    if ctype == "int32_t" and v == -(2**31):
        return "(-2147483647 - 1)"
    return str(v)


def _c_value(v: Any) -> str:
    """A C initializer of `v`: ints, np.float32 (float literal), other floats (double literal), strings (a C
    expression, e.g. an array name) and lists of these (an array member)."""
    if isinstance(v, bool | np.bool_):
        return "1" if v else "0"
    if isinstance(v, int | np.integer):
        v = int(v)
        return _c_int(v, "int32_t") if -(2**31) <= v < 2**31 else _c_int(v, "int64_t")
    if isinstance(v, np.float32):
        return _c_float(float(v), single=True)
    if isinstance(v, float | np.floating):
        return _c_float(float(v), single=False)
    if isinstance(v, str):
        return v
    if isinstance(v, list | tuple):
        return "{" + ", ".join(_c_value(x) for x in v) + "}"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} as C")


class _ModelWriter:
    """Collects the constant arrays, parameter structs and layer calls of one model."""

    def __init__(self, g: Graph, plan: Plan, default_region: str | None) -> None:
        self.g = g
        self.plan = plan
        self.place = placements(plan)
        self.arena = arena_bytes(plan)
        regions = sorted(self.arena)
        default = default_region if default_region in self.arena else (regions[0] if regions else None)
        self.arena_symbol = {r: ("efm_arena" if r == default else f"efm_arena_{_ident(r)}") for r in regions}
        self.arrays: list[tuple[str, str, np.ndarray]] = []
        self._array_keys: dict[tuple[str, bytes, int], str] = {}
        self._tensor_arrays: dict[str, str] = {}
        self.structs: list[str] = []
        self.const_bytes = 0
        self.const_bytes_unmerged = 0
        self.step_signature: Any = None  # what the current step's derived arrays are a function of
        self._step_calls = 0
        self._counted: set[Any] = set()
        self.options: dict[str, Any] = {}

    # -- tensors
    def placement(self, t: Tensor) -> Placement:
        if t.name not in self.place:
            raise EdgefmrError(f"the memory plan has no placement for tensor {t.name!r}")
        p = self.place[t.name]
        if p.region not in self.arena_symbol:
            raise EdgefmrError(f"tensor {t.name!r} is planned in region {p.region!r}, which has no arena in the plan")
        if p.size < t.nbytes or p.offset < 0 or p.offset + t.nbytes > self.arena[p.region]:
            raise EdgefmrError(f"tensor {t.name!r} ({t.nbytes} bytes) does not fit its planned slot "
                               f"{p.region}+{p.offset} size {p.size} (arena {self.arena[p.region]} bytes)")
        itemsize = np.dtype(C_NP[t.dtype]).itemsize
        if p.offset % itemsize:
            raise EdgefmrError(f"tensor {t.name!r} ({t.dtype}) is planned at offset {p.offset}, not a multiple of "
                               f"its element size {itemsize}")
        return p

    def tensor_ptr(self, t: Tensor, ctype: str) -> str:
        if t.is_const:
            name = self._tensor_arrays.get(t.name)
            if name is None:
                name = self.const_array(np.ascontiguousarray(t.data), C_TYPES[t.dtype], tensor=t.name)
                self._tensor_arrays[t.name] = name
            return name if ctype == C_TYPES[t.dtype] else f"((const {ctype} *)(const void *){name})"
        if t.name in self.plan.state:
            a = self.plan.state[t.name]
            base = f"({STATE_SYMBOL} + {a.offset})"
            return base if ctype == "int8_t" else f"(({ctype} *)(void *){base})"
        p = self.placement(t)
        base = f"({self.arena_symbol[p.region]} + {p.offset})"
        return base if ctype == "int8_t" else f"(({ctype} *)(void *){base})"

    def const_array(self, values: np.ndarray, ctype: str, tensor: str | None = None) -> str:
        values = np.ascontiguousarray(values).ravel()
        if values.size == 0:
            values = np.zeros(1, values.dtype)  # C has no empty arrays; never read
        # const_bytes_unmerged merges only what is the same by construction: a tensor's array, and the arrays derived
        # for steps of the same signature (the same op, attributes, constant tensors and quantization)
        skey = ("tensor", tensor) if tensor is not None else (self.step_signature, self._step_calls, ctype, values.size)
        if tensor is None:
            self._step_calls += 1
        if skey not in self._counted:
            self._counted.add(skey)
            self.const_bytes_unmerged += _padded(values.size * C_SIZES[ctype])
        key = (ctype, values.astype(values.dtype.newbyteorder("<")).tobytes(), values.dtype.itemsize)
        if key in self._array_keys:
            return self._array_keys[key]
        name = f"efm_c{len(self.arrays)}"
        self._array_keys[key] = name
        self.arrays.append((name, ctype, values))
        self.const_bytes += _padded(values.size * C_SIZES[ctype])
        return name

    def kernel_scratch(self, step: int, node: Any, ctype: str) -> str:
        name = f"kernel:{node.name or node.outputs[0]}"
        bufs = {b.name: b for b in self.plan.schedule.steps[step].scratch}
        if name not in bufs or step not in self.plan.scratch:
            raise EdgefmrError(f"the plan reserves no kernel scratch for node {node.name or node.outputs[0]!r}; "
                               f"plan with scratch=kernel_scratch(graph)")
        off = self.plan.scratch[step].offset + bufs[name].offset
        base = f"({self.arena_symbol[self.plan.scratch[step].region]} + {off})"
        return base if ctype == "int8_t" else f"(({ctype} *)(void *){base})"

    def pointer_array(self, exprs: list[str], ctype: str) -> str:
        name = f"efm_ptrs{len(self.structs)}"
        self.structs.append(f"static const {ctype} *const {name}[{len(exprs)}] = {{{', '.join(exprs)}}};")
        return name

    def param_struct(self, layer: int, ctype: str, fields: dict[str, Any]) -> str:
        name = f"efm_p{layer}_{len(self.structs)}"
        body = ",\n".join(f"    .{k} = {_c_value(v)}" for k, v in fields.items())
        self.structs.append(f"static const {ctype} {name} = {{\n{body},\n}};")
        return f"&{name}"

    # -- output
    def array_text(self, name: str, ctype: str, values: np.ndarray) -> str:
        if ctype == "float":
            items = [_c_float(float(v)) for v in values.astype(np.float32)]
        elif ctype == "double":
            items = [_c_float(float(v), single=False) for v in values.astype(np.float64)]
        else:
            ints = values.astype(np.int64).tolist()
            items = [_c_int(v, ctype) for v in ints] if ctype in ("int64_t", "int32_t") else [str(v) for v in ints]
        lines = [", ".join(items[i:i + 24]) for i in range(0, len(items), 24)]
        align = max(CONST_ALIGN, C_SIZES[ctype])
        body = ",\n    ".join(lines)
        return (f"static const {ctype} {name}[{len(items)}] __attribute__((aligned({align}))) = {{\n"
                f"    {body}\n}};")


C_NP = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
        "float32": np.float32, "bool": np.uint8}
C_SIZES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4, "int64_t": 8,
           "float": 4, "double": 8}


def _padded(n: int) -> int:
    return (n + CONST_ALIGN - 1) // CONST_ALIGN * CONST_ALIGN


def _comment(s: str) -> str:
    """`s` safe inside a C comment."""
    return s.replace("*/", "* /").replace("\n", " ")


def _ident(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", s)


def _views(plan: Plan, name: str) -> set[str]:
    """`name` and every tensor it is a view of (the planner's view_of chain)."""
    out = {name}
    while name in plan.tensors and getattr(plan.tensors[name], "view_of", None):
        name = plan.tensors[name].view_of
        out.add(name)
    return out


def _output_quant_fns(g: Graph, outputs: list[str]) -> str:
    """efm_output_scale / efm_output_zero_point (per-tensor; the first of per-axis; 1 and 0 when unquantized)."""
    qs = [g.tensor(n).quant for n in outputs]
    scales = ", ".join(_c_float(float(np.float32(q.scale[0])) if q is not None else 1.0) for q in qs)
    zps = ", ".join(str(int(q.zero_point[0]) if q is not None else 0) for q in qs)
    n = len(qs)
    return (f"float efm_output_scale(int i) {{\n    static const float s[] = {{{scales}}};\n"
            f"    return (i >= 0 && i < {n}) ? s[i] : 0.0f;\n}}\n\n"
            f"int32_t efm_output_zero_point(int i) {{\n    static const int32_t z[] = {{{zps}}};\n"
            f"    return (i >= 0 && i < {n}) ? z[i] : 0;\n}}\n")


def _stream_code(w: _ModelWriter, g: Graph, pairs: list[tuple[str, str]], ins: list[str], outs: list[str]
                 ) -> tuple[list[str], list[str]]:
    """model.c / model.h lines of a streaming step program: efm_state_commit (state outputs -> persistent slots,
    called by efm_run after the last layer), efm_model_reset (every state to its initial value) and efm_model_step
    (one frame in, the step's output out). Empty for an ordinary graph."""
    if not pairs:
        return [], []
    commit, reset = [], []
    for i, o in pairs:
        ti = g.tensor(i)
        dst = w.tensor_ptr(ti, "int8_t")
        if o in w.plan.state:  # written over its slot by its op
            commit.append(f"    /* {_comment(o)}: written in place */")
        else:
            commit.append(f"    memcpy({dst}, {w.tensor_ptr(g.tensor(o), 'int8_t')}, {ti.nbytes}u); "
                          f"/* {_comment(o)} */")
        v = initial_value(g, i)
        ctype = C_TYPES[ti.dtype]
        if v == 0 or ti.dtype in ("int8", "uint8"):
            reset.append(f"    memset({dst}, {v}, {ti.nbytes}u); /* {_comment(i)} */")
        else:
            reset.append(f"    for (uint32_t k = 0; k < {ti.size}u; k++) {{ {w.tensor_ptr(ti, ctype)}[k] = {v}; }}")
    frame = sum(g.tensor(n).nbytes for n in ins)
    out_bytes = sum(g.tensor(n).nbytes for n in outs)
    load = [f"        memcpy({w.tensor_ptr(g.tensor(n), 'int8_t')}, frame + {off}, {g.tensor(n).nbytes}u);"
            for n, off in zip(ins, _offsets(g, ins), strict=True)]
    store = [f"        memcpy(output + {off}, {w.tensor_ptr(g.tensor(n), 'int8_t')}, {g.tensor(n).nbytes}u);"
             for n, off in zip(outs, _offsets(g, outs), strict=True)]
    c = [f"const uint32_t efm_state_bytes = {w.plan.state_bytes}u;", "",
         "void efm_state_commit(void) {", *commit, "}", "",
         "void efm_model_reset(void) {", *reset, "}", "",
         "void efm_model_step(const int8_t *frame, int8_t *output) {",
         "    if (frame) {", *load, "    }",
         "    efm_run();",
         "    if (output) {", *store, "    }",
         "}", ""]
    h = ["",
         "/* Streaming step program: the state lives in a persistent region (efm_state_bytes), not in the arena. */",
         "#define EFM_STREAMING 1",
         f"#define EFM_STATE_BYTES {w.plan.state_bytes}u",
         f"#define EFM_FRAME_BYTES {frame}u /* the frame inputs, concatenated */",
         f"#define EFM_STEP_OUTPUT_BYTES {out_bytes}u /* the step outputs, concatenated */",
         "extern const uint32_t efm_state_bytes;",
         "void efm_model_reset(void);  /* every state to its initial value (zero point); call before a stream */",
         "void efm_model_step(const int8_t *frame, int8_t *output); /* one step; frame/output may be 0 */",
         "void efm_state_commit(void); /* after running the layers one by one: carry the new state over */"]
    return c, h


def _offsets(g: Graph, names: list[str]) -> list[int]:
    out, pos = [], 0
    for n in names:
        out.append(pos)
        pos += g.tensor(n).nbytes
    return out


def _check_aliasing(w: _ModelWriter, c, inplace: tuple, plan: Plan, step: Step) -> None:
    """The planner may overlap an output with an input only where the kernel runs in place (exact alias), where
    it made one a view of the other, or where the step streams a convolution over its input (the output exactly
    `input_offset` bytes before it: edgefmr.firmware.schedule.conv_overwrite_offset)."""
    streamed = {(o.output, o.input, o.input_offset) for o in step.overwrites if o.direct}
    for oi, oname in enumerate(c.node.outputs):
        if oname in plan.state:  # a state written over its slot: the op allows it (OpDef.state_in_place)
            continue
        ot = w.g.tensor(oname)
        op_ = w.placement(ot)
        for ii, iname in enumerate(c.node.inputs):
            if not iname:
                continue
            it = w.g.tensor(iname)
            if it.is_const or iname in plan.state:  # constants and persistent state never share arena bytes
                continue
            ip = w.placement(it)
            if ip.region != op_.region:
                continue
            if ip.offset < op_.offset + ot.nbytes and op_.offset < ip.offset + it.nbytes:
                allowed = ii in inplace and oi == 0 or (ii, oi) in inplace
                if allowed and ip.offset == op_.offset:
                    continue
                if allowed and (_views(plan, iname) & _views(plan, oname)):
                    continue
                if (oname, iname, ip.offset - op_.offset) in streamed:
                    continue
                raise EdgefmrError(f"{c.where}: output {oname!r} is planned over input {iname!r} "
                                   f"({op_.region}+{op_.offset}..+{ot.nbytes} vs +{ip.offset}..+{it.nbytes}), "
                                   f"but the {c.node.op} kernel cannot run in place on input {ii}")


def _transforms_values(c) -> bool:
    """True for a data-movement node that still changes bytes when the planner made it a view: a uint8
    CONCATENATION whose inputs are requantized to the output's scale (the kernel then runs in place)."""
    if c.node.op != "CONCATENATION" or c.out().dtype != "uint8":
        return False
    y = c.out()
    return any((c.inp(i).scale, c.inp(i).zero_point) != (y.scale, y.zero_point) for i in range(len(c.node.inputs)))


def kernel_files(names: list[str]) -> list[Path]:
    """The .c/.h files of kernels `names`, with every header they include (resolved in kernels/)."""
    out: list[Path] = []
    todo: list[Path] = []
    for n in [*BASE_KERNELS, *names]:
        for ext in (".c", ".h"):
            p = KERNEL_DIR / f"{n}{ext}"
            if p.is_file():
                todo.append(p)
        if not (KERNEL_DIR / f"{n}.h").is_file():
            raise EdgefmrError(f"kernel {n!r} has no header {KERNEL_DIR / (n + '.h')}")
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        for inc in _INCLUDE_RE.findall(p.read_text()):
            q = KERNEL_DIR / inc
            if q.is_file() and q not in out:
                todo.append(q)
    return sorted(out)


def arm_kernels_available() -> frozenset[str]:
    """Kernels that have a Cortex-M DSP variant in kernels/arm/."""
    return frozenset(p.stem for p in ARM_KERNEL_DIR.glob("*.c"))


#: Ops that run their portable C kernel on every core, and why no Cortex-M variant pays (checked by
#: tests/ops/test_op_pieces.py: every op has a Cortex-M kernel or a reason here).
PORTABLE_ONLY: dict[str, str] = {
    "RESHAPE": "data movement: a copy (or nothing, when the planner aliases it)",
    "TRANSPOSE": "data movement: strided copies, bound by loads and stores",
    "CONCATENATION": "data movement: row copies",
    "STRIDED_SLICE": "data movement: strided copies",
    "GATHER": "data movement: row copies by index",
    "QUANTIZE": "runs once at the graph input (float32 -> int8)",
    "RELU6": "a clamp; TFLite-converted models fuse it into the producer",
}


def kernel_variant(kernels: list[str], body: str, arm: frozenset[str]) -> str:
    """Which kernel a layer runs: "cortex-m" when one of its kernels is built in its Cortex-M variant and the code
    does not call the portable loop (`..._portable`, the variant's fallback where its fast path does not apply),
    "portable" when it runs C kernels, "none" when the layer has no code (an aliased view)."""
    if not kernels:
        return "none"
    return "cortex-m" if any(k in arm for k in kernels) and "_portable(" not in body else "portable"


def _signature(g: Graph, kind: str, nodes: list[int]) -> tuple[Any, ...]:
    """What the constant arrays a step derives depend on: its kind, and per node the op, the attributes, the constant
    inputs by name and the other tensors' dtype, shape and quantization."""

    def tensor(name: str) -> Any:
        if not name:
            return None
        t = g.tensor(name)
        if t.is_const:
            return ("const", name)
        q = None if t.quant is None else (tuple(t.quant.scale), tuple(t.quant.zero_point))
        return (t.dtype, tuple(t.shape), q)

    return (kind, *((n.op, repr(sorted(n.attrs.items())), tuple(tensor(i) for i in n.inputs),
                     tuple(tensor(o) for o in n.outputs)) for n in (g.nodes[i] for i in nodes)))


def generate(g: Graph, plan: Plan, default_region: str | None = None, arm: frozenset = frozenset(),
             model_hash: str | None = None, sizes_only: bool = False) -> Generated:
    """model.c / model.h for graph `g` laid out by `plan` (a planner Plan). `default_region` names the region
    whose arena is called `efm_arena` (the board's defaults.arena); other regions get `efm_arena_<REGION>`.
    `arm`: kernels to build in their Cortex-M variant (the plan must reserve their scratch: kernel_scratch).
    `model_hash`: the hash the firmware reports (default graph_hash(g); the build passes the user's graph's hash
    when `g` is that graph after the IR passes). `sizes_only`: the constant arrays are counted but not written out
    (the cost model's count, without formatting megabytes of weights; model.c is then incomplete)."""
    if not g.nodes:
        raise EdgefmrError("the model has no nodes; nothing to generate")
    w = _ModelWriter(g, plan, default_region)
    w.options = {"arm": frozenset(arm), "lean": plan.lean_nodes}
    layer_fns: list[str] = []
    kernels: list[str] = []
    layers: list[dict[str, Any]] = []
    steps = plan.schedule.steps
    fused = FusedWriter(w, plan)
    arm_here = frozenset(k for k in arm if (ARM_KERNEL_DIR / f"{k}.c").is_file())
    for step in steps:
        step_kernels: list[str] = []
        const0 = w.const_bytes
        w.step_signature, w._step_calls = _signature(g, step.kind, step.nodes), 0
        if step.fused:
            fused.step_kernels = []
            body = {"rows": fused.rows, "attention": fused.attention, "patch_embed": fused.patch_embed}[step.kind](step)
            step_kernels = list(fused.step_kernels)
            c = call(g.nodes[step.nodes[-1]], g)
            label = f"fused {step.kind}: " + ", ".join(g.nodes[n].op for n in step.nodes)
        else:
            (i,) = step.nodes
            node = g.nodes[i]
            c = call(node, g)
            label = node.op
            if plan.is_noop(i) and not _transforms_values(c):
                body = "/* no code: the planner placed the output on its input's bytes */"
            else:
                em = get_emitter(node.op)(EmitContext(w, c, step.index, options=w.options))
                _check_aliasing(w, c, em.inplace, plan, step)
                for k in em.kernels:
                    if k not in kernels:
                        kernels.append(k)
                body = em.call
                step_kernels = list(em.kernels)
        layer_fns.append(f"/* {step.index}: {_comment(label)} ({_comment(step.name)}) */\n"
                         f"static void efm_layer_{step.index}(void) {{\n    {body}\n}}")
        out = g.tensor(step.writes[-1]) if step.writes else c.out()
        layers.append({"index": step.index, "name": step.name, "op": "+".join(g.nodes[n].op for n in step.nodes),
                       "nodes": list(step.nodes), "output": out.name, "output_bytes": out.nbytes,
                       "kernel": kernel_variant(step_kernels, body, arm_here),
                       "const_bytes": w.const_bytes - const0})
    for k in fused.kernels:
        if k not in kernels:
            kernels.append(k)
    pairs = state_pairs(g) if plan.state else []
    ins, outs = (frame_inputs(g), step_outputs(g)) if pairs else (list(g.inputs), list(g.outputs))
    stream_c, stream_h = _stream_code(w, g, pairs, ins, outs)
    for name in [*g.inputs, *g.outputs]:
        if g.tensor(name).is_const:
            raise EdgefmrError(f"graph input/output {name!r} is a constant; the firmware API needs arena tensors")
    mhash = model_hash or graph_hash(g)  # the user's graph's hash when the build compiles a transformed graph
    headers = sorted({f"{k}.h" for k in kernels})
    arena_defs = []
    for r, sym in w.arena_symbol.items():
        n = max(w.arena[r], 1)
        arena_defs.append(f'static int8_t {sym}[{n}] __attribute__((aligned(16))) EFM_ARENA_SECTION("'
                          f'.bss.efm_arena.{r}");')
    if pairs:
        arena_defs.append(f"/* Persistent state of the stream (planner region \"state\"; kept between steps). */\n"
                          f"static int8_t {STATE_SYMBOL}[{plan.state_bytes}] __attribute__((aligned(16))) "
                          f'EFM_ARENA_SECTION(".bss.{STATE_SYMBOL}");')

    def io_fn(kind: str, names: list[str], const: str) -> str:
        ptrs = ", ".join(w.tensor_ptr(g.tensor(n), "int8_t") for n in names)
        sizes = ", ".join(f"{g.tensor(n).nbytes}u" for n in names)
        return (f"{const}int8_t *efm_{kind}(int i) {{\n"
                f"    static {const}int8_t *const ptrs[] = {{{ptrs}}};\n"
                f"    return (i >= 0 && i < {len(names)}) ? ptrs[i] : 0;\n}}\n\n"
                f"uint32_t efm_{kind}_bytes(int i) {{\n"
                f"    static const uint32_t sizes[] = {{{sizes}}};\n"
                f"    return (i >= 0 && i < {len(names)}) ? sizes[i] : 0u;\n}}\n")

    n_layers = len(steps)
    layer_outputs = ", ".join(w.tensor_ptr(g.tensor(row["output"]), "int8_t") for row in layers)
    layer_sizes = ", ".join(f"{row['output_bytes']}u" for row in layers)
    names = ",\n    ".join(_c_string(row["name"]) for row in layers)
    ops = ",\n    ".join(_c_string(row["op"]) for row in layers)
    total_arena = sum(w.arena.values())
    layer_table = ", ".join(f"efm_layer_{i}" for i in range(n_layers))
    model_c = "\n".join([
        f"/* Generated by edgefmr: model {mhash}. Do not edit. */",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "#include <string.h>",
        "",
        '#include "model.h"',
        *[f'#include "{h}"' for h in headers],
        "",
        "#if defined(__ELF__)",
        "#define EFM_ARENA_SECTION(s) __attribute__((section(s)))",
        "#else",
        "#define EFM_ARENA_SECTION(s)",
        "#endif",
        "",
        "/* Activation arenas (planner layout). */",
        *arena_defs,
        "",
        f'const char efm_model_hash[65] = "{mhash}";',
        f"const uint32_t efm_arena_bytes = {total_arena}u;",
        "",
        "/* Constant data: weights, biases, requantization parameters, tables. */",
        *([] if sizes_only else [w.array_text(n, t, v) for n, t, v in w.arrays]),
        "",
        "/* Layer parameters. */",
        *w.structs,
        "",
        *layer_fns,
        "",
        "typedef void (*efm_layer_fn)(void);",
        f"static const efm_layer_fn efm_layers[{n_layers}] = {{{layer_table}}};",
        f"static const char *const efm_layer_names[{n_layers}] = {{\n    {names}}};",
        f"static const char *const efm_layer_ops[{n_layers}] = {{\n    {ops}}};",
        f"static const void *const efm_layer_outputs[{n_layers}] = {{{layer_outputs}}};",
        f"static const uint32_t efm_layer_sizes[{n_layers}] = {{{layer_sizes}}};",
        "",
        "void efm_run_layer(int layer) {",
        f"    if (layer >= 0 && layer < {n_layers}) {{",
        "        efm_layers[layer]();",
        "    }",
        "}",
        "",
        "void efm_run(void) {",
        f"    for (int l = 0; l < {n_layers}; l++) {{",
        "        efm_layers[l]();",
        "    }",
        *(["    efm_state_commit();"] if pairs else []),
        "}",
        "",
        *stream_c,
        "",
        "const char *efm_layer_name(int layer) {",
        f"    return (layer >= 0 && layer < {n_layers}) ? efm_layer_names[layer] : \"\";",
        "}",
        "",
        "const char *efm_layer_op(int layer) {",
        f"    return (layer >= 0 && layer < {n_layers}) ? efm_layer_ops[layer] : \"\";",
        "}",
        "",
        "const void *efm_layer_output(int layer) {",
        f"    return (layer >= 0 && layer < {n_layers}) ? efm_layer_outputs[layer] : 0;",
        "}",
        "",
        "uint32_t efm_layer_output_bytes(int layer) {",
        f"    return (layer >= 0 && layer < {n_layers}) ? efm_layer_sizes[layer] : 0u;",
        "}",
        "",
        io_fn("input", ins, ""),
        io_fn("output", outs, "const "),
        _output_quant_fns(g, outs),
    ])
    region_macros = [f"#define EFM_ARENA_BYTES_{_ident(r)} {n}u" for r, n in sorted(w.arena.items())]
    model_h = "\n".join([
        f"/* Generated by edgefmr: model {mhash}. Do not edit. */",
        "#ifndef EFM_MODEL_H",
        "#define EFM_MODEL_H",
        "",
        "#include <stdint.h>",
        "",
        f"#define EFM_NUM_LAYERS {n_layers}",
        f"#define EFM_NUM_INPUTS {len(ins)}",
        f"#define EFM_NUM_OUTPUTS {len(outs)}",
        *region_macros,
        "",
        "extern const char efm_model_hash[65];  /* IR graph_hash, hex */",
        "extern const uint32_t efm_arena_bytes; /* planner arena bytes, all regions */",
        "int8_t *efm_input(int i);",
        "uint32_t efm_input_bytes(int i);",
        "const int8_t *efm_output(int i);",
        "uint32_t efm_output_bytes(int i);",
        f"#define EFM_INPUT_BYTES_TOTAL {sum(g.tensor(n).nbytes for n in ins)}u /* all graph inputs */",
        "float efm_output_scale(int i);       /* output i: real = scale * (q - zero_point) */",
        "int32_t efm_output_zero_point(int i);",
        "void efm_run(void);            /* all layers */",
        "void efm_run_layer(int layer); /* one step of the plan: a node, or a fused group (tricks) */",
        "const char *efm_layer_name(int layer);",
        "const char *efm_layer_op(int layer);",
        "const void *efm_layer_output(int layer);",
        "uint32_t efm_layer_output_bytes(int layer);",
        *stream_h,
        "",
        "#endif",
        "",
    ])
    arm_files = [ARM_KERNEL_DIR / f"{k}.c" for k in kernels if k in arm and (ARM_KERNEL_DIR / f"{k}.c").is_file()]
    return Generated(files={"model.c": model_c, "model.h": model_h}, kernel_files=kernel_files(kernels),
                     arm_kernel_files=arm_files, kernels=kernels, const_bytes=w.const_bytes,
                     const_bytes_unmerged=w.const_bytes_unmerged, arena=dict(w.arena),
                     arena_symbols=dict(w.arena_symbol), layers=layers, model_hash=mhash)
