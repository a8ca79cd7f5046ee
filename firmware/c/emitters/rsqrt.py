"""RSQRT -> kernels/lut.c with the op's own 256-entry table (see emitters/logistic.py)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.logistic import table_call


@emitter("RSQRT")
def emit(ctx: EmitContext) -> Emitted:
    return table_call(ctx)
