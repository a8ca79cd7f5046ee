"""TRANSPOSE and STRIDED_SLICE -> kernels/transpose.c, kernels/strided_slice.c: strided copies whose start and
strides come from running the op's own kernel on an array of element indices."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import affine_view, probe, strided_view_params


def index_view(ctx: EmitContext) -> tuple[int, dict]:
    """The strided view (start, fields) that the node selects from its input, found by probing its kernel."""
    c = ctx.c
    xt = c.inp(0)
    index = probe(c, {0: np.arange(xt.size, dtype=np.int64).reshape(xt.shape)})
    try:
        view = affine_view(np.asarray(index))
    except ValueError:
        raise ctx.fail("the selection is not a strided view of the input") from None
    return strided_view_params(ctx, view, np.dtype(c.out().dtype).itemsize)


@emitter("TRANSPOSE")
def emit(ctx: EmitContext) -> Emitted:
    _, fields = index_view(ctx)
    p = ctx.params("efm_strided_view", **fields)
    return Emitted(f"efm_transpose({p}, {ctx.inp(0)}, {ctx.out()});", ("transpose",))
