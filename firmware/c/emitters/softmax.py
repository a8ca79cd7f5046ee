"""SOFTMAX -> kernels/softmax.c, with exp() of every possible row-max difference tabulated at generation time."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.softmax import kernel_params


@emitter("SOFTMAX")
def emit(ctx: EmitContext) -> Emitted:
    p = ctx.param_fields("efm_softmax_params", kernel_params(ctx.c))
    return Emitted(f"efm_softmax_s8({p}, {ctx.inp(0)}, {ctx.out()});", ("softmax",), inplace=(0,))
