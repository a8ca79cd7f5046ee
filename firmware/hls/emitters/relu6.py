"""RELU6 -> kernels/relu6.h (see relu.py)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.relu import relu_emit


@hls_emitter("RELU6")
def emit(ctx: HlsContext) -> HlsEmitted:
    return relu_emit(ctx, "relu6")
