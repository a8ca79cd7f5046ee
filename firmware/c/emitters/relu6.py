"""RELU6 -> see emitters/relu.py."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.relu import relu_call


@emitter("RELU6")
def emit(ctx: EmitContext) -> Emitted:
    return relu_call(ctx, 6.0)
