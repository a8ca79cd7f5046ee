"""GATHER: take slices of `params` along `axis` at integer `indices`, with TFLite's `batch_dims`.

out[b.., o.., i.., r..] = params[b.., o.., indices[b.., i..], r..], where b are the first batch_dims axes of
both inputs, o the remaining axes of params before `axis`, and r the axes after it. Indices must lie in
[0, params.shape[axis]) (LiteRT rejects negative and out-of-range indices at run time).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ops.registry import Attr, OpCall, OpDef, register

INDEX_DTYPES = ("int16", "int32", "int64")
DTYPES = ("int8", "uint8", "int16", "int32", "int64", "float32", "bool")


def _axes(c: OpCall) -> tuple[int, int]:
    """(axis, batch_dims), normalized and checked like TFLite's Prepare."""
    x, idx = c.inp(0), c.inp(1)
    rank, irank = len(x.shape), len(idx.shape)
    axis = int(c.attrs["axis"])
    if not -rank <= axis < rank:
        raise c.fail(f"axis {axis} is out of range for params of rank {rank}; valid: {-rank}..{rank - 1}")
    axis = axis + rank if axis < 0 else axis
    bd = int(c.attrs["batch_dims"])
    bd = bd + irank if bd < 0 else bd
    if not (0 <= bd <= axis and bd < rank and bd <= irank):
        raise c.fail(f"batch_dims {c.attrs['batch_dims']} must satisfy 0 <= batch_dims <= axis ({axis}), "
                     f"< params rank ({rank}) and <= indices rank ({irank}) (negative values count from the "
                     "indices rank)")
    if tuple(x.shape[:bd]) != tuple(idx.shape[:bd]):
        raise c.fail(f"the first {bd} (batch) dims of params {list(x.shape)} and indices {list(idx.shape)} "
                     "differ")
    return axis, bd


def _bad_index(idx: np.ndarray, axis_size: int) -> str | None:
    if idx.size and (idx.min() < 0 or idx.max() >= axis_size):
        bad = idx[(idx < 0) | (idx >= axis_size)].ravel()[0]
        return f"index {int(bad)} is out of range; valid: 0..{axis_size - 1}"
    return None


@register
class Gather(OpDef):
    name = "GATHER"
    n_inputs = (2, 2)
    tflite_options = "GatherOptions"
    attrs = {"axis": Attr(0, "axis"), "batch_dims": Attr(0, "batchDims")}

    def check(self, c: OpCall) -> None:
        x, idx, y = c.inp(0), c.inp(1), c.out()
        if x.dtype not in DTYPES:
            raise c.fail(f"params dtype {x.dtype} is not supported; valid: {', '.join(DTYPES)}")
        if y.dtype != x.dtype:
            raise c.fail(f"output dtype {y.dtype} must equal params dtype {x.dtype}")
        if idx.dtype not in INDEX_DTYPES:
            raise c.fail(f"indices dtype {idx.dtype} is not supported; valid: {', '.join(INDEX_DTYPES)}")
        axis, _ = _axes(c)
        if idx.is_const and (msg := _bad_index(idx.data, x.shape[axis])):
            raise c.fail(msg)

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x, idx = c.inp(0), c.inp(1)
        axis, bd = _axes(c)
        return [(*x.shape[:axis], *idx.shape[bd:], *x.shape[axis + 1:])]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, idx = xs
        axis, bd = _axes(c)
        if msg := _bad_index(idx, x.shape[axis]):
            raise EdgefmrError(f"{c.where}: {msg}")
        if x.size == 0 or idx.size == 0:
            return [np.zeros(c.out().shape, x.dtype)]
        batch = int(np.prod(x.shape[:bd], dtype=np.int64))
        outer = int(np.prod(x.shape[bd:axis], dtype=np.int64))
        inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
        xv = x.reshape(batch, outer, x.shape[axis], inner)
        iv = idx.reshape(batch, -1).astype(np.intp)
        # [batch, outer, n_idx, inner]
        out = xv[np.arange(batch)[:, None, None], np.arange(outer)[None, :, None], iv[:, None, :]]
        return [np.ascontiguousarray(out).reshape(c.out().shape)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_gather_params: batch, outer blocks, the gathered axis, indices per batch, the bytes of one gathered
    slice and of one index."""
    xt, it = c.inp(0), c.inp(1)
    rank, irank = len(xt.shape), len(it.shape)
    axis = int(c.attrs["axis"]) % rank
    bd = int(c.attrs["batch_dims"])
    bd = bd + irank if bd < 0 else bd
    item = xt.nbytes // max(xt.size, 1)
    batch = int(np.prod(xt.shape[:bd], dtype=np.int64))
    return {"batch": batch, "outer": int(np.prod(xt.shape[bd:axis], dtype=np.int64)), "axis_size": xt.shape[axis],
            "n_indices": it.size // max(batch, 1),
            "inner_bytes": int(np.prod(xt.shape[axis + 1:], dtype=np.int64)) * item,
            "index_size": np.dtype(it.dtype).itemsize}
