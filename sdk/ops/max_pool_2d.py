"""MAX_POOL_2D: NHWC int8/int16 window maximum, input quantization = output's (TFLite semantics)."""

from __future__ import annotations

import numpy as np

from edgefmr.ops import padding as pd
from edgefmr.ops.average_pool_2d import Pool2D, pool_geometry, pool_params
from edgefmr.ops.registry import OpCall, register


@register
class MaxPool2D(Pool2D):
    name = "MAX_POOL_2D"

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        (x,) = xs
        out_hw, pads, filt, strides = pool_geometry(c)
        # Padding with the dtype's lowest value never wins over a real element (every window has one).
        lowest = np.iinfo(x.dtype).min
        xp = pd.padded_nhwc(x, out_hw, pads, filt, strides, (1, 1), lowest)
        m = np.full((x.shape[0], *out_hw, x.shape[3]), lowest, x.dtype)
        for ky in range(filt[0]):
            for kx in range(filt[1]):
                m = np.maximum(m, pd.tap(xp, ky, kx, out_hw, strides, (1, 1)))
        return [self.clamp(c, m)]


#: Kernel parameters: efm_pool_2d_params (pool_params).
kernel_params = pool_params
