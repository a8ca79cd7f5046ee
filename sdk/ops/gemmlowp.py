"""gemmlowp's fixed-point transcendental functions, as TFLite's integer kernels use them (softmax, rsqrt).

Values are raw int32 fixed-point numbers held in int64 numpy arrays. A `FixedPoint<int32, I>` value has I
integer bits and 31 - I fractional bits: raw r stands for r / 2^(31 - I). The product of an I-bit and a J-bit
value is an (I + J)-bit value whose raw is `srdhm(a, b)`.
"""

from __future__ import annotations

import numpy as np

from edgefmr.ops.fixedpoint import INT32_MAX, INT32_MIN, rounding_divide_by_pot, wrap32
from edgefmr.ops.fixedpoint import saturating_rounding_doubling_high_mul as srdhm


def count_leading_zeros32(x: np.ndarray) -> np.ndarray:
    """Leading zero bits of x seen as uint32 (32 for 0)."""
    u = np.asarray(x, np.int64) & 0xFFFFFFFF
    bits = np.frexp(u.astype(np.float64))[1]  # exact: u < 2^53
    return np.where(u == 0, 32, 32 - bits).astype(np.int64)


def sat_rounding_mul_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT: x * 2^exponent, saturating for exponent > 0, rounding half away below."""
    x = np.asarray(x, np.int64)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def rescale(x: np.ndarray, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp::Rescale: change the number of integer bits (saturating / rounding)."""
    return sat_rounding_mul_by_pot(x, src_integer_bits - dst_integer_bits)


def rounding_half_sum(a: np.ndarray, b) -> np.ndarray:
    """gemmlowp::RoundingHalfSum on int32: (a + b + sign) / 2, truncating division."""
    s = np.asarray(a, np.int64) + np.asarray(b, np.int64)
    t = s + np.where(s >= 0, 1, -1)
    q = np.abs(t) // 2
    return np.where(t < 0, -q, q)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0) (Q0.31 in and out): Taylor series around -1/8."""
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883
    x = np.asarray(a, np.int64) + (1 << 28)  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = sat_rounding_mul_by_pot(x4, -2)
    poly = sat_rounding_mul_by_pot(srdhm(x4_over_4 + x3, constant_1_over_3) + x2, -1)
    return constant_term + srdhm(constant_term, x + poly)


#: exp(-2^e) in Q0.31 for the barrel shifter of exp_on_negative_values, e = -2..4.
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
               (4, 242))


def exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 given with `integer_bits` integer bits; the result is Q0.31 (gemmlowp's algorithm)."""
    a = np.asarray(a, np.int64)
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = a_mod_quarter_minus_one_quarter - a
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = (remainder & (1 << (frac_bits + exponent))) != 0
            result = np.where(bit, srdhm(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (frac_bits + 5)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1) (Q0.31 in and out): Newton-Raphson division, three iterations."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = 1515870810 + srdhm(half_denominator, -1010580540)  # 48/17 - 32/17 * d, Q2.29
    for _ in range(3):
        one_minus_half_denominator_times_x = (1 << 29) - srdhm(half_denominator, x)
        x = x + rescale(srdhm(x, one_minus_half_denominator_times_x), 4, 2)
    return rescale(x, 1, 0)  # x / 2 read as Q1.30, then to Q0.31


def get_reciprocal(x: np.ndarray, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetReciprocal: (1/x as Q0.31 of the normalized x, num_bits_over_unit) for x > 0."""
    x = np.asarray(x, np.int64)
    headroom_plus_one = count_leading_zeros32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_minus_one = wrap32(((x & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one), num_bits_over_unit


def inv_sqrt_quantized_multiplier_exp(value: int, reverse_shift: int) -> tuple[int, int]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp: 1/sqrt(value) as (Q0.31 multiplier, shift), Newton-Raphson."""
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    left_shift_bit_pairs = (int(count_leading_zeros32(np.int64(value))) - 1) // 2 - 1
    shift -= left_shift_bit_pairs
    value <<= 2 * left_shift_bit_pairs
    fp_input = np.int64(value >> 1)  # Q3.28
    half_input = sat_rounding_mul_by_pot(fp_input, -1)
    half_three = (1 << 28) + (1 << 27)
    x = np.int64(1 << 28)  # 1.0 in Q3.28
    for _ in range(5):
        x3 = rescale(srdhm(srdhm(x, x), x), 9, 3)
        x = rescale(wrap32(srdhm(half_three, x) - srdhm(half_input, x3)), 6, 3)
    out = int(srdhm(x, 1518500250))  # * sqrt(2)/2
    if shift < 0:
        out <<= -shift
        shift = 0
    return out, shift * reverse_shift
