"""SQUARED_DIFFERENCE -> kernels/squared_difference.c (see emitters/add.py)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.add import binary_call
from edgefmr.ops.squared_difference import LEFT_SHIFT, output_multiplier


@emitter("SQUARED_DIFFERENCE")
def emit(ctx: EmitContext) -> Emitted:

    c = ctx.c
    return binary_call(ctx, "squared_difference", LEFT_SHIFT,
                       output_multiplier(c, 2.0 * max(c.inp(0).scale, c.inp(1).scale)))
