"""DEQUANTIZE -> kernels/dequantize.h: a table of float bit patterns for 8-bit per-tensor inputs, per-channel or
int16 arithmetic otherwise (kernel parameters from edgefmr.ops.dequantize)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.lut import is_table, table_call


@hls_emitter("DEQUANTIZE")
def emit(ctx: HlsContext) -> HlsEmitted:
    if is_table(ctx):
        return table_call(ctx, "dequantize")
    xt = ctx.c.inp(0)
    if xt.quant.per_axis:
        ctx.take("outer", "channels", "inner")
        p = ctx.params()
        zp = ctx.rom(p["zero_point"], "int32_t")
        scale = ctx.rom(p["scale"], "float")
        return HlsEmitted(("dequantize",),
                          f"efm::dequantize_pc<P, {ctx.ctype(xt)}>({ctx.inp(0)}, {ctx.out()}, {zp}, {scale});")
    ctx.take("n", "scale", "zero_point")
    return HlsEmitted(("dequantize",), f"efm::dequantize_s16<P>({ctx.inp(0)}, {ctx.out()});")
