"""MEAN -> kernels/mean.h (axes, strides and multiplier from edgefmr.ops.mean)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


@hls_emitter("MEAN")
def emit(ctx: HlsContext) -> HlsEmitted:
    ctx.take("out_ndim", "out_count", "out_stride", "red_ndim", "red_count", "red_stride", "n", "input_zp",
             "output_zp", "mult", "shift", "qmin", "qmax")
    ctx.set(in_size=max(ctx.c.inp(0).size, 1))
    t = ctx.ctype(ctx.c.inp(0))
    return HlsEmitted(("mean",), f"efm::mean<P, {t}>({ctx.inp(0)}, {ctx.out()});")
