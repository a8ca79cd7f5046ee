"""Per-op HLS emitters, registered by IR op name (one module per op, discovered like `edgefmr.ops`).

An emitter receives an `HlsContext` (the node's OpCall, the names of its streams, helpers that place ROM arrays
and fill the layer's configuration struct) and returns an `HlsEmitted`: the kernel header it needs and the C++
statement of the layer. Quantization parameters are not computed here: `HlsContext.captured()` runs the op's C
emitter (edgefmr.firmware.c.emitters) on a recording context and hands back the parameter struct fields and
arrays it computed with edgefmr.ops, so both backends use the same numbers by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.firmware.c import emitters as c_emitters
from edgefmr.ops.discovery import import_submodules
from edgefmr.ops.registry import OpCall

#: C++ element type of each IR dtype (bool tensors travel as bytes).
CPP_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
             "float32": "float", "bool": "uint8_t"}


@dataclass
class HlsEmitted:
    """What one layer contributes to model.cpp: `call` is the body of its layer function, where `P` names the
    layer's configuration struct and the streams are the function's parameters (HlsContext.inp / out)."""

    kernels: tuple[str, ...]
    call: str


@dataclass
class Captured:
    """What the op's C emitter computed: its parameter struct (fields by name; arrays as ("array", values,
    ctype)), the arrays it placed in order, and its C call text."""

    struct: str | None
    fields: dict[str, Any]
    arrays: list[tuple[np.ndarray, str]]
    call: str

    def value(self, key: str) -> Any:
        """A field, with array references resolved to their numpy values."""
        v = self.fields[key]
        if isinstance(v, tuple) and v and v[0] == "array":
            return v[1]
        return v


class _Recorder:
    """Stands in for the C model writer: records parameter structs and arrays instead of writing C."""

    def __init__(self) -> None:
        self.arrays: list[tuple[np.ndarray, str]] = []
        self.structs: list[tuple[str, dict[str, Any]]] = []

    def tensor_ptr(self, t: Any, ctype: str) -> str:
        return f"@tensor:{t.name}"

    def const_array(self, values: np.ndarray, ctype: str) -> str:
        self.arrays.append((np.asarray(values), ctype))
        return f"@array:{len(self.arrays) - 1}"

    def pointer_array(self, exprs: list[str], ctype: str) -> str:
        return "@pointers"

    def kernel_scratch(self, step: int, node: Any, ctype: str) -> str:
        return "@scratch"

    def param_struct(self, layer: int, ctype: str, fields: dict[str, Any]) -> str:
        self.structs.append((ctype, dict(fields)))
        return f"@struct:{len(self.structs) - 1}"


def capture(c: OpCall) -> Captured:
    """Run the C emitter of node `c` on a recording context (portable kernels, no fused-step options)."""

    rec = _Recorder()
    em = c_emitters.get_emitter(c.node.op)(c_emitters.EmitContext(rec, c, 0, None, {}))
    struct, fields = (rec.structs[-1] if rec.structs else (None, {}))

    def resolve(v: Any) -> Any:
        if isinstance(v, str) and v.startswith("@array:"):
            values, ctype = rec.arrays[int(v[7:])]
            return ("array", values, ctype)
        return v

    return Captured(struct, {k: resolve(v) for k, v in fields.items()}, list(rec.arrays), em.call)


@dataclass
class Folding:
    """Parallelism of one layer: pe processing elements x simd lanes (1 x 1 for layers without a MAC array)."""

    pe: int = 1
    simd: int = 1


@dataclass
class HlsContext:
    """Helpers for one node. `inputs` / `outputs` map input / output positions to the layer function's stream
    parameter names (None for an absent optional input or a constant operand)."""

    owner: Any
    c: OpCall
    layer: int
    inputs: dict[int, str | None]
    outputs: dict[int, str]
    folding: Folding = field(default_factory=Folding)
    cfg: dict[str, Any] = field(default_factory=dict)
    _captured: Captured | None = None

    def captured(self) -> Captured:
        if self._captured is None:
            self._captured = capture(self.c)
        return self._captured

    def inp(self, i: int) -> str | None:
        """Stream name of data input i (None when the input is absent)."""
        return self.inputs.get(i)

    def out(self, j: int = 0) -> str:
        return self.outputs[j]

    def rom(self, values: np.ndarray, ctype: str) -> str:
        """Name of a namespace-scope `static const ctype name[..]...` ROM with `values` (its shape kept)."""
        return self.owner.rom(np.asarray(values), ctype)

    def const(self, i: int, shape: tuple[int, ...] | None = None, ctype: str | None = None) -> str:
        """ROM of constant input i (reshaped to `shape`); a zero ROM of `shape` when the input is absent."""
        t = self.c.inp(i)
        if t is None:
            if shape is None or ctype is None:
                raise self.fail(f"input {i} is absent")
            return self.rom(np.zeros(shape, np.int64), ctype)
        data = np.asarray(t.data)
        return self.rom(data.reshape(shape) if shape is not None else data, ctype or CPP_TYPES[t.dtype])

    def set(self, **fields: Any) -> None:
        """Fields of the layer's configuration struct: int, bool, np.float32 / float, list of ints, or a
        (numpy array, ctype) pair for a constexpr array."""
        self.cfg.update(fields)

    def take(self, *keys: str) -> None:
        """Copy fields of the captured C parameter struct into the configuration struct (arrays included)."""
        cap = self.captured()
        for k in keys:
            v = cap.fields[k]
            if isinstance(v, tuple) and v and v[0] == "array":
                self.cfg[k] = (v[1], v[2])
            else:
                self.cfg[k] = v

    def ctype(self, t: Any) -> str:
        return CPP_TYPES[t.dtype]

    def fail(self, msg: str) -> EdgefmrError:
        return EdgefmrError(f"{self.c.where}: HLS backend: {msg}")


def acc_bits(terms: int, max_abs_term: int) -> int:
    """Bits of a signed accumulator that holds any sum of `terms` values of magnitude <= max_abs_term."""
    return min(64, int(max(1, terms) * max_abs_term).bit_length() + 1)


@dataclass(frozen=True)
class MacArray:
    """The matrix-vector work of a foldable layer: `vectors` input vectors, each multiplied by a `cols` x `depth`
    matrix (pe divides cols, simd divides depth); `kind` is mac (int8 x int8 multiplies), add (selects and adds:
    spikes, binary weights) or mac32 (32-bit operands: the LMU state update, simd fixed at 1)."""

    vectors: int
    cols: int
    depth: int
    kind: str = "mac"


EmitFn = Callable[[HlsContext], HlsEmitted]
DimsFn = Callable[[OpCall], MacArray]
_EMITTERS: dict[str, EmitFn] = {}
#: Ops whose layers have a pe x simd array, and the function giving its dimensions.
FOLDABLE: dict[str, DimsFn] = {}


def hls_emitter(op: str, dims: DimsFn | None = None) -> Callable[[EmitFn], EmitFn]:
    """Decorator registering the HLS emitter of IR op `op`; `dims` (foldable ops) gives its MAC array."""

    def deco(fn: EmitFn) -> EmitFn:
        if op in _EMITTERS:
            raise RuntimeError(f"HLS emitter for {op} registered twice")
        _EMITTERS[op] = fn
        if dims is not None:
            FOLDABLE[op] = dims
        return fn

    return deco


def mac_array(c: OpCall) -> MacArray | None:
    """The MAC array of node `c`, or None for a layer without one."""
    all_emitters()
    fn = FOLDABLE.get(c.node.op)
    return fn(c) if fn is not None else None


def _load_all() -> None:
    import_submodules("edgefmr.firmware.hls.emitters")


def all_emitters() -> dict[str, EmitFn]:
    _load_all()
    return dict(_EMITTERS)


def get_emitter(op: str) -> EmitFn:
    """The HLS emitter of `op`; EdgefmrError listing the supported ops otherwise."""
    table = all_emitters()
    if op not in table:
        raise EdgefmrError(f"the HLS backend has no kernel for op {op}; supported: {', '.join(sorted(table))}")
    return table[op]
