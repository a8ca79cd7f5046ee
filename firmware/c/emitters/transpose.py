"""TRANSPOSE and STRIDED_SLICE -> kernels/transpose.c, kernels/strided_slice.c: strided copies whose start and
strides come from running the op's own kernel on an array of element indices (edgefmr.ops.params.index_view_params,
the kernel parameters of both ops)."""

from __future__ import annotations

from typing import Any

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.params import kernel_params


def view_fields(ctx: EmitContext) -> tuple[int, dict[str, Any]]:
    """(start, efm_strided_view fields) of the node's kernel parameters."""
    p = dict(kernel_params(ctx.c))
    start = p.pop("start")
    return start, p


@emitter("TRANSPOSE")
def emit(ctx: EmitContext) -> Emitted:
    _, fields = view_fields(ctx)
    p = ctx.param_fields("efm_strided_view", fields)
    return Emitted(f"efm_transpose({p}, {ctx.inp(0)}, {ctx.out()});", ("transpose",))
