"""SUB: int8 y = x1 - x2 with broadcasting and a fused activation (TFLite's left_shift = 20 requantization)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.add import LEFT_SHIFT, output_multiplier
from edgefmr.ops.elementwise import BinaryInt8Op, binary_params, finish_int8, mbqm, rescale_inputs
from edgefmr.ops.registry import Attr, OpCall, register


@register
class Sub(BinaryInt8Op):
    """Same arithmetic as ADD with the rescaled inputs subtracted.

    TFLite's Prepare accepts an output multiplier above 1 for SUB (unlike ADD), but the int8 kernel then shifts
    right by a negative amount (undefined behaviour; LiteRT 2.3 returns +-1), so the IR rejects it like ADD.
    """

    name = "SUB"
    tflite_options = "SubOptions"
    attrs = {"activation": Attr("NONE", "fusedActivationFunction", "ActivationFunctionType", fp.FUSED_ACTIVATIONS)}

    def check(self, c: OpCall) -> None:
        super().check(c)
        output_multiplier(c, 2.0 * max(c.inp(0).scale, c.inp(1).scale))

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        a, b, twice_max = rescale_inputs(c, xs, LEFT_SHIFT)
        return finish_int8(c, mbqm(a - b, *output_multiplier(c, twice_max)))


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_binary_params of a SUB node (ADD's requantization; edgefmr.ops.elementwise.binary_params)."""
    return binary_params(c, LEFT_SHIFT, output_multiplier(c, 2.0 * max(c.inp(0).scale, c.inp(1).scale)))
