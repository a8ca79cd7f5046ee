"""TANH: int8 in, int8 out with scale 1/128 and zero point 0, through TFLite's float-built table."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edgefmr.ops.elementwise import UnaryInt8LutOp, lut_int8, tanhf
from edgefmr.ops.params import op_table_params
from edgefmr.ops.registry import OpCall, register


@lru_cache(maxsize=256)
def tanh_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """The 256-entry table of LiteRT's int8 TANH reference kernel (LUTPopulate with the C library's tanhf)."""
    t = lut_int8(in_scale, in_zp, out_scale, out_zp, tanhf)
    t.flags.writeable = False
    return t


@register
class Tanh(UnaryInt8LutOp):
    name = "TANH"
    output_quant = (1.0 / 128, 0)

    def table(self, c: OpCall) -> np.ndarray:
        x, y = c.inp(0), c.out()
        return tanh_table(x.scale, x.zero_point, y.scale, y.zero_point)


#: Kernel parameters: n and the op's 256-entry table (`table`, uint8 bit patterns; edgefmr.ops.params).
kernel_params = op_table_params
