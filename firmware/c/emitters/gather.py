"""GATHER -> kernels/gather.c."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter


@emitter("GATHER")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, it = c.inp(0), c.inp(1)
    rank, irank = len(xt.shape), len(it.shape)
    axis = int(c.attrs["axis"]) % rank
    bd = int(c.attrs["batch_dims"])
    bd = bd + irank if bd < 0 else bd
    item = xt.nbytes // max(xt.size, 1)
    batch = int(np.prod(xt.shape[:bd], dtype=np.int64))
    p = ctx.params(
        "efm_gather_params", batch=batch, outer=int(np.prod(xt.shape[bd:axis], dtype=np.int64)),
        axis_size=xt.shape[axis], n_indices=it.size // max(batch, 1),
        inner_bytes=int(np.prod(xt.shape[axis + 1:], dtype=np.int64)) * item,
        index_size=np.dtype(it.dtype).itemsize,
    )
    return Emitted(f"efm_gather({p}, {ctx.inp(0, 'void')}, {ctx.inp(1, 'void')}, {ctx.out(0, 'void')});",
                   ("gather",))
