"""STRIDED_SLICE: numpy-style `x[b0:e0:s0, ...]` with TFLite's masks and clamping (LiteRT's reference kernel).

begin/end/strides are constant 1-D int32 inputs. The masks (bit i refers to entry i of begin/end/strides):
begin_mask / end_mask ignore begin[i] / end[i] (the full range is used), ellipsis_mask marks the entry
standing for all dimensions not otherwise named, new_axis_mask inserts a size-1 dimension, shrink_axis_mask
takes the single element at begin[i] and drops the dimension. With `offset`, end[i] is a size relative to
begin[i].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgefmr.ops.params import index_view_params
from edgefmr.ops.registry import Attr, OpCall, OpDef, register

MAX_INDICES = 31


@dataclass
class _Plan:
    eff_shape: list[int]  # input shape with the new axes inserted
    index: list[range]  # elements taken along each effective axis
    shrunk: list[bool]  # effective axes dropped by shrink_axis_mask
    out_shape: tuple[int, ...]  # the output shape as TFLite computes it


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else lo if v < lo else v


def _vector(c: OpCall, i: int, what: str) -> list[int]:
    t = c.inp(i)
    if t.dtype != "int32" or len(t.shape) != 1:
        raise c.fail(f"{what} must be a 1-D int32 constant, got {t.dtype}{list(t.shape)}")
    return [int(v) for v in t.data]


def _plan(c: OpCall) -> _Plan:
    """TFLite's effective parameters: masks expanded over the input dims, start/stop per axis, out shape."""
    shape = list(c.inp(0).shape)
    rank = len(shape)
    begin, end, strides = (_vector(c, i, w) for i, w in ((1, "begin"), (2, "end"), (3, "strides")))
    n = len(begin)
    if not (len(end) == len(strides) == n):
        raise c.fail(f"begin, end and strides need one length, got {len(begin)}, {len(end)}, {len(strides)}")
    if n > MAX_INDICES:
        raise c.fail(f"{n} slice entries; TFLite supports at most {MAX_INDICES}")
    a = c.attrs
    for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"):
        if not isinstance(a[k], int | np.integer) or not 0 <= int(a[k]) < (1 << 32):
            raise c.fail(f"attribute {k}={a[k]!r} must be an unsigned 32-bit integer")
    ell, new = int(a["ellipsis_mask"]), int(a["new_axis_mask"])
    if bin(ell & ((1 << n) - 1)).count("1") > 1:
        raise c.fail(f"ellipsis_mask={ell} sets more than one entry")
    if any(s == 0 for s in strides):
        raise c.fail(f"strides {strides} must be non-zero")
    if any(s == -(2**31) for s in strides):
        raise c.fail("stride INT32_MIN is not supported")
    offset = bool(a["offset"])
    if offset and (ell or new or n != rank):
        raise c.fail("offset needs one begin/end/stride entry per input dimension and no ellipsis or "
                     "new-axis masks")

    num_add = sum(1 for i in range(n) if _bit(new, i) and not _bit(ell, i))
    dims = rank + num_add
    if n > dims:
        raise c.fail(f"{n} slice entries for an input of rank {rank} (plus {num_add} new axes)")
    # Expand the ellipsis and place the new axes over the effective dims.
    eff_ell = [False] * dims
    eff_new = [False] * dims
    ell_start, expanded = dims, 0
    i = 0
    while i < dims:
        if _bit(ell, i):
            ell_start = i
            ell_end = max(i + 1, min(i + 1 + num_add + rank - n, dims))
            expanded = ell_end - ell_start - 1
            for j in range(i, ell_end):
                eff_ell[j] = True
            i = ell_end
            continue
        if _bit(new, i - expanded):
            eff_new[i] = True
        i += 1
    starts, stops, steps = [0] * dims, [0] * dims, [1] * dims
    bmask, emask, smask = [False] * dims, [False] * dims, [False] * dims
    eff_shape = [1] * dims
    added_ell = added_axes = 0
    for i in range(dims):
        if eff_ell[i]:
            added_ell = max(0, i - ell_start)
            bmask[i] = emask[i] = True
            eff_shape[i] = shape[i - added_axes]
        elif eff_new[i]:
            starts[i], stops[i] = 0, 1
            added_axes += 1
        elif i >= n + expanded:
            bmask[i] = emask[i] = True
            eff_shape[i] = shape[i - added_axes]
        else:
            o = i - added_ell
            starts[i], stops[i], steps[i] = begin[o], end[o], strides[o]
            bmask[i] = _bit(int(a["begin_mask"]), o)
            emask[i] = _bit(int(a["end_mask"]), o)
            smask[i] = _bit(int(a["shrink_axis_mask"]), o)
            eff_shape[i] = shape[i - added_axes]

    index: list[range] = []
    out: list[int] = []
    for i in range(dims):
        size, step = eff_shape[i], steps[i]
        # Start: negative counts from the end, clamped, begin_mask overrides.
        s = starts[i] + size if starts[i] < 0 else starts[i]
        s = _clamp(s, 0, size) if step > 0 else _clamp(s, -1, size - 1)
        if bmask[i]:
            s = 0 if step > 0 else size - 1
        # Stop: a shrunk axis takes one element; with offset the stop is begin + size.
        if smask[i]:
            e = s if s >= size else s + 1
        else:
            e = stops[i] + s if offset else stops[i]
            e = e + size if e < 0 else e
            e = _clamp(e, 0, size) if step > 0 else _clamp(e, -1, size - 1)
            if emask[i]:
                e = size if step > 0 else -1
        index.append(range(s, e, step))
        if smask[i]:
            continue
        extent = end[i] if offset else e - s
        if (extent < 0) != (step < 0):
            d = 0
        elif step < 0:
            d = (extent + 1) // step + 1  # both non-positive: floor == C's truncation
        else:
            d = 0 if extent == 0 else (extent - 1) // step + 1
        out.append(d)
    return _Plan(eff_shape, index, smask, tuple(out))


@register
class StridedSlice(OpDef):
    name = "STRIDED_SLICE"
    n_inputs = (4, 4)
    const_inputs = (1, 2, 3)
    tflite_options = "StridedSliceOptions"
    attrs = {
        "begin_mask": Attr(0, "beginMask"),
        "end_mask": Attr(0, "endMask"),
        "ellipsis_mask": Attr(0, "ellipsisMask"),
        "new_axis_mask": Attr(0, "newAxisMask"),
        "shrink_axis_mask": Attr(0, "shrinkAxisMask"),
        "offset": Attr(False, "offset"),
    }

    def check(self, c: OpCall) -> None:
        x, y = c.inp(0), c.out()
        if x.dtype != y.dtype:
            raise c.fail(f"output dtype {y.dtype} must equal input dtype {x.dtype}")
        p = _plan(c)
        taken = [len(r) for r in p.index]
        if any(n != 1 for n, s in zip(taken, p.shrunk, strict=True) if s):
            raise c.fail("a shrunk axis must select exactly one element (begin inside the axis, positive "
                         f"stride); elements taken per axis: {taken}")
        kept = tuple(n for n, s in zip(taken, p.shrunk, strict=True) if not s)
        if kept != p.out_shape:
            raise c.fail(f"the slice takes {list(kept)} elements per axis but TFLite sizes the output "
                         f"{list(p.out_shape)} (an offset slice running past the input?)")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [_plan(c).out_shape]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        p = _plan(c)
        x = xs[0].reshape(p.eff_shape)
        idx = np.ix_(*[np.array(list(r), np.intp) for r in p.index])
        return [np.ascontiguousarray(x[idx]).reshape(c.out().shape)]


#: Kernel parameters: the strided view (start, efm_strided_view fields) the node selects (edgefmr.ops.params).
kernel_params = index_view_params
