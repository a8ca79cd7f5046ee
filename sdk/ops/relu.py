"""RELU on quantized tensors: requantize from the input to the output scale, clamp at real 0 (LiteRT ReluX).

LiteRT requantizes here with gemmlowp's double rounding (not the single rounding of its other kernels), from a
multiplier computed as the float32 quotient scale_in / scale_out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.params import table_params
from edgefmr.ops.registry import OpCall, OpDef, register

DTYPES = ("int8", "uint8", "int16")


def _roundf(v: np.float32) -> int:
    """C roundf: half away from zero."""
    v = float(v)
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))


def check_relu_x(c: OpCall, act_max: float | None) -> None:
    """Type and quantization checks shared by RELU and RELU6 (LiteRT's ReluPrepare)."""
    x, y = c.inp(0), c.out()
    if x.dtype not in DTYPES:
        raise c.fail(f"dtype {x.dtype} is not supported; valid: {', '.join(DTYPES)}")
    if y.dtype != x.dtype:
        raise c.fail(f"output dtype {y.dtype} must equal input dtype {x.dtype}")
    for t in (x, y):
        if t.quant is None or t.quant.per_axis:
            raise c.fail(f"tensor {t.name!r} needs per-tensor quantization")
    if x.dtype == "int16" and (x.zero_point or y.zero_point):
        raise c.fail("int16 input and output need zero point 0")
    if act_max is not None and abs(_roundf(np.float32(act_max) / np.float32(y.scale))) >= 2**31:
        raise c.fail(f"output scale {y.scale} is too small to represent {act_max}")


def relu_x(c: OpCall, x: np.ndarray, act_max: float | None) -> np.ndarray:
    """max(lo, min(hi, zp_y + mbqm2(x − zp_x, M, s))) with lo = max(qmin, zp_y).

    hi = min(qmax, zp_y + roundf(act_max / s_y)), or qmax when act_max is None (RELU); mbqm2 is the
    double-rounding MultiplyByQuantizedMultiplier.
    """
    xt, yt = c.inp(0), c.out()
    # LiteRT divides the float32 scales in float32, then widens the quotient to double for QuantizeMultiplier.
    mult, shift = fp.quantize_multiplier(float(np.float32(xt.scale) / np.float32(yt.scale)))
    qmin, qmax = fp.QRANGE[yt.dtype]
    lo = max(qmin, yt.zero_point)  # act_min = 0: zp + roundf(0 / scale)
    if act_max is None:
        hi = qmax
    else:
        hi = min(qmax, yt.zero_point + _roundf(np.float32(act_max) / np.float32(yt.scale)))
    # LiteRT's ReluX (optimized_ops, also behind BUILTIN_REF) requantizes with gemmlowp's double rounding.
    acc = fp.multiply_by_quantized_multiplier_double(x.astype(np.int64) - xt.zero_point, mult, shift)
    acc = acc + yt.zero_point
    return np.maximum(lo, np.minimum(hi, acc)).astype(yt.dtype)  # C order: max(lo, min(hi, v))


@register
class Relu(OpDef):
    name = "RELU"
    access = "elementwise"
    in_place = True

    def check(self, c: OpCall) -> None:
        check_relu_x(c, None)

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [c.inp(0).shape]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        return [relu_x(c, xs[0], None)]


def _roundf(v: np.float32) -> int:
    v = float(v)
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))


def relu_params(c: OpCall, act_max: float | None) -> dict[str, Any]:
    """RELU / RELU6 (act_max 6): 8-bit tensors a 256-entry table made by the op's kernel (table_params); int16
    efm_relu_params with relu_x's arithmetic (float32 quotient of the scales, double rounding) and clamp range."""
    xt, yt = c.inp(0), c.out()
    if xt.dtype in ("int8", "uint8"):
        return table_params(c)
    mult, shift = fp.quantize_multiplier(float(np.float32(xt.scale) / np.float32(yt.scale)))
    qmin, qmax = fp.QRANGE[yt.dtype]
    lo = max(qmin, yt.zero_point)
    hi = qmax if act_max is None else min(qmax, yt.zero_point + _roundf(np.float32(act_max) / np.float32(yt.scale)))
    return {"n": xt.size, "input_zp": xt.zero_point, "output_zp": yt.zero_point, "mult": mult, "shift": shift,
            "lo": lo, "hi": hi}


def kernel_params(c: OpCall) -> dict[str, Any]:
    """RELU's kernel parameters (relu_params)."""
    return relu_params(c, None)
