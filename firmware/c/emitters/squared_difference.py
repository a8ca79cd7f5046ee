"""SQUARED_DIFFERENCE -> kernels/squared_difference.c (see emitters/add.py)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.add import binary_call


@emitter("SQUARED_DIFFERENCE")
def emit(ctx: EmitContext) -> Emitted:
    return binary_call(ctx, "squared_difference")
