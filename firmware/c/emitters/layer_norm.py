"""LAYER_NORM -> kernels/layer_norm.c (parameters from edgefmr.ops.layer_norm.LayerNorm.params)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import per_channel


@emitter("LAYER_NORM")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, yt = c.inp(0), c.out()
    ch = xt.shape[-1]
    e, mult, shift = c.opdef.params(c)
    p = ctx.params("efm_layer_norm_params", rows=xt.size // ch, channels=ch, eps=int(e), output_zp=yt.zero_point,
                   mult=ctx.array(per_channel(mult, ch), "int32_t"), shift=ctx.array(per_channel(shift, ch), "int32_t"))
    return Emitted(f"efm_layer_norm({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.out()});", ("layer_norm",),
                   inplace=(0,))
