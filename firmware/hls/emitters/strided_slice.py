"""STRIDED_SLICE -> kernels/strided_slice.h (see transpose.py)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.transpose import view_emit


@hls_emitter("STRIDED_SLICE")
def emit(ctx: HlsContext) -> HlsEmitted:
    return view_emit(ctx, "strided_slice")
