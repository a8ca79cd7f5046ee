"""CONV_2D -> kernels/conv_2d.h (pe output channels x simd filter taps; kernel parameters from edgefmr.ops.conv_2d)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, MacArray, acc_bits, hls_emitter
from edgefmr.ops.conv_2d import conv_geometry
from edgefmr.ops.registry import OpCall


def dims(c: OpCall) -> MacArray:
    o, kh, kw, ci = c.inp(1).shape
    (oh, ow), _ = conv_geometry(c, (kh, kw))
    return MacArray(c.inp(0).shape[0] * oh * ow, o, kh * kw * ci)


@hls_emitter("CONV_2D", dims)
def emit(ctx: HlsContext) -> HlsEmitted:
    o, kh, kw, ci = ctx.c.inp(1).shape
    ctx.take("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "k_c", "groups",
             "stride_h", "stride_w", "dil_h", "dil_w", "pad_top", "pad_left", "input_zp", "output_zp", "act_min",
             "act_max", "mult", "shift")
    taps = kh * kw * ci
    ctx.set(taps=taps, pe=ctx.folding.pe, simd=ctx.folding.simd, acc_bits=acc_bits(taps, 255 * 128))
    w = ctx.const(1, (o, taps))
    b = ctx.const(2, (o,), "int32_t")
    return HlsEmitted(("conv_2d",), f"efm::conv_2d<P>({ctx.inp(0)}, {ctx.out()}, {w}, {b});")
