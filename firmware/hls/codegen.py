"""HLS code generator: an IR graph -> `model.cpp` / `model.h`, a Vitis HLS top function with one process per layer
in a DATAFLOW region, connected by hls::stream FIFOs.

Every tensor computed at run time travels as a stream of its elements in row-major order. A tensor read by several
layers (or read and also a graph output) goes through a fan-out process; a constant read where a kernel takes a
stream (e.g. a position embedding added to activations) is streamed from a ROM by a source process; an output
nobody reads is drained. A region deadlocks only where two paths from one process reconverge and the consumer
reads one path before the other: the FIFOs out of fan-outs (and out of layers with several read outputs) hold a
whole tensor, so such a process never waits for the path read later; every other FIFO has depth 2. Weights and
every precomputed parameter are ROMs or constexpr members of the layer's configuration struct; only the kernel
headers the model uses are copied.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.firmware.hls.emitters import CPP_TYPES, Folding, HlsContext, get_emitter
from edgefmr.ir import Graph, graph_hash
from edgefmr.ops.registry import call, get_op

HLS_DIR = Path(__file__).resolve().parent
KERNEL_DIR = HLS_DIR / "kernels"
#: Headers every model includes.
BASE_KERNELS = ("efm_stream", "efm_hls")
#: FIFO depth of the streams that need no whole-tensor buffering.
SHALLOW_DEPTH = 2
_INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


@dataclass
class StreamInfo:
    """One FIFO of the dataflow region (top-level ports are not listed)."""

    name: str
    tensor: str
    ctype: str
    elements: int
    depth: int


@dataclass
class HlsModel:
    """The generated sources and what the project, the estimator and the manifest need to know about them."""

    files: dict[str, str]
    kernels: list[str]
    kernel_files: list[Path]
    top: str
    layers: list[dict[str, Any]] = field(default_factory=list)
    streams: list[StreamInfo] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    model_hash: str = ""


def node_key(node: Any) -> str:
    """How layers are named in foldings, the estimator and the manifest: the node name, else its first output."""
    return node.name or node.outputs[0]


def ident(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", s)


def cpp_int(v: int) -> str:
    v = int(v)
    if v == -(2**63):
        return "(-9223372036854775807LL - 1)"
    if v == -(2**31):
        return "(-2147483647 - 1)"
    if not -(2**31) <= v < 2**31:
        return f"{v}LL"
    return str(v)


def cpp_float(v: float, single: bool) -> str:
    """An exact C++ literal of a float32 (single) or double value."""
    v = float(np.float32(v)) if single else float(v)
    if math.isnan(v):
        return "__builtin_nanf(\"\")" if single else "__builtin_nan(\"\")"
    if math.isinf(v):
        inf = "__builtin_inff()" if single else "__builtin_inf()"
        return inf if v > 0 else f"(-{inf})"
    return v.hex() + ("f" if single else "")


def cpp_values(values: np.ndarray, ctype: str) -> list[str]:
    flat = np.asarray(values).ravel()
    if ctype == "float":
        return [cpp_float(float(x), True) for x in flat.astype(np.float32)]
    if ctype == "double":
        return [cpp_float(float(x), False) for x in flat.astype(np.float64)]
    return [cpp_int(int(x)) for x in flat.astype(np.int64)]


def _initializer(values: np.ndarray, ctype: str, per_line: int = 24) -> str:
    items = cpp_values(values, ctype)
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n    " + ",\n    ".join(lines) + "\n}"


class _Writer:
    """Collects the ROM arrays and configuration structs of one model."""

    def __init__(self, text: bool = True) -> None:
        self.text = text
        self.roms: list[str] = []
        self._rom_keys: dict[tuple, str] = {}
        self.rom_bits: dict[str, int] = {}

    def rom(self, values: np.ndarray, ctype: str) -> str:
        values = np.asarray(values)
        if values.ndim == 0:
            values = values.reshape(1)
        if values.size == 0:
            values = np.zeros((1,) * max(values.ndim, 1), values.dtype)
        key = (ctype, values.shape, np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes())
        if key in self._rom_keys:
            return self._rom_keys[key]
        name = f"efm_rom{len(self._rom_keys)}"
        self._rom_keys[key] = name
        dims = "".join(f"[{d}]" for d in values.shape)
        init = _initializer(values, ctype) if self.text else "{}"
        self.roms.append(f"static const {ctype} {name}{dims} = {init};")
        self.rom_bits[name] = int(values.size) * _CTYPE_BITS[ctype]
        return name


_CTYPE_BITS = {"int8_t": 8, "uint8_t": 8, "int16_t": 16, "int32_t": 32, "uint32_t": 32, "int64_t": 64, "float": 32,
               "double": 64}


def config_struct(name: str, cfg: dict[str, Any]) -> str:
    """`struct name { static constexpr ... }` of a layer's configuration fields."""
    lines = [f"struct {name} {{"]
    for k, v in cfg.items():
        if isinstance(v, bool | np.bool_):
            lines.append(f"    static constexpr bool {k} = {'true' if v else 'false'};")
        elif isinstance(v, int | np.integer):
            ct = "int" if -(2**31) <= int(v) < 2**31 else "long long"
            lines.append(f"    static constexpr {ct} {k} = {cpp_int(int(v))};")
        elif isinstance(v, np.float32):
            lines.append(f"    static constexpr float {k} = {cpp_float(float(v), True)};")
        elif isinstance(v, float | np.floating):
            lines.append(f"    static constexpr double {k} = {cpp_float(float(v), False)};")
        elif isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], np.ndarray):
            arr, ctype = v
            arr = arr.ravel() if arr.size else np.zeros(1, arr.dtype)
            lines.append(f"    static constexpr {ctype} {k}[{arr.size}] = {{{', '.join(cpp_values(arr, ctype))}}};")
        elif isinstance(v, list | tuple):
            items = [int(x) for x in v] or [0]
            lines.append(f"    static constexpr int {k}[{len(items)}] = {{{', '.join(cpp_int(x) for x in items)}}};")
        else:
            raise TypeError(f"configuration field {k}={v!r} of type {type(v).__name__}")
    lines.append("};")
    return "\n".join(lines)


def kernel_files(names: list[str]) -> list[Path]:
    """The headers of kernels `names` with every header they include (resolved in kernels/)."""
    out: list[Path] = []
    todo = []
    for n in [*BASE_KERNELS, *names]:
        p = KERNEL_DIR / f"{n}.h"
        if not p.is_file():
            raise EdgefmrError(f"HLS kernel {n!r} has no header {p}")
        todo.append(p)
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


def data_positions(node: Any) -> list[int]:
    """Input positions of `node` that carry data (streams), i.e. not the op's constant operands."""

    const = set(get_op(node.op).const_inputs)
    return [i for i in range(len(node.inputs)) if i not in const]


def generate(g: Graph, folding: dict[str, Folding] | None = None, top: str = "efm_top", text: bool = True
             ) -> HlsModel:
    """model.cpp / model.h of graph `g`; `folding` gives pe x simd per foldable layer (node key), 1 x 1 otherwise.
    text=False skips writing the ROM contents (the estimator needs only the dataflow structure)."""
    if not g.nodes:
        raise EdgefmrError("the model has no nodes; nothing to generate")
    folding = folding or {}
    w = _Writer(text)
    structs: list[str] = []
    layer_fns: list[str] = []
    kernels: list[str] = []
    layers: list[dict[str, Any]] = []
    consumers: dict[str, list[tuple[str, int, int]]] = {}  # tensor -> sinks ("node", node, pos) / ("out", k, 0)
    for ni, node in enumerate(g.nodes):
        for pos in data_positions(node):
            name = node.inputs[pos]
            if name:
                consumers.setdefault(name, []).append(("node", ni, pos))
    for k, name in enumerate(g.outputs):
        consumers.setdefault(name, []).append(("out", k, 0))

    streams: list[StreamInfo] = []
    decls: list[str] = []
    body: list[str] = []
    processes: list[dict[str, Any]] = []
    sink_stream: dict[tuple[str, int, int], str] = {}
    counter = [0]

    def new_stream(tensor: str, deep: bool) -> str:
        t = g.tensor(tensor)
        name = f"s{counter[0]}_{ident(tensor)[:40]}"
        counter[0] += 1
        depth = max(SHALLOW_DEPTH, t.size) if deep else SHALLOW_DEPTH
        streams.append(StreamInfo(name, tensor, CPP_TYPES[t.dtype], t.size, depth))
        decls.append(f"    hls::stream<{CPP_TYPES[t.dtype]}> {name}(\"{name}\");")
        decls.append(f"#pragma HLS STREAM variable = {name} depth = {depth}")
        return name

    # processes with more than one read output: their paths may reconverge, like a fan-out's
    multi_output = {ni for ni, node in enumerate(g.nodes) if sum(1 for o in node.outputs if consumers.get(o)) > 1}

    def route(tensor: str, source: str) -> None:
        """Connect `source` (a stream the tensor is written to) to every sink of the tensor."""
        t = g.tensor(tensor)
        ct = CPP_TYPES[t.dtype]
        sinks = consumers.get(tensor, [])
        if not sinks:
            body.append(f"    efm::drain<{ct}, {t.size}>({source});")
            processes.append({"kind": "drain", "tensor": tensor, "elements": t.size})
            return
        if len(sinks) == 1:
            s = sinks[0]
            if s[0] == "node":
                sink_stream[s] = source
            else:
                body.append(f"    efm::copy<{ct}, {t.size}>({source}, out_{s[1]});")
                processes.append({"kind": "copy", "tensor": tensor, "elements": t.size})
            return
        outs = []
        for s in sinks:
            if s[0] == "node":
                sink_stream[s] = new_stream(tensor, True)
                outs.append(sink_stream[s])
            else:
                outs.append(f"out_{s[1]}")
        fn = f"efm_fanout{len(layer_fns)}"
        params = ", ".join(f"hls::stream<{ct}> &o{i}" for i in range(len(outs)))
        writes = " ".join(f"o{i}.write(v);" for i in range(len(outs)))
        layer_fns.append(f"static void {fn}(hls::stream<{ct}> &in, {params}) {{\n"
                         f"#pragma HLS INLINE off\n"
                         f"    for (int i = 0; i < {t.size}; i++) {{\n#pragma HLS PIPELINE II = 1\n"
                         f"        const {ct} v = in.read();\n        {writes}\n    }}\n}}")
        body.append(f"    {fn}({source}, {', '.join(outs)});")
        processes.append({"kind": "fanout", "tensor": tensor, "elements": t.size, "ways": len(outs)})

    # graph inputs: the top-level ports feed their sinks directly
    for k, name in enumerate(g.inputs):
        route(name, f"in_{k}")
    for ni, node in enumerate(g.nodes):
        c = call(node, g)
        key = node_key(node)
        fold = folding.get(key, Folding())
        # constants read as data: a ROM source process per use
        for pos in data_positions(node):
            name = node.inputs[pos]
            if name and g.tensor(name).is_const:
                t = g.tensor(name)
                rom = w.rom(np.asarray(t.data).ravel(), CPP_TYPES[t.dtype])
                s = new_stream(name, False)
                body.append(f"    efm::rom_source<{CPP_TYPES[t.dtype]}, {max(t.size, 1)}>({rom}, {s});")
                processes.append({"kind": "rom_source", "tensor": name, "elements": t.size})
                sink_stream[("node", ni, pos)] = s
        in_args: dict[int, str | None] = {}
        params: list[str] = []
        args: list[str] = []
        for pos in data_positions(node):
            name = node.inputs[pos]
            if not name:
                in_args[pos] = None
                continue
            in_args[pos] = f"in{pos}"
            params.append(f"hls::stream<{CPP_TYPES[g.tensor(name).dtype]}> &in{pos}")
            args.append(sink_stream[("node", ni, pos)])
        out_args = {}
        out_sources: list[tuple[str, str]] = []
        for j, name in enumerate(node.outputs):
            out_args[j] = f"out{j}"
            params.append(f"hls::stream<{CPP_TYPES[g.tensor(name).dtype]}> &out{j}")
            sinks = consumers.get(name, [])
            if len(sinks) == 1 and sinks[0][0] == "out":
                args.append(f"out_{sinks[0][1]}")
            else:
                s = new_stream(name, len(sinks) == 1 and ni in multi_output)
                args.append(s)
                out_sources.append((name, s))
        ctx = HlsContext(w, c, ni, in_args, out_args, fold)
        em = get_emitter(node.op)(ctx)
        for k in em.kernels:
            if k not in kernels:
                kernels.append(k)
        sname = f"efm_L{ni}"
        structs.append(f"/* layer {ni}: {node.op} {_comment(key)} */\n" + config_struct(sname, ctx.cfg))
        fn = f"efm_layer{ni}"
        call_body = "\n".join("    " + ln for ln in em.call.splitlines())
        layer_fns.append(f"/* layer {ni}: {node.op} {_comment(key)} */\n"
                         f"static void {fn}({', '.join(params)}) {{\n#pragma HLS INLINE off\n"
                         f"    typedef {sname} P;\n{call_body}\n}}")
        body.append(f"    {fn}({', '.join(args)});")
        processes.append({"kind": "layer", "layer": ni, "op": node.op, "name": key})
        layers.append({"index": ni, "name": key, "op": node.op, "pe": fold.pe, "simd": fold.simd,
                       "roms": sorted({v for v in re.findall(r"efm_rom\d+", em.call)})})
        for name, s in out_sources:
            route(name, s)

    pt = io_ports(g, top)
    top_params, ifaces, mm_params, mm_ifaces, mm_body = pt.top_params, pt.ifaces, pt.mm_params, pt.mm_ifaces, pt.body
    check = [f"    efm_check_drained({s.name});" for s in streams]

    mhash = graph_hash(g)
    includes = "\n".join(f'#include "{k}.h"' for k in kernels)
    model_cpp = "\n".join([
        f"/* Generated by edgefmr: model {mhash}. Do not edit.",
        " * One process per layer in a DATAFLOW region; see docs/fpga.md. */",
        '#include "model.h"',
        "",
        includes,
        "",
        "#if !defined(__SYNTHESIS__) && !defined(EFM_VENDOR_STREAM)",
        "#include <cstdio>",
        "#include <cstdlib>",
        "/* C simulation: every FIFO must be empty after an inference (a leftover element is a design error). */",
        "template <class T>",
        "static void efm_check_drained(hls::stream<T> &s) {",
        "    if (!s.empty()) {",
        "        std::fprintf(stderr, \"stream '%s': %zu elements left after the inference\\n\", s.name(), s.size());",
        "        std::abort();",
        "    }",
        "}",
        "#endif",
        "",
        *w.roms,
        "",
        *structs,
        "",
        *layer_fns,
        "",
        f"void {top}({', '.join(top_params)}) {{",
        *ifaces,
        "#pragma HLS INTERFACE mode = ap_ctrl_chain port = return",
        "#pragma HLS DATAFLOW",
        *decls,
        *body,
        "#if !defined(__SYNTHESIS__) && !defined(EFM_VENDOR_STREAM)",
        *check,
        "#endif",
        "}",
        "",
        f"void {top}_mm({', '.join(mm_params)}) {{",
        *mm_ifaces,
        "#pragma HLS INTERFACE mode = s_axilite port = return",
        "#pragma HLS DATAFLOW",
        *mm_body,
        "}",
        "",
    ])
    model_h = model_header(g, mhash, top, pt)
    return HlsModel(files={"model.cpp": model_cpp, "model.h": model_h}, kernels=kernels,
                    kernel_files=kernel_files(kernels), top=top, layers=layers, streams=streams,
                    processes=processes, model_hash=mhash)


@dataclass
class Ports:
    """A design's stream top and AXI-master wrapper `{top}_mm`: their parameters, interface pragmas and the wrapper's
    body (inputs from memory into streams, the top, streams back to memory)."""

    top_params: list[str]
    ifaces: list[str]
    mm_params: list[str]
    mm_ifaces: list[str]
    body: list[str]
    weights: int = 0  #: bytes of a DDR weight image passed through both (the shared engine), else 0


def io_ports(g: Graph, top: str, weights: int = 0) -> Ports:
    """The Ports of a design computing `g` (`weights`: the bytes of a DDR weight image port `weights`, or 0)."""
    ins = [(k, g.tensor(n)) for k, n in enumerate(g.inputs)]
    outs = [(k, g.tensor(n)) for k, n in enumerate(g.outputs)]
    w_param = [f"const int8_t weights[{weights}]"] if weights else []
    w_iface = [f"#pragma HLS INTERFACE mode = m_axi port = weights offset = slave bundle = gmem_w depth = {weights}",
               "#pragma HLS INTERFACE mode = s_axilite port = weights"] if weights else []
    top_params = [f"hls::stream<{CPP_TYPES[t.dtype]}> &in_{k}" for k, t in ins]
    top_params += [f"hls::stream<{CPP_TYPES[t.dtype]}> &out_{k}" for k, t in outs] + w_param
    ifaces = [f"#pragma HLS INTERFACE mode = axis port = in_{k}" for k, _ in ins]
    ifaces += [f"#pragma HLS INTERFACE mode = axis port = out_{k}" for k, _ in outs] + w_iface
    mm_params = [f"const {CPP_TYPES[t.dtype]} in_{k}[{max(t.size, 1)}]" for k, t in ins]
    mm_params += [f"{CPP_TYPES[t.dtype]} out_{k}[{max(t.size, 1)}]" for k, t in outs] + w_param
    mm_ifaces = []
    for k, t in ins:
        mm_ifaces += [f"#pragma HLS INTERFACE mode = m_axi port = in_{k} offset = slave bundle = gmem{k} "
                      f"depth = {max(t.size, 1)}", f"#pragma HLS INTERFACE mode = s_axilite port = in_{k}"]
    for k, t in outs:
        mm_ifaces += [f"#pragma HLS INTERFACE mode = m_axi port = out_{k} offset = slave bundle = gmem{len(ins) + k} "
                      f"depth = {max(t.size, 1)}", f"#pragma HLS INTERFACE mode = s_axilite port = out_{k}"]
    mm_ifaces += w_iface
    body = [f"    hls::stream<{CPP_TYPES[t.dtype]}> si{k}(\"si{k}\");" for k, t in ins]
    body += [f"    hls::stream<{CPP_TYPES[t.dtype]}> so{k}(\"so{k}\");" for k, t in outs]
    body += [f"    efm::mem_to_stream<{CPP_TYPES[t.dtype]}, {t.size}>(in_{k}, si{k});" for k, t in ins]
    call_args = [f"si{k}" for k, _ in ins] + [f"so{k}" for k, _ in outs] + (["weights"] if weights else [])
    body.append(f"    {top}({', '.join(call_args)});")
    body += [f"    efm::stream_to_mem<{CPP_TYPES[t.dtype]}, {t.size}>(so{k}, out_{k});" for k, t in outs]
    return Ports(top_params, ifaces, mm_params, mm_ifaces, body, weights)


def model_header(g: Graph, mhash: str, top: str, pt: Ports) -> str:
    """model.h of a design: input/output sizes and types, the DDR weight image (if any), the two top functions."""
    io_macros = [f"#define EFM_IN{k}_SIZE {g.tensor(n).size}\ntypedef {CPP_TYPES[g.tensor(n).dtype]} efm_in{k}_t;"
                 for k, n in enumerate(g.inputs)]
    io_macros += [f"#define EFM_OUT{k}_SIZE {g.tensor(n).size}\ntypedef {CPP_TYPES[g.tensor(n).dtype]} efm_out{k}_t;"
                  for k, n in enumerate(g.outputs)]
    return "\n".join([
        f"/* Generated by edgefmr: model {mhash}. Do not edit. */",
        "#ifndef EFM_MODEL_H",
        "#define EFM_MODEL_H",
        "",
        "#include <cstdint>",
        "",
        '#include "efm_stream.h"',
        "",
        f"#define EFM_NUM_INPUTS {len(g.inputs)}",
        f"#define EFM_NUM_OUTPUTS {len(g.outputs)}",
        *io_macros,
        *([f"#define EFM_WEIGHTS_DDR 1\n/* The weight image the host places in DDR (weights port). */\n"
           f"extern const int8_t efm_weights[{pt.weights}];"] if pt.weights else []),
        "",
        "/* AXI-stream top function: one call is one inference. */",
        f"void {top}({', '.join(pt.top_params)});",
        "/* AXI-master wrapper: inputs read from and outputs written to memory. */",
        f"void {top}_mm({', '.join(pt.mm_params)});",
        "",
        "#endif",
        "",
    ])


def _comment(s: str) -> str:
    return s.replace("*/", "* /").replace("\n", " ")
