"""LOGISTIC (sigmoid): int8 in, int8 out with scale 1/256 and zero point -128, through TFLite's float-built table."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edgefmr.ops.elementwise import UnaryInt8LutOp, expf, lut_int8
from edgefmr.ops.params import op_table_params
from edgefmr.ops.registry import OpCall, register


def _sigmoid(x: np.float32) -> np.float32:
    """1.0f / (1.0f + expf(-x)) in float32."""
    return np.float32(np.float32(1.0) / np.float32(np.float32(1.0) + expf(-x)))


@lru_cache(maxsize=256)
def logistic_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """The 256-entry table of LiteRT's int8 LOGISTIC reference kernel (LUTPopulate with the float sigmoid)."""
    t = lut_int8(in_scale, in_zp, out_scale, out_zp, _sigmoid)
    t.flags.writeable = False
    return t


@register
class Logistic(UnaryInt8LutOp):
    name = "LOGISTIC"
    output_quant = (1.0 / 256, -128)

    def table(self, c: OpCall) -> np.ndarray:
        x, y = c.inp(0), c.out()
        return logistic_table(x.scale, x.zero_point, y.scale, y.zero_point)


#: Kernel parameters: n and the op's 256-entry table (`table`, uint8 bit patterns; edgefmr.ops.params).
kernel_params = op_table_params
