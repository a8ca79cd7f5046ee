"""GATHER -> kernels/gather.c (parameters: edgefmr.ops.gather.kernel_params)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.gather import kernel_params


@emitter("GATHER")
def emit(ctx: EmitContext) -> Emitted:
    p = ctx.param_fields("efm_gather_params", kernel_params(ctx.c))
    return Emitted(f"efm_gather({p}, {ctx.inp(0, 'void')}, {ctx.inp(1, 'void')}, {ctx.out(0, 'void')});",
                   ("gather",))
