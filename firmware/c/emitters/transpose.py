"""TRANSPOSE and STRIDED_SLICE -> kernels/transpose.c, kernels/strided_slice.c: strided copies whose start and
strides come from running the op's own kernel on an array of element indices (edgefmr.ops.params.index_view_params,
the kernel parameters of both ops)."""

from __future__ import annotations

from typing import Any

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, kernel_path
from edgefmr.ops.params import kernel_params
from edgefmr.ops.registry import OpCall


def view_fields(ctx: EmitContext) -> tuple[int, dict[str, Any]]:
    """(start, efm_strided_view fields) of the node's kernel parameters."""
    p = dict(kernel_params(ctx.c))
    start = p.pop("start")
    return start, p


def view_path(c: OpCall, arm: frozenset = frozenset()) -> str:
    """How efm_strided_copy runs the node's view (axes merged): "copy" (one contiguous run), "rows" (contiguous
    runs of the last axis, one efm_copy_row call each) or "gather" (the last axis strided: element by element)."""
    p = kernel_params(c)
    n = int(p["ndim"])
    if n and int(p["stride"][n - 1]) != 1:
        return "gather"
    return "copy" if n <= 1 else "rows"


kernel_path("TRANSPOSE")(view_path)
kernel_path("STRIDED_SLICE")(view_path)


@emitter("TRANSPOSE")
def emit(ctx: EmitContext) -> Emitted:
    _, fields = view_fields(ctx)
    p = ctx.param_fields("efm_strided_view", fields)
    return Emitted(f"efm_transpose({p}, {ctx.inp(0)}, {ctx.out()});", ("transpose",))
