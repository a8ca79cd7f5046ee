"""Shared pieces of the int8 elementwise ops: broadcasting, type checks, requantization, 256-entry tables.

Binary ops (ADD, SUB, MUL, SQUARED_DIFFERENCE) broadcast like numpy and TFLite's CalculateShapeForBroadcast:
shapes are aligned on the right, each dimension pair must be equal or contain a 1.

Requantization: LiteRT 2.3's reference kernels of these ops requantize with gemmlowp's double rounding
(`fixedpoint.multiply_by_quantized_multiplier_double`: a rounding doubling high multiply, then a rounding right
shift), checked exhaustively over all int8 input pairs; single rounding differs by 1 LSB on some inputs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.gemmlowp import wrap32
from edgefmr.ops.params import act_range, broadcast_strides, merge_axes
from edgefmr.ops.registry import OpCall, OpDef

#: Highest rank the IR broadcasts (TFLite's kMaxBroadcastDim; inputs of equal shape may have any rank).
MAX_BROADCAST_RANK = 6


def mbqm(x: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier as these LiteRT kernels compute it (double rounding, see the module docstring)."""
    return fp.multiply_by_quantized_multiplier_double(x, mult, shift)


def broadcast_shape(c: OpCall, a: tuple[int, ...], b: tuple[int, ...], max_rank: int) -> tuple[int, ...]:
    """The broadcast output shape of `a` and `b`; c.fail() when they don't broadcast or exceed `max_rank`."""
    if tuple(a) != tuple(b) and max(len(a), len(b)) > max_rank:
        raise c.fail(f"broadcasting supports up to {max_rank} dimensions, got {list(a)} and {list(b)}")
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da != db and 1 not in (da, db):
            raise c.fail(f"input shapes {list(a)} and {list(b)} do not broadcast (dimension -{i}: {da} vs {db})")
        out.append(db if da == 1 else da)
    return tuple(reversed(out))


def check_int8_tensors(c: OpCall) -> None:
    """Inputs and the output must be int8 with per-tensor quantization, positive scales, zero points in int8."""
    tensors = [c.inp(i) for i in range(len(c.node.inputs))] + [c.out()]
    labels = [f"input {i}" for i in range(len(c.node.inputs))] + ["output"]
    for t, label in zip(tensors, labels, strict=True):
        if t.dtype != "int8":
            raise c.fail(f"{label} must be int8 (the only dtype supported for {c.node.op}), got {t.dtype}")
        if t.quant is None or t.quant.per_axis:
            raise c.fail(f"{label} needs per-tensor quantization (one scale and zero point)")
        if not -128 <= t.zero_point <= 127:
            raise c.fail(f"{label} zero point {t.zero_point} is outside [-128, 127]")
        if not t.scale > 0:
            raise c.fail(f"{label} scale must be positive, got {t.scale}")


def centered_inputs(c: OpCall, xs: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs minus their zero points, as int64 arrays broadcast to the output shape."""
    shape = c.out().shape
    a = xs[0].astype(np.int64) - c.inp(0).zero_point
    b = xs[1].astype(np.int64) - c.inp(1).zero_point
    return np.broadcast_to(a, shape), np.broadcast_to(b, shape)


def finish_int8(c: OpCall, acc: np.ndarray) -> list[np.ndarray]:
    """int32 result (wrapped like C) + output zero point, clamped to the fused activation range, as int8."""
    y = c.out()
    lo, hi = fp.activation_range(c.attrs.get("activation", "NONE"), y.scale, y.zero_point, "int8")
    return [np.clip(wrap32(wrap32(acc) + y.zero_point), lo, hi).astype(np.int8)]


class BinaryInt8Op(OpDef):
    """Base of the int8 binary elementwise ops: two inputs, broadcast output, int8 type checks."""

    n_inputs = (2, 2)
    access = "elementwise"
    in_place = True
    max_rank: ClassVar[int] = MAX_BROADCAST_RANK

    def check(self, c: OpCall) -> None:
        check_int8_tensors(c)

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [broadcast_shape(c, c.inp(0).shape, c.inp(1).shape, self.max_rank)]


# ADD / SUB / SQUARED_DIFFERENCE: both inputs are brought to the common scale 2 * max(s1, s2) with `left_shift`
# bits of headroom before they are combined.

def smaller_than_one(c: OpCall, m: float, what: str) -> tuple[int, int]:
    """TFLite's QuantizeMultiplierSmallerThanOneExp, which aborts unless 0 <= m < 1 and the shift is <= 0."""
    mult, shift = fp.quantize_multiplier(m)
    if not 0.0 <= m < 1.0 or shift > 0:
        raise c.fail(f"{what} multiplier {m:.6g} must be below 1 (the output scale is too small for the input "
                     f"scales; TFLite rejects it)")
    return mult, shift


def rescale_inputs(c: OpCall, xs: list[np.ndarray | None], left_shift: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(a, b, twice_max): a = mbqm((x1 - zp1) << left_shift, M1, e1) with M1 * 2^e1 ~= s1 / twice_max, b likewise."""
    s1, s2 = c.inp(0).scale, c.inp(1).scale
    twice_max = 2.0 * max(s1, s2)
    a, b = centered_inputs(c, xs)
    a = mbqm(a << left_shift, *smaller_than_one(c, s1 / twice_max, "input rescale"))
    b = mbqm(b << left_shift, *smaller_than_one(c, s2 / twice_max, "input rescale"))
    return a, b, twice_max


# Unary int8 ops evaluated through a 256-entry table.

class UnaryInt8LutOp(OpDef):
    """Base of the int8 -> int8 unary ops whose kernel is (or is equivalent to) a table indexed by the input."""

    access = "elementwise"
    in_place = True
    #: Required (scale, zero point) of the output, or None when any quantization is accepted.
    output_quant: ClassVar[tuple[float, int] | None] = None

    def check(self, c: OpCall) -> None:
        check_int8_tensors(c)
        y = c.out()
        if self.output_quant is not None and (y.scale, y.zero_point) != self.output_quant:
            s, z = self.output_quant
            raise c.fail(f"output must have scale {s:g} and zero point {z}, got scale {y.scale:g} and zero point "
                         f"{y.zero_point}")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [c.inp(0).shape]

    def table(self, c: OpCall) -> np.ndarray:
        """The 256 int8 outputs for inputs -128..127 (index = input + 128)."""
        raise NotImplementedError

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        return [self.table(c)[xs[0].astype(np.int64) + 128]]


# Tables built with float32 math, as TFLite's LUTPopulate<int8_t> (LOGISTIC, TANH). LiteRT calls the C library's
# expf / tanhf, which are not always correctly rounded; the same functions are called here through ctypes.

def _libm() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("m")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if lib is not None:
        for fn in ("expf", "tanhf"):
            getattr(lib, fn).restype = ctypes.c_float
            getattr(lib, fn).argtypes = [ctypes.c_float]
    return lib


_LIBM = _libm()


def expf(x: float) -> np.float32:
    """The C library's float exp; the correctly rounded exp when no C library is found."""
    if _LIBM is not None:
        return np.float32(_LIBM.expf(float(x)))
    with np.errstate(over="ignore"):
        return np.float32(math.exp(min(float(x), 700.0)))


def tanhf(x: float) -> np.float32:
    """The C library's float tanh; the correctly rounded tanh when no C library is found."""
    if _LIBM is not None:
        return np.float32(_LIBM.tanhf(float(x)))
    return np.float32(math.tanh(float(x)))


def roundf(x: np.float32) -> float:
    """C roundf: round half away from zero (exact for float32 inputs, computed in double)."""
    v = float(x)
    return math.copysign(math.floor(abs(v) + 0.5), v)


def lut_int8(in_scale: float, in_zp: int, out_scale: float, out_zp: int,
             f: Callable[[np.float32], np.float32]) -> np.ndarray:
    """TFLite's LUTPopulate<int8_t>: table[q + 128] = clamp(int(roundf(f(s_in * (q - zp_in)) * (1/s_out)) + zp_out)).

    All arithmetic is float32 like the C++ kernel: the dequantized input, the transform, the reciprocal output
    scale, the product and the sum with the zero point are each rounded to float32; int() truncates.
    """
    s_in = np.float32(in_scale)
    inv_out = np.float32(1.0) / np.float32(out_scale)
    table = np.empty(256, np.int8)
    for q in range(-128, 128):
        x = np.float32(s_in * np.float32(q - in_zp))
        y = np.float32(f(x) * inv_out)
        quantized = np.float32(np.float32(roundf(y)) + np.float32(out_zp))
        v = int(quantized) if math.isfinite(float(quantized)) else (127 if quantized > 0 else -128)
        table[q + 128] = min(127, max(-128, v))
    return table


#: Highest number of (merged) broadcast axes of the binary kernels (kernels/binary.h).
MAX_KERNEL_DIMS = 6


def binary_params(c: OpCall, left_shift: int, out_mult: tuple[int, int], rescale: bool = True) -> dict[str, Any]:
    """Kernel parameters of the int8 broadcasting binary ops (efm_binary_params): the broadcast layout (merged
    axes, per-input element strides, 0 on repeats), zero points, the input rescale multipliers (s_i / 2 max(s_a,
    s_b), when `rescale`), the output multiplier `out_mult` and the activation range."""
    at, bt, yt = c.inp(0), c.inp(1), c.out()
    shape = tuple(yt.shape)
    counts, (sa, sb) = merge_axes(list(shape), broadcast_strides(at.shape, shape), broadcast_strides(bt.shape, shape))
    if len(counts) > MAX_KERNEL_DIMS:
        raise c.fail(f"the broadcast needs {len(counts)} axes; the kernel handles {MAX_KERNEL_DIMS}")
    if not counts:
        counts, sa, sb = [1], [0], [0]
    if rescale:
        twice_max = 2.0 * max(at.scale, bt.scale)
        am, ash = smaller_than_one(c, at.scale / twice_max, "input rescale")
        bm, bsh = smaller_than_one(c, bt.scale / twice_max, "input rescale")
    else:
        am = ash = bm = bsh = 0
    lo, hi = act_range(c.attrs.get("activation", "NONE"), yt)
    return {"ndim": len(counts), "count": counts, "stride_a": sa, "stride_b": sb, "a_zp": at.zero_point,
            "b_zp": bt.zero_point, "output_zp": yt.zero_point, "left_shift": left_shift, "a_mult": am,
            "a_shift": ash, "b_mult": bm, "b_shift": bsh, "out_mult": out_mult[0], "out_shift": out_mult[1],
            "act_min": lo, "act_max": hi}
