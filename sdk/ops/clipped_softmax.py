"""CLIPPED_SOFTMAX: clip((zeta - gamma) * softmax(x) + gamma, 0, 1) over the last axis (Bondarenko et al. 2023).

SOFTMAX's integer kernel (reused, not re-implemented) followed by an integer affine-and-clip with 20 fractional
bits. Exact definition: docs/ops/CLIPPED_SOFTMAX.md.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgefmr.ops.lut import check_activation
from edgefmr.ops.registry import Attr, OpCall, OpDef, register
from edgefmr.ops.softmax import OUTPUT_ZERO_POINT, SCALED_DIFF_INTEGER_BITS, softmax_int8
from edgefmr.ops.softmax import kernel_params as softmax_kernel_params

#: Fractional bits of the affine's integer coefficients.
AFFINE_FRAC_BITS = 20


def _rha(v: float) -> int:
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def affine_params(gamma: float, zeta: float, y_scale: float, y_zp: int) -> tuple[int, int, int, int]:
    """(A, B, lo, hi) of the integer affine-and-clip for output quantization (y_scale, y_zp)."""
    s_y = float(np.float32(y_scale))
    a = _rha((zeta - gamma) * (1 << AFFINE_FRAC_BITS) / (256.0 * s_y))
    b = _rha(gamma * (1 << AFFINE_FRAC_BITS) / s_y)
    return a, b, y_zp, min(127, y_zp + _rha(1.0 / s_y))


def clip_affine(p: np.ndarray, a: int, b: int, lo: int, hi: int, y_zp: int) -> np.ndarray:
    """y = clamp(((A (p + 128) + B + 2^19) >> 20) + zp_y, lo, hi) on SOFTMAX's int8 output p."""
    u = np.asarray(p, np.int64) - OUTPUT_ZERO_POINT
    v = (a * u + b + (1 << (AFFINE_FRAC_BITS - 1))) >> AFFINE_FRAC_BITS
    return np.clip(v + y_zp, lo, hi).astype(np.int8)


@register
class ClippedSoftmax(OpDef):
    name = "CLIPPED_SOFTMAX"
    access = "row"
    tflite_op = None
    attrs = {"beta": Attr(1.0), "gamma": Attr(0.0), "zeta": Attr(1.0)}

    def check(self, c: OpCall) -> None:
        x, y = c.inp(0), c.out()
        check_activation(c, x, "input")
        check_activation(c, y, "output")
        if len(x.shape) < 1:
            raise c.fail("input needs at least one dimension")
        for k in ("beta", "gamma", "zeta"):
            v = c.attrs[k]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise c.fail(f"{k} must be a finite number, got {v!r}")
        if not c.attrs["zeta"] > c.attrs["gamma"]:
            raise c.fail(f"zeta ({c.attrs['zeta']}) must be greater than gamma ({c.attrs['gamma']})")
        real = float(np.float32(c.attrs["beta"])) * x.scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS))
        if not real > 1.0:
            raise c.fail(f"beta * input scale = {real / (1 << 26):.3g} is too small: the integer softmax needs "
                         f"beta * scale * 2^26 > 1")
        a, b, _, _ = affine_params(c.attrs["gamma"], c.attrs["zeta"], y.scale, y.zero_point)
        if abs(a) * 255 + abs(b) + (1 << (AFFINE_FRAC_BITS - 1)) >= 1 << 31:
            raise c.fail(f"output scale {y.scale:g} is too small for zeta - gamma = "
                         f"{c.attrs['zeta'] - c.attrs['gamma']:g} (the affine must fit int32)")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [c.inp(0).shape]

    def macs(self, c: OpCall) -> int:
        return c.inp(0).size

    def op_counts(self, c: OpCall) -> dict[str, int]:
        size = c.inp(0).size
        rows = size // max(c.inp(0).shape[-1], 1)
        return {"mults": 2 * size, "adds": 3 * size - rows, "exps": size, "divs": rows}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        y = c.out()
        p = softmax_int8(xs[0], c.attrs["beta"], c.inp(0).scale)
        a, b, lo, hi = affine_params(c.attrs["gamma"], c.attrs["zeta"], y.scale, y.zero_point)
        return [clip_affine(p, a, b, lo, hi, y.zero_point)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """SOFTMAX's efm_softmax_params with the affine-and-clip tabulated over the 256 softmax outputs (post_table,
    uint8 bit patterns)."""
    yt = c.out()
    a, b, lo, hi = affine_params(c.attrs["gamma"], c.attrs["zeta"], yt.scale, yt.zero_point)
    post = clip_affine(np.arange(-128, 128), a, b, lo, hi, yt.zero_point)
    return {**softmax_kernel_params(c), "post_table": np.ascontiguousarray(post).view(np.uint8)}
