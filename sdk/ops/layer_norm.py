"""LAYER_NORM: integer-only LayerNorm over the last axis (integer statistics, exact integer square root,
fixed-point reciprocal), then per-channel gamma/beta and requantization to int8. Exact definition:
docs/ops/LAYER_NORM.md.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.lut import check_activation, round_half_away
from edgefmr.ops.params import int32_array, per_channel
from edgefmr.ops.registry import Attr, OpCall, OpDef, register

#: Fractional bits of the normalized value n = 2^F (x - mean) / std.
NORM_FRAC_BITS = 16
MAX_CHANNELS = 16384
MAX_EPS_INT = 1 << 61
MAX_BETA = 1 << 29


def isqrt(n: np.ndarray) -> np.ndarray:
    """floor(sqrt(n)) of int64 values 0 <= n < 2^63, exact: the bit-by-bit method, 32 fixed steps."""
    n = np.array(n, dtype=np.int64, copy=True)
    res = np.zeros_like(n)
    bit = np.int64(1) << np.int64(62)
    for _ in range(32):
        cand = res + bit
        ge = n >= cand
        n = np.where(ge, n - cand, n)
        res = np.where(ge, (res >> 1) + bit, res >> 1)
        bit >>= np.int64(2)
    return res


def bit_length(n: np.ndarray) -> np.ndarray:
    """Bits needed for int64 values n >= 0 (0 for 0), i.e. 64 - clz64(n)."""
    n = np.array(n, dtype=np.int64, copy=True)
    out = np.zeros_like(n)
    for s in (32, 16, 8, 4, 2, 1):
        big = (n >> s) != 0
        out += np.where(big, s, 0)
        n = np.where(big, n >> s, n)
    return out + (n != 0)


def eps_int(epsilon: float, channels: int, x_scale: float) -> int:
    """E = round_half_away(epsilon * C^2 / s_x^2): epsilon in the units of C * S2 - S1^2."""
    return int(round_half_away(float(epsilon) * channels * channels / (float(x_scale) ** 2)))


def normalize(x: np.ndarray, e: int) -> np.ndarray:
    """n = 2^16 (x - mean) / sqrt(var + eps) over the last axis of raw int8 `x`, as int64 (see the docs)."""
    x = np.asarray(x, np.int64)
    c = x.shape[-1]
    s1 = x.sum(axis=-1, keepdims=True)
    s2 = (x * x).sum(axis=-1, keepdims=True)
    q = c * s2 - s1 * s1 + e
    k = (62 - bit_length(q)) // 2
    r = isqrt(np.where(q > 0, q << (2 * k), 0))
    recip = np.where(q > 0, (np.int64(1) << 60) // np.maximum(r, 1), 0)
    t = 60 - NORM_FRAC_BITS - k
    d = c * x - s1
    return (d * recip + (np.int64(1) << (t - 1))) >> t


def quantize_affine(gamma: np.ndarray, beta: np.ndarray | None, y_scale: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gamma_q int8 [C], gamma scales float32 [C], beta_q int32 [C]) for a float LayerNorm's weight and bias.

    gamma is per-channel symmetric with scale |gamma_c| / 127 (a zero gamma_c takes the largest scale);
    beta_q = round_half_away(beta / s_y), saturated to |beta_q| < 2^29.
    """
    gamma = np.asarray(gamma, np.float64)
    mag = np.abs(gamma) / 127.0
    fill = mag.max() if mag.size and mag.max() > 0 else 1.0
    scales = np.where(mag > 0, mag, fill).astype(np.float32)
    gamma_q = np.clip(round_half_away(gamma / scales.astype(np.float64)), -127, 127).astype(np.int8)
    b = np.zeros_like(gamma) if beta is None else np.asarray(beta, np.float64)
    beta_q = np.clip(round_half_away(b / float(np.float32(y_scale))), -(MAX_BETA - 1), MAX_BETA - 1)
    return gamma_q, scales, beta_q.astype(np.int32)


@register
class LayerNorm(OpDef):
    name = "LAYER_NORM"
    access = "row"
    tflite_op = None
    n_inputs = (2, 3)
    const_inputs = (1, 2)
    attrs = {"epsilon": Attr(1e-5)}

    def params(self, c: OpCall) -> tuple[int, np.ndarray, np.ndarray]:
        """(E, M [C], e [C]): the integer parameters derived from the scales and epsilon."""
        x, g, y = c.inp(0), c.inp(1), c.out()
        ch = x.shape[-1]
        gs = np.broadcast_to(np.asarray(g.quant.scale, np.float64), (ch,))
        mult, shift = fp.quantize_multipliers(gs * 2.0**-NORM_FRAC_BITS / y.scale)
        return eps_int(c.attrs["epsilon"], ch, x.scale), mult, shift

    def check(self, c: OpCall) -> None:
        x, g, b, y = c.inp(0), c.inp(1), c.inp(2), c.out()
        check_activation(c, x, "input")
        check_activation(c, y, "output")
        if not x.shape or not 1 <= x.shape[-1] <= MAX_CHANNELS:
            raise c.fail(f"the last axis (channels) must have 1..{MAX_CHANNELS} elements, got shape {list(x.shape)}")
        ch = x.shape[-1]
        if g.dtype != "int8" or g.shape != (ch,):
            raise c.fail(f"gamma (input 1) must be int8[{ch}], got {g.dtype}{list(g.shape)}")
        if g.quant is None or any(z != 0 for z in g.quant.zero_point):
            raise c.fail("gamma must be quantized symmetrically (zero point 0)")
        if len(g.quant.scale) not in (1, ch) or min(g.quant.scale) <= 0:
            raise c.fail(f"gamma needs one positive scale or one per channel ({ch})")
        if b is not None:
            if b.dtype != "int32" or b.shape != (ch,):
                raise c.fail(f"beta (input 2) must be int32[{ch}], got {b.dtype}{list(b.shape)}")
            if b.quant is not None and (b.quant.per_axis or b.scale != y.scale or b.zero_point != 0):
                raise c.fail("beta is in output LSBs: its quantization must be the output scale with zero point 0")
            if np.abs(b.data.astype(np.int64)).max(initial=0) >= MAX_BETA:
                raise c.fail(f"beta values must be below 2^29 in magnitude, got {np.abs(b.data).max()}")
        eps = c.attrs["epsilon"]
        if not isinstance(eps, int | float) or not (math.isfinite(eps) and eps >= 0):
            raise c.fail(f"epsilon must be a finite number >= 0, got {eps!r}")
        e, _, shift = self.params(c)
        if e >= MAX_EPS_INT:
            raise c.fail(f"epsilon {eps:g} is too large for input scale {x.scale:g} (epsilon * C^2 / s_x^2 must be "
                         f"below 2^61)")
        if shift.max() > 0:
            raise c.fail("gamma scale / output scale must be below 2^16 (the requantization multiplier must be < 1)")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [c.inp(0).shape]

    def macs(self, c: OpCall) -> int:
        return 4 * c.inp(0).size

    def op_counts(self, c: OpCall) -> dict[str, int]:
        n, ch = c.inp(0).size, max(c.inp(0).shape[-1], 1)
        rows = n // ch
        return {"mults": 4 * n + 2 * rows, "adds": 4 * n, "divs": rows, "sqrts": rows, "requant": n}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, gamma, beta = (*xs, None)[:3]
        e, mult, shift = self.params(c)
        n = normalize(x, e)
        acc = gamma.astype(np.int64) * n
        y = fp.multiply_by_quantized_multiplier(acc, mult, shift) + c.out().zero_point
        if beta is not None:
            y = y + beta.astype(np.int64)
        return [np.clip(y, -128, 127).astype(np.int8)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_layer_norm_params: rows, channels, the integer epsilon and per-channel multipliers (LayerNorm.params)."""
    xt, yt = c.inp(0), c.out()
    ch = xt.shape[-1]
    e, mult, shift = c.opdef.params(c)
    return {"rows": xt.size // ch, "channels": ch, "eps": int(e), "output_zp": yt.zero_point,
            "mult": int32_array(per_channel(mult, ch)), "shift": int32_array(per_channel(shift, ch))}
