"""MUL: int8 y = x1 * x2 with broadcasting and a fused activation (one multiplier s1 * s2 / s_out)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.elementwise import BinaryInt8Op, binary_params, centered_inputs, finish_int8, mbqm
from edgefmr.ops.registry import Attr, OpCall, register


def output_multiplier(c: OpCall) -> tuple[int, int]:
    """quantize_multiplier(s1 * s2 / s_out), the product and quotient rounded to float32 as LiteRT computes them."""
    s1, s2, so = (np.float32(t.scale) for t in (c.inp(0), c.inp(1), c.out()))
    return fp.quantize_multiplier(float(np.float32(s1 * s2) / so))


@register
class Mul(BinaryInt8Op):
    name = "MUL"
    tflite_options = "MulOptions"
    attrs = {"activation": Attr("NONE", "fusedActivationFunction", "ActivationFunctionType", fp.FUSED_ACTIVATIONS)}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        a, b = centered_inputs(c, xs)
        mult, shift = output_multiplier(c)
        return finish_int8(c, mbqm(a * b, mult, shift))


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_binary_params of a MUL node: one multiplier s_a s_b / s_y, no input rescaling."""
    return binary_params(c, 0, output_multiplier(c), rescale=False)
