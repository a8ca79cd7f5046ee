"""MAX_POOL_2D -> kernels/max_pool_2d.h (see average_pool_2d.py)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.average_pool_2d import pool


@hls_emitter("MAX_POOL_2D")
def emit(ctx: HlsContext) -> HlsEmitted:
    return pool(ctx, "max_pool_2d")
