"""MAX_POOL_2D -> kernels/max_pool_2d.c (parameters shared with AVERAGE_POOL_2D)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.average_pool_2d import pool_call


@emitter("MAX_POOL_2D")
def emit(ctx: EmitContext) -> Emitted:
    return pool_call(ctx, "max_pool_2d")
