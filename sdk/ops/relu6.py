"""RELU6 on quantized tensors: requantize to the output scale, clamp to real [0, 6] (LiteRT ReluX)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops.registry import OpCall, OpDef, register
from edgefmr.ops.relu import check_relu_x, relu_params, relu_x


@register
class Relu6(OpDef):
    name = "RELU6"
    access = "elementwise"
    in_place = True

    def check(self, c: OpCall) -> None:
        check_relu_x(c, 6.0)

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [c.inp(0).shape]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        return [relu_x(c, xs[0], 6.0)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """RELU6's kernel parameters (edgefmr.ops.relu.relu_params with the clamp at 6)."""
    return relu_params(c, 6.0)
