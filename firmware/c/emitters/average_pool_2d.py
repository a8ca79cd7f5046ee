"""AVERAGE_POOL_2D and MAX_POOL_2D -> kernels/average_pool_2d.c, kernels/max_pool_2d.c."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.average_pool_2d import pool_geometry, pool_params

#: Most window taps of the Cortex-M AVERAGE_POOL_2D kernel (its int16 lane sums hold 256 int8 taps).
ARM_AVG_MAX_TAPS = 256


def pool_call(ctx: EmitContext, kernel: str) -> Emitted:
    """The int8 / int16 kernel call; Cortex-M builds call the portable int8 average pool (named ..._portable there)
    for windows of more than ARM_AVG_MAX_TAPS taps."""
    suffix = {"int8": "s8", "int16": "s16"}[ctx.c.inp(0).dtype]
    p = ctx.param_fields("efm_pool_2d_params", pool_params(ctx.c))
    fn = f"efm_{kernel}_{suffix}"
    fh, fw = pool_geometry(ctx.c)[2]
    if kernel == "average_pool_2d" and suffix == "s8" and kernel in ctx.option("arm", frozenset()) and (
            fh * fw > ARM_AVG_MAX_TAPS):
        fn += "_portable"
    return Emitted(f"{fn}({p}, {ctx.inp(0)}, {ctx.out()});", (kernel,))


@emitter("AVERAGE_POOL_2D")
def emit(ctx: EmitContext) -> Emitted:
    return pool_call(ctx, "average_pool_2d")
