"""SQUARED_DIFFERENCE: int8 y = (x1 - x2)^2 with broadcasting (TFLite's left_shift = 7 requantization)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops.elementwise import BinaryInt8Op, binary_params, finish_int8, mbqm, rescale_inputs, smaller_than_one
from edgefmr.ops.registry import OpCall, register

LEFT_SHIFT = 7


def output_multiplier(c: OpCall, twice_max_scale: float) -> tuple[int, int]:
    """(M, shift) of twice_max_scale^2 / (2^14 * scale_out); TFLite requires it below 1."""
    return smaller_than_one(c, twice_max_scale * twice_max_scale / ((1 << 2 * LEFT_SHIFT) * c.out().scale),
                            "output")


@register
class SquaredDifference(BinaryInt8Op):
    name = "SQUARED_DIFFERENCE"
    tflite_options = "SquaredDifferenceOptions"

    def check(self, c: OpCall) -> None:
        super().check(c)
        output_multiplier(c, 2.0 * max(c.inp(0).scale, c.inp(1).scale))

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        a, b, twice_max = rescale_inputs(c, xs, LEFT_SHIFT)
        mult, shift = output_multiplier(c, twice_max)
        return finish_int8(c, mbqm((a - b) * (a - b), mult, shift))


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_binary_params of a SQUARED_DIFFERENCE node (edgefmr.ops.elementwise.binary_params)."""
    return binary_params(c, LEFT_SHIFT, output_multiplier(c, 2.0 * max(c.inp(0).scale, c.inp(1).scale)))
