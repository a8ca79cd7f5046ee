"""SUB -> kernels/sub.h (see add.py)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.add import binary_emit


@hls_emitter("SUB")
def emit(ctx: HlsContext) -> HlsEmitted:
    return binary_emit(ctx, "sub")
