"""ADD, SUB, MUL, SQUARED_DIFFERENCE -> kernels/<op>.c, broadcasting through per-input strides (kernels/binary.h)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.params import kernel_params


def binary_call(ctx: EmitContext, kernel: str) -> Emitted:
    """The call of kernel efm_<kernel>_s8 with the node's efm_binary_params (broadcast layout and requantization:
    its op definition's kernel_params)."""
    c = ctx.c
    at, bt, yt = c.inp(0), c.inp(1), c.out()
    shape = tuple(yt.shape)
    p = ctx.param_fields("efm_binary_params", kernel_params(c))
    # In place only on an input that has the output's shape (each element is read before it is written).
    inplace = tuple(i for i, t in enumerate((at, bt)) if tuple(t.shape) == shape)
    return Emitted(f"efm_{kernel}_s8({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.out()});", (kernel,), inplace)


@emitter("ADD")
def emit(ctx: EmitContext) -> Emitted:
    return binary_call(ctx, "add")
