"""STRIDED_SLICE -> kernels/strided_slice.c (see emitters/transpose.py)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.transpose import view_fields


@emitter("STRIDED_SLICE")
def emit(ctx: EmitContext) -> Emitted:
    start, fields = view_fields(ctx)
    p = ctx.param_fields("efm_strided_view", fields)
    return Emitted(f"efm_strided_slice({p}, {start}, {ctx.inp(0)}, {ctx.out()});", ("strided_slice",))
