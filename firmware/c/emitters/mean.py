"""MEAN -> kernels/mean.c."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.mean import kernel_params


@emitter("MEAN")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt = c.inp(0)
    p = ctx.param_fields("efm_mean_params", kernel_params(c))
    suffix = {"int8": "s8", "int16": "s16"}[xt.dtype]
    return Emitted(f"efm_mean_{suffix}({p}, {ctx.inp(0)}, {ctx.out()});", ("mean",))
