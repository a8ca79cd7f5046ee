"""AVERAGE_POOL_2D -> kernels/average_pool_2d.h (kernel parameters from edgefmr.ops.average_pool_2d)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


def pool(ctx: HlsContext, kernel: str) -> HlsEmitted:
    ctx.take("batches", "in_h", "in_w", "channels", "out_h", "out_w", "filter_h", "filter_w", "stride_h",
             "stride_w", "pad_top", "pad_left", "act_min", "act_max")
    t = ctx.ctype(ctx.c.inp(0))
    return HlsEmitted((kernel,), f"efm::{kernel}<P, {t}>({ctx.inp(0)}, {ctx.out()});")


@hls_emitter("AVERAGE_POOL_2D")
def emit(ctx: HlsContext) -> HlsEmitted:
    return pool(ctx, "average_pool_2d")
