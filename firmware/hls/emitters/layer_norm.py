"""LAYER_NORM -> kernels/layer_norm.h (epsilon and per-channel multipliers from edgefmr.ops.layer_norm)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.ops.layer_norm import NORM_FRAC_BITS


@hls_emitter("LAYER_NORM")
def emit(ctx: HlsContext) -> HlsEmitted:
    ch = ctx.c.inp(0).shape[-1]
    ctx.take("rows", "channels", "eps", "output_zp", "mult", "shift")
    ctx.set(norm_frac_bits=NORM_FRAC_BITS)
    gamma = ctx.const(1, (ch,), "int8_t")
    beta = ctx.const(2, (ch,), "int32_t")
    return HlsEmitted(("layer_norm",), f"efm::layer_norm<P>({ctx.inp(0)}, {ctx.out()}, {gamma}, {beta});")
