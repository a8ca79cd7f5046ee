"""QUANTIZE: float32 -> int8/uint8/int16 (affine), or integer requantization to another scale/zero point/type.

Both as LiteRT's kernels: AffineQuantize divides in float32 and rounds half away from zero; Requantize
multiplies by the fixed-point form of scale_in / scale_out (computed in double) with gemmlowp's double
rounding (what LiteRT 2.3 computes, checked value by value; not the single rounding of FULLY_CONNECTED).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.params import table_params
from edgefmr.ops.registry import OpCall, OpDef, register

#: (input dtype, output dtype) pairs LiteRT's QUANTIZE kernel accepts (per-tensor output quantization).
SUPPORTED = {
    "float32": ("int8", "uint8", "int16"),
    "int8": ("int8", "uint8"),
    "uint8": ("int8", "uint8"),
    "int16": ("int8", "int16", "int32"),
    "int32": ("int8", "int16"),
}


def affine_quantize(x: np.ndarray, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """clamp(round_half_away(float32(x) / float32(scale)) + zero_point) in `dtype`.

    TFLite leaves values whose quotient overflows int32 (and NaN) undefined (C++ float->int conversion);
    edgefmr saturates them and maps NaN to the zero point.
    """
    q = np.asarray(x, np.float32) / np.float32(scale)  # float32 division, as the kernel
    q = q.astype(np.float64)  # exact; rounding below is then exact too
    r = np.where(np.isnan(q), 0.0, np.sign(q) * np.floor(np.abs(q) + 0.5))
    r = np.clip(r, fp.INT32_MIN, fp.INT32_MAX).astype(np.int64) + zero_point
    return fp.saturate(r, dtype)


def requantize(x: np.ndarray, in_scale: float, in_zp: int, out_scale: float, out_zp: int,
               dtype: str) -> np.ndarray:
    """clamp(mbqm2(x − zp_in, M, s) + zp_out), (M, s) = quantize_multiplier(double(s_in) / double(s_out)).

    mbqm2 is the double-rounding MultiplyByQuantizedMultiplier (srdhm then rounding_divide_by_pot).
    """
    mult, shift = fp.quantize_multiplier(float(in_scale) / float(out_scale))
    acc = fp.multiply_by_quantized_multiplier_double(np.asarray(x, np.int64) - in_zp, mult, shift) + out_zp
    return fp.saturate(acc, dtype)


@register
class Quantize(OpDef):
    name = "QUANTIZE"
    access = "elementwise"
    in_place = True

    def check(self, c: OpCall) -> None:
        x, y = c.inp(0), c.out()
        if x.dtype not in SUPPORTED or y.dtype not in SUPPORTED[x.dtype]:
            pairs = "; ".join(f"{i} -> {'/'.join(o)}" for i, o in SUPPORTED.items())
            raise c.fail(f"{x.dtype} -> {y.dtype} is not supported; valid: {pairs}")
        if y.quant is None or y.quant.per_axis:
            raise c.fail("the output needs per-tensor quantization")
        if x.dtype != "float32" and (x.quant is None or x.quant.per_axis):
            raise c.fail("an integer input needs per-tensor quantization")
        if x.dtype == "int16" and y.dtype == "int16" and (x.zero_point or y.zero_point):
            raise c.fail("int16 -> int16 needs zero point 0 on input and output")
        if not y.scale > 0 or (x.quant is not None and not x.quant.scale[0] > 0):
            raise c.fail("scales must be positive")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [c.inp(0).shape]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        xt, yt = c.inp(0), c.out()
        if xt.dtype == "float32":
            return [affine_quantize(xs[0], yt.scale, yt.zero_point, yt.dtype)]
        return [requantize(xs[0], xt.scale, xt.zero_point, yt.scale, yt.zero_point, yt.dtype)]


#: Bytes of one output element (efm_quantize_params.out_size).
OUT_SIZE = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4}


def kernel_params(c: OpCall) -> dict[str, Any]:
    """8-bit inputs: a 256-entry table made by this op's kernel (table_params). Otherwise efm_quantize_params:
    float32 inputs the scale (np.float32), integer inputs the multiplier of requantize (double rounding)."""
    xt, yt = c.inp(0), c.out()
    if xt.dtype in ("int8", "uint8"):
        return table_params(c)
    qmin, qmax = fp.QRANGE[yt.dtype]
    common = {"n": xt.size, "output_zp": yt.zero_point, "qmin": qmin, "qmax": qmax, "out_size": OUT_SIZE[yt.dtype]}
    if xt.dtype == "float32":
        return {"scale": np.float32(yt.scale), "input_zp": 0, "mult": 0, "shift": 0, **common}
    mult, shift = fp.quantize_multiplier(float(xt.scale) / float(yt.scale))
    return {"scale": np.float32(0), "input_zp": xt.zero_point, "mult": mult, "shift": shift, **common}
