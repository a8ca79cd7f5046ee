"""SUB -> kernels/sub.c (see emitters/add.py)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.add import binary_call


@emitter("SUB")
def emit(ctx: EmitContext) -> Emitted:
    return binary_call(ctx, "sub")
