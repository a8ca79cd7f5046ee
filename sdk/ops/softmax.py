"""SOFTMAX over the last axis: int8 in, int8 out with scale 1/256 and zero point -128 (TFLite's reference kernel).

The int8 reference kernel of LiteRT is gemmlowp fixed-point math: the input difference to the row maximum is
scaled by beta * scale_in into Q5.26, exp() is evaluated in fixed point, the row sum is accumulated in Q12.19 and
its reciprocal found by Newton-Raphson (see docs/ops/SOFTMAX.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops import gemmlowp as gl
from edgefmr.ops.params import int32_array
from edgefmr.ops.registry import Attr, OpCall, OpDef, register

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12
#: LiteRT's reference softmax needs the output at scale 1/256 (within 0.1 %) and zero point -128.
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 1.0 / 256, -128


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of TFLite's PreprocessSoftmaxScaling / CalculateInputRadius.

    beta * scale_in * 2^26 (capped at 2^31 - 1) is quantized as a multiplier above one; differences to the row
    maximum below diff_min contribute nothing (their scaled value would leave Q5.26).
    """
    real = min(float(np.float32(beta)) * input_scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    q, shift = math.frexp(real)  # QuantizeMultiplier as built into LiteRT 2.3: no saturation of the shift at 30
    mult = int(math.floor(q * (1 << 31) + 0.5))
    if mult == 1 << 31:
        mult, shift = mult // 2, shift + 1
    radius = ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) / (1 << shift)
    return mult, shift, -int(np.floor(radius))


def softmax_int8(x: np.ndarray, beta: float, input_scale: float) -> np.ndarray:
    """The int8 softmax of TFLite's reference kernel over the last axis of `x` (output 1/256, zero point -128)."""
    mult, shift, diff_min = softmax_params(beta, input_scale)
    x = np.asarray(x, np.int64)
    diff = x - x.max(axis=-1, keepdims=True)
    used = diff >= diff_min
    # MultiplyByQuantizedMultiplierGreaterThanOne (gemmlowp form: exact left shift, then the rounding high mul).
    scaled = fp.saturating_rounding_doubling_high_mul(gl.wrap32(np.where(used, diff, 0) << shift), mult)
    exps = gl.exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    terms = gl.rescale(exps, 0, ACCUMULATION_INTEGER_BITS)
    sum_of_exps = gl.wrap32(np.where(used, terms, 0).sum(axis=-1, keepdims=True))
    shifted_scale, num_bits_over_unit = gl.get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - 8
    out = fp.rounding_divide_by_pot(fp.saturating_rounding_doubling_high_mul(shifted_scale, exps), exponent)
    return np.where(used, np.clip(out - 128, -128, 127), -128).astype(np.int8)


@register
class Softmax(OpDef):
    name = "SOFTMAX"
    access = "row"
    tflite_options = "SoftmaxOptions"
    attrs = {"beta": Attr(1.0, "beta")}

    def check(self, c: OpCall) -> None:
        x, y = c.inp(0), c.out()
        if (x.dtype, y.dtype) != ("int8", "int8"):
            raise c.fail(f"needs int8 input and output, got {x.dtype}/{y.dtype}")
        if x.quant is None or y.quant is None or x.quant.per_axis or y.quant.per_axis:
            raise c.fail("input and output need per-tensor quantization")
        if y.zero_point != OUTPUT_ZERO_POINT or abs(y.scale - OUTPUT_SCALE) > 0.001 * OUTPUT_SCALE:
            raise c.fail(f"output must have scale 1/256 and zero point -128, got scale {y.scale:g} and zero "
                         f"point {y.zero_point}")
        if len(x.shape) < 1:
            raise c.fail("input needs at least one dimension")
        beta = c.attrs["beta"]
        if not isinstance(beta, int | float) or not np.isfinite(beta):
            raise c.fail(f"beta must be a finite number, got {beta!r}")
        real = float(np.float32(beta)) * x.scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS))
        if not real > 1.0:
            raise c.fail(f"beta * input scale = {real / (1 << 26):.3g} is too small: TFLite needs beta * scale * "
                         f"2^26 > 1")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [c.inp(0).shape]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        return [softmax_int8(xs[0], c.attrs["beta"], c.inp(0).scale)]


def exp_table(beta: float, input_scale: float) -> np.ndarray:
    """exp(d) in Q0.31 for d = x - max in [-255, 0], computed as softmax_int8 does (0 where d is below diff_min,
    which the kernels then map to -128)."""
    mult, shift, diff_min = softmax_params(beta, input_scale)
    diff = np.arange(-255, 1, dtype=np.int64)
    used = diff >= diff_min
    scaled = fp.saturating_rounding_doubling_high_mul(gl.wrap32(np.where(used, diff, 0) << shift), mult)
    exps = gl.exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    return np.where(used, exps, 0).astype(np.int64)


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_softmax_params: rows, depth, the exp table (int32) and no post table (None)."""
    xt = c.inp(0)
    depth = xt.shape[-1]
    return {"rows": xt.size // max(depth, 1), "depth": depth,
            "exp_table": int32_array(exp_table(c.attrs["beta"], xt.scale)), "post_table": None}
