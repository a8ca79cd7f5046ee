"""RESHAPE -> kernels/reshape.c: a byte copy, skipped at run time when the planner made the output a view."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter


@emitter("RESHAPE")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    return Emitted(f"efm_reshape({ctx.inp(0)}, {ctx.out()}, {c.out().nbytes}u);", ("reshape",), inplace=(0,))
