"""QUANTIZE -> kernels/quantize.h: a table lookup for 8-bit inputs, float32 rounding or 16/32-bit requantization
otherwise (kernel parameters from edgefmr.ops.quantize)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.lut import is_table, table_call


@hls_emitter("QUANTIZE")
def emit(ctx: HlsContext) -> HlsEmitted:
    if is_table(ctx):
        return table_call(ctx, "quantize")
    ctx.take("n", "scale", "input_zp", "output_zp", "mult", "shift", "qmin", "qmax")
    xt, yt = ctx.c.inp(0), ctx.c.out()
    to = ctx.ctype(yt)
    if xt.dtype == "float32":
        return HlsEmitted(("quantize",), f"efm::quantize_f32<P, {to}>({ctx.inp(0)}, {ctx.out()});")
    return HlsEmitted(("quantize",), f"efm::quantize_int<P, {ctx.ctype(xt)}, {to}>({ctx.inp(0)}, {ctx.out()});")
