"""SUB -> kernels/sub.c (see emitters/add.py)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.add import binary_call
from edgefmr.ops.add import LEFT_SHIFT, output_multiplier


@emitter("SUB")
def emit(ctx: EmitContext) -> Emitted:

    c = ctx.c
    return binary_call(ctx, "sub", LEFT_SHIFT, output_multiplier(c, 2.0 * max(c.inp(0).scale, c.inp(1).scale)))
