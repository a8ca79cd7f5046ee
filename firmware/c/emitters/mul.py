"""MUL -> kernels/mul.c (see emitters/add.py; one multiplier s1 * s2 / s_out, no input rescaling)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.add import binary_call


@emitter("MUL")
def emit(ctx: EmitContext) -> Emitted:
    return binary_call(ctx, "mul")
