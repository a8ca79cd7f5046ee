"""Per-op HLS emitters, registered by IR op name (one module per op, discovered like `edgefmr.ops`).

An emitter receives an `HlsContext` (the node's OpCall, the names of its streams, helpers that place ROM arrays
and fill the layer's configuration struct) and returns an `HlsEmitted`: the kernel header it needs and the C++
statement of the layer. Quantization parameters are not computed here: `HlsContext.params()` is the op's
`kernel_params` (edgefmr.ops.<op>, see edgefmr.ops.params), the very numbers the C backend uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ops.discovery import import_submodules
from edgefmr.ops.params import kernel_params
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
    _params: dict[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        """The node's kernel parameters (edgefmr.ops.params.kernel_params), computed once."""
        if self._params is None:
            self._params = kernel_params(self.c)
        return self._params

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
        """Copy kernel parameters into the configuration struct (arrays as constexpr arrays of their C type)."""
        p = self.params()
        for k in keys:
            v = p[k]
            self.cfg[k] = (v, array_ctype(v)) if isinstance(v, np.ndarray) else v

    def ctype(self, t: Any) -> str:
        return CPP_TYPES[t.dtype]

    def fail(self, msg: str) -> EdgefmrError:
        return EdgefmrError(f"{self.c.where}: HLS backend: {msg}")


def array_ctype(values: np.ndarray) -> str:
    """C++ element type of a kernel-parameter array (int32 multipliers, uint8 / uint32 tables, float32 scales)."""
    return CPP_TYPES[str(values.dtype)] if values.dtype != np.uint32 else "uint32_t"


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
