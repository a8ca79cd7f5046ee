"""CLIPPED_SOFTMAX -> kernels/clipped_softmax.h (softmax.h's online form with the op's affine-and-clip table,
both from edgefmr.ops.clipped_softmax)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.softmax import softmax_config


@hls_emitter("CLIPPED_SOFTMAX")
def emit(ctx: HlsContext) -> HlsEmitted:
    softmax_config(ctx)
    return HlsEmitted(("clipped_softmax",), f"efm::clipped_softmax<P>({ctx.inp(0)}, {ctx.out()});")
