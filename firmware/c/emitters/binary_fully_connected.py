"""BINARY_FULLY_CONNECTED -> kernels/binary_fully_connected.c."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import act_range, per_channel
from edgefmr.ops import fixedpoint as fp


@emitter("BINARY_FULLY_CONNECTED")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, wt, yt = c.inp(0), c.inp(1), c.out()
    depth, cols = xt.shape[-1], wt.shape[0]
    # The multipliers of edgefmr.ops.binary_fully_connected: s_x * alpha[o] / s_y, single rounding.
    mult, shift = fp.quantize_multipliers(xt.scale * np.asarray(wt.quant.scale, np.float64) / yt.scale)
    lo, hi = act_range(c.attrs["activation"], yt)
    p = ctx.params("efm_binary_fully_connected_params", rows=xt.size // depth, depth=depth, cols=cols,
                   row_bytes=wt.shape[1], input_zp=xt.zero_point, output_zp=yt.zero_point, act_min=lo, act_max=hi,
                   mult=ctx.array(per_channel(mult, cols), "int32_t"),
                   shift=ctx.array(per_channel(shift, cols), "int32_t"))
    return Emitted(f"efm_binary_fully_connected({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.out()});",
                   ("binary_fully_connected",))
