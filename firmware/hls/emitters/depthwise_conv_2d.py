"""DEPTHWISE_CONV_2D -> kernels/depthwise_conv_2d.h (pe channels x simd taps; kernel parameters from
edgefmr.ops.depthwise_conv_2d)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, MacArray, acc_bits, hls_emitter
from edgefmr.ops.conv_2d import conv_geometry
from edgefmr.ops.registry import OpCall


def dims(c: OpCall) -> MacArray:
    _, kh, kw, o = c.inp(1).shape
    (oh, ow), _ = conv_geometry(c, (kh, kw))
    return MacArray(c.inp(0).shape[0] * oh * ow, o, kh * kw)


@hls_emitter("DEPTHWISE_CONV_2D", dims)
def emit(ctx: HlsContext) -> HlsEmitted:
    _, kh, kw, o = ctx.c.inp(1).shape
    ctx.take("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "depth_multiplier",
             "stride_h", "stride_w", "dil_h", "dil_w", "pad_top", "pad_left", "input_zp", "output_zp", "act_min",
             "act_max", "mult", "shift")
    ctx.set(taps=kh * kw, pe=ctx.folding.pe, simd=ctx.folding.simd, acc_bits=acc_bits(kh * kw, 255 * 128))
    w = ctx.const(1, (kh * kw, o))
    b = ctx.const(2, (o,), "int32_t")
    return HlsEmitted(("depthwise_conv_2d",), f"efm::depthwise_conv_2d<P>({ctx.inp(0)}, {ctx.out()}, {w}, {b});")
