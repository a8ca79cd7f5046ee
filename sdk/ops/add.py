"""ADD: int8 y = x1 + x2 with broadcasting and a fused activation (TFLite's left_shift = 20 requantization)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.elementwise import BinaryInt8Op, binary_params, finish_int8, mbqm, rescale_inputs, smaller_than_one
from edgefmr.ops.registry import Attr, OpCall, register

LEFT_SHIFT = 20


def output_multiplier(c: OpCall, twice_max_scale: float) -> tuple[int, int]:
    """(M, shift) of twice_max_scale / (2^20 * scale_out); TFLite requires it below 1 for ADD."""
    return smaller_than_one(c, twice_max_scale / ((1 << LEFT_SHIFT) * c.out().scale), "output")


@register
class Add(BinaryInt8Op):
    name = "ADD"
    tflite_options = "AddOptions"
    attrs = {"activation": Attr("NONE", "fusedActivationFunction", "ActivationFunctionType", fp.FUSED_ACTIVATIONS)}

    def check(self, c: OpCall) -> None:
        super().check(c)
        output_multiplier(c, 2.0 * max(c.inp(0).scale, c.inp(1).scale))

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        a, b, twice_max = rescale_inputs(c, xs, LEFT_SHIFT)
        mult, shift = output_multiplier(c, twice_max)
        return finish_int8(c, mbqm(a + b, mult, shift))


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_binary_params of an ADD node (edgefmr.ops.elementwise.binary_params)."""
    return binary_params(c, LEFT_SHIFT, output_multiplier(c, 2.0 * max(c.inp(0).scale, c.inp(1).scale)))
