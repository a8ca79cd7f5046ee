"""TFLite's integer arithmetic helpers, vectorized in numpy (int64 intermediates, exact).

LiteRT 2.3's reference kernels requantize in two ways, per op: single rounding (one rounding right shift of a
64-bit product; FULLY_CONNECTED, ...) and gemmlowp's double rounding (CONV_2D, DEPTHWISE_CONV_2D, BATCH_MATMUL,
MEAN, ...). Each op's docs/ops/<OP>.md says which one it uses; both are here.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
QRANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (INT32_MIN, INT32_MAX)}


def quantize_multiplier(m: float) -> tuple[int, int]:
    """Real multiplier -> (Q31 multiplier, shift) with m ~= mult * 2^(shift - 31); TFLite's QuantizeMultiplier."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = int(_round_half_away(q * (1 << 31)))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:  # single-rounding builds saturate the shift
        return (1 << 31) - 1, 30
    return q_fixed, shift


def quantize_multipliers(ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of quantize_multiplier: (int64 multipliers, int64 shifts)."""
    pairs = [quantize_multiplier(float(m)) for m in np.asarray(ms, np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], np.int64).reshape(np.shape(ms))
    shift = np.array([p[1] for p in pairs], np.int64).reshape(np.shape(ms))
    return mult, shift


def _round_half_away(x: float) -> float:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def multiply_by_quantized_multiplier(x: np.ndarray, mult, shift) -> np.ndarray:
    """round(x * mult * 2^(shift-31)) with one rounding (half up), as LiteRT's single-rounding kernels."""
    x = np.asarray(x, np.int64)
    mult = np.asarray(mult, np.int64)
    total = 31 - np.asarray(shift, np.int64)
    rnd = np.left_shift(np.int64(1), total - 1)
    return (x * mult + rnd) >> total


def saturating_rounding_doubling_high_mul(a: np.ndarray, b) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 values (int64 arrays in and out)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    res = _trunc_div(ab + nudge, np.int64(1) << 31)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, res)


def rounding_divide_by_pot(x: np.ndarray, exponent) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier_double(x: np.ndarray, mult, shift) -> np.ndarray:
    """TFLite's double-rounding MultiplyByQuantizedMultiplier (gemmlowp), used where LiteRT still uses it."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    scaled = wrap32(np.asarray(x, np.int64) << left)  # the C code shifts in int32
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scaled, mult), right)


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to the int32 range (what int32 C arithmetic does)."""
    return ((np.asarray(x, np.int64) + 2**31) & 0xFFFFFFFF) - 2**31


def _trunc_div(a: np.ndarray, b) -> np.ndarray:
    """Integer division rounding toward zero (C semantics)."""
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (np.asarray(b) < 0), -q, q)


def activation_range(activation: str, scale: float, zero_point: int, dtype: str) -> tuple[int, int]:
    """Clamp bounds of a fused activation on a quantized output (TFLite's CalculateActivationRangeQuantized)."""
    qmin, qmax = QRANGE[dtype]

    def q(v: float) -> int:  # TFLite divides in float32
        return zero_point + int(_round_half_away(float(np.float32(v) / np.float32(scale))))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, q(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"unsupported fused activation {activation!r}")


FUSED_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def saturate(x: np.ndarray, dtype: str) -> np.ndarray:
    """Clamp to the dtype's range and cast."""
    lo, hi = QRANGE[dtype]
    return np.clip(x, lo, hi).astype(dtype)
