"""SPIKE_FULLY_CONNECTED -> kernels/spike_fully_connected.c."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import act_range, per_channel
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.spike_fully_connected import spike_amplitude


@emitter("SPIKE_FULLY_CONNECTED")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    st, wt, yt = c.inp(0), c.inp(1), c.out()
    cols, depth = wt.shape
    # The multipliers of edgefmr.ops.spike_fully_connected: spike amplitude * s_w[o] / s_y, single rounding.
    mult, shift = fp.quantize_multipliers(spike_amplitude(c) * np.asarray(wt.quant.scale, np.float64) / yt.scale)
    lo, hi = act_range(c.attrs["activation"], yt)
    p = ctx.params("efm_spike_fully_connected_params", rows=st.size // depth, depth=depth, cols=cols,
                   output_zp=yt.zero_point, act_min=lo, act_max=hi,
                   mult=ctx.array(per_channel(mult, cols), "int32_t"),
                   shift=ctx.array(per_channel(shift, cols), "int32_t"))
    return Emitted(f"efm_spike_fully_connected({p}, {ctx.inp(0, 'uint8_t')}, {ctx.inp(1)}, {ctx.inp(2)}, "
                   f"{ctx.out()});", ("spike_fully_connected",))
