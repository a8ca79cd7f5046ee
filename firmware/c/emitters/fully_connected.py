"""FULLY_CONNECTED -> kernels/fully_connected.c (kernels/arm/fully_connected.c on cores with the DSP extension)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import act_range, per_channel
from edgefmr.ops import fixedpoint as fp


@emitter("FULLY_CONNECTED")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, wt, yt = c.inp(0), c.inp(1), c.out()
    cols, depth = wt.shape
    # The same multipliers as edgefmr.ops.fully_connected: s_x * s_w[c] / s_y, single rounding.
    mult, shift = fp.quantize_multipliers(xt.scale * np.asarray(wt.quant.scale, np.float64) / yt.scale)
    lo, hi = act_range(c.attrs["activation"], yt)
    p = ctx.params(
        "efm_fully_connected_params",
        rows=xt.size // depth, depth=depth, cols=cols, input_zp=xt.zero_point, output_zp=yt.zero_point,
        act_min=lo, act_max=hi,
        mult=ctx.array(per_channel(mult, cols), "int32_t"), shift=ctx.array(per_channel(shift, cols), "int32_t"),
    )
    return Emitted(f"efm_fully_connected({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.out()});",
                   ("fully_connected",))
