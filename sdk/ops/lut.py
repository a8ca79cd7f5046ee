"""LUT: a pointwise int8 -> int8 function given by a constant 256-entry int8 table (GELU, SiLU, sigmoid, ...).

`make_lut(fn, in_q, out_q)` builds the table from a float function at quantization time; the kernel only indexes.
Exact definition: docs/ops/LUT.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ops.fixedpoint import QRANGE
from edgefmr.ops.registry import OpCall, OpDef, register

if TYPE_CHECKING:
    from edgefmr.ir.graph import Tensor


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round half away from zero, elementwise (float64 in, float64 out)."""
    x = np.asarray(x, np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def check_activation(c: OpCall, t: Tensor, label: str, dtypes: tuple[str, ...] = ("int8",)) -> None:
    """An activation tensor of these custom ops: dtype in `dtypes`, per-tensor quantization, positive finite scale,
    zero point inside the dtype's range; c.fail() naming `label` otherwise."""
    if t.dtype not in dtypes:
        raise c.fail(f"{label} must be {' or '.join(dtypes)}, got {t.dtype}")
    if t.quant is None or t.quant.per_axis:
        raise c.fail(f"{label} needs per-tensor quantization (one scale and zero point)")
    lo, hi = QRANGE[t.dtype]
    if not lo <= t.zero_point <= hi:
        raise c.fail(f"{label} zero point {t.zero_point} is outside [{lo}, {hi}]")
    if not (t.scale > 0 and math.isfinite(t.scale)):
        raise c.fail(f"{label} scale must be positive and finite, got {t.scale}")


def _gelu(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in np.ravel(x)]).reshape(np.shape(x))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow


#: Named float functions accepted by `make_lut` (float64 array -> float64 array).
FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "silu": lambda x: x * _sigmoid(x),
    "exp": np.exp,
    "relu": lambda x: np.maximum(x, 0.0),
    "identity": lambda x: x,
}


def make_lut(fn: str | Callable[[np.ndarray], np.ndarray], in_q: tuple[float, int],
             out_q: tuple[float, int]) -> np.ndarray:
    """The int8 table [256] of `fn` for input quantization `in_q` and output quantization `out_q` ((scale, zp)).

    T[q + 128] = clamp(round_half_away(fn(s_in * (q - zp_in)) / s_out) + zp_out, -128, 127), in float64 on the
    float32 scales. `fn` is a name from FUNCTIONS or a callable on a float64 array of the 256 input values.
    """
    if isinstance(fn, str):
        if fn not in FUNCTIONS:
            raise EdgefmrError(f"make_lut: unknown function {fn!r}; valid: {', '.join(FUNCTIONS)}")
        fn = FUNCTIONS[fn]
    (s_in, zp_in), (s_out, zp_out) = in_q, out_q
    s_in, s_out = float(np.float32(s_in)), float(np.float32(s_out))
    if not (s_in > 0 and s_out > 0 and math.isfinite(s_in) and math.isfinite(s_out)):
        raise EdgefmrError(f"make_lut: scales must be positive and finite, got {s_in} and {s_out}")
    if not (-128 <= int(zp_in) <= 127 and -128 <= int(zp_out) <= 127):
        raise EdgefmrError(f"make_lut: zero points must be in [-128, 127], got {zp_in} and {zp_out}")
    x = s_in * (np.arange(-128, 128, dtype=np.float64) - int(zp_in))
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(fn(x), np.float64)
        if v.shape != (256,):
            raise EdgefmrError(f"make_lut: the function must return 256 values for 256 inputs, got shape {v.shape}")
        if np.isnan(v).any():
            bad = float(x[np.isnan(v)][0])
            raise EdgefmrError(f"make_lut: the function is NaN at input {bad:g}")
        q = round_half_away(np.clip(v / s_out, -1e6, 1e6)) + int(zp_out)
    return np.clip(q, -128, 127).astype(np.int8)


@register
class Lut(OpDef):
    name = "LUT"
    access = "elementwise"
    in_place = True
    tflite_op = None
    n_inputs = (2, 2)
    const_inputs = (1,)

    def check(self, c: OpCall) -> None:
        x, t, y = c.inp(0), c.inp(1), c.out()
        if t.dtype != "int8" or t.shape != (256,):
            raise c.fail(f"the table (input 1) must be int8[256], got {t.dtype}{list(t.shape)}")
        check_activation(c, x, "input")
        check_activation(c, y, "output")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [c.inp(0).shape]

    def op_counts(self, c: OpCall) -> dict[str, int]:
        return {"mults": 0, "adds": 0}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, table = xs
        return [np.asarray(table, np.int8)[x.astype(np.int64) + 128]]
