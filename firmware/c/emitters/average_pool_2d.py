"""AVERAGE_POOL_2D and MAX_POOL_2D -> kernels/average_pool_2d.c, kernels/max_pool_2d.c."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import act_range
from edgefmr.ops.average_pool_2d import pool_geometry


def pool_params(ctx: EmitContext) -> str:
    c = ctx.c
    xt, yt = c.inp(0), c.out()
    (oh, ow), (pt, pl), (fh, fw), (sh, sw) = pool_geometry(c)
    lo, hi = act_range(c.attrs["activation"], yt)
    return ctx.params(
        "efm_pool_2d_params",
        batches=xt.shape[0], in_h=xt.shape[1], in_w=xt.shape[2], channels=xt.shape[3], out_h=oh, out_w=ow,
        filter_h=fh, filter_w=fw, stride_h=sh, stride_w=sw, pad_top=pt, pad_left=pl, act_min=lo, act_max=hi,
    )


#: Most window taps of the Cortex-M AVERAGE_POOL_2D kernel (its int16 lane sums hold 256 int8 taps).
ARM_AVG_MAX_TAPS = 256


def pool_call(ctx: EmitContext, kernel: str) -> Emitted:
    """The int8 / int16 kernel call; Cortex-M builds call the portable int8 average pool (named ..._portable there)
    for windows of more than ARM_AVG_MAX_TAPS taps."""
    suffix = {"int8": "s8", "int16": "s16"}[ctx.c.inp(0).dtype]
    p = pool_params(ctx)
    fn = f"efm_{kernel}_{suffix}"
    fh, fw = pool_geometry(ctx.c)[2]
    if kernel == "average_pool_2d" and suffix == "s8" and kernel in ctx.option("arm", frozenset()) and (
            fh * fw > ARM_AVG_MAX_TAPS):
        fn += "_portable"
    return Emitted(f"{fn}({p}, {ctx.inp(0)}, {ctx.out()});", (kernel,))


@emitter("AVERAGE_POOL_2D")
def emit(ctx: EmitContext) -> Emitted:
    return pool_call(ctx, "average_pool_2d")
