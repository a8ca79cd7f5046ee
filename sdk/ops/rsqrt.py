"""RSQRT: int8 y = 1 / sqrt(x) with TFLite's integer algorithm (Newton-Raphson inverse square root)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.elementwise import UnaryInt8LutOp, mbqm
from edgefmr.ops.gemmlowp import inv_sqrt_quantized_multiplier_exp
from edgefmr.ops.params import op_table_params
from edgefmr.ops.registry import OpCall, register

#: Extra fractional bits of the intermediate 1/sqrt(x - zp) value.
K_SHIFT = 20


def output_multiplier(in_scale: float, out_scale: float) -> tuple[int, int]:
    """quantize_multiplier(1 / (sqrtf(s_in) * s_out)), the square root and product in float32 as in LiteRT."""
    denom = np.float32(np.sqrt(np.float32(in_scale))) * np.float32(out_scale)
    return fp.quantize_multiplier(1.0 / float(denom))


@lru_cache(maxsize=256)
def rsqrt_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """Outputs for inputs -128..127; inputs below the zero point (negative reals) map to 0 and are rejected at run."""
    mult, shift = output_multiplier(in_scale, out_scale)
    table = np.zeros(256, np.int8)
    for q in range(in_zp, 128):
        value = q - in_zp
        if value == 0:
            table[q + 128] = 127  # TFLite maps x == 0 to the largest output
            continue
        inv_mult, inv_shift = inv_sqrt_quantized_multiplier_exp(value, -1)
        data = int(mbqm(1, inv_mult, inv_shift + K_SHIFT))
        out = int(mbqm(data, mult, shift - K_SHIFT)) + out_zp
        table[q + 128] = min(127, max(-128, out))
    table.flags.writeable = False
    return table


@register
class Rsqrt(UnaryInt8LutOp):
    name = "RSQRT"

    def table(self, c: OpCall) -> np.ndarray:
        x, y = c.inp(0), c.out()
        return rsqrt_table(x.scale, x.zero_point, y.scale, y.zero_point)

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        zp = c.inp(0).zero_point
        if xs[0].size and int(xs[0].min()) < zp:
            raise EdgefmrError(f"{c.where}: RSQRT is only defined for non-negative values; the input holds "
                               f"{int(xs[0].min())} below its zero point {zp}")
        return super().run(c, xs)


#: Kernel parameters: n and the op's 256-entry table (`table`, uint8 bit patterns; edgefmr.ops.params).
kernel_params = op_table_params
