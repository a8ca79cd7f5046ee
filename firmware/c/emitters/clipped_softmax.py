"""CLIPPED_SOFTMAX -> kernels/softmax.c with the affine-and-clip of edgefmr.ops.clipped_softmax tabulated over the
256 softmax outputs."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.clipped_softmax import kernel_params


@emitter("CLIPPED_SOFTMAX")
def emit(ctx: EmitContext) -> Emitted:
    p = ctx.param_fields("efm_softmax_params", kernel_params(ctx.c))
    return Emitted(f"efm_softmax_s8({p}, {ctx.inp(0)}, {ctx.out()});", ("softmax",), inplace=(0,))
