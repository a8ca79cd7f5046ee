"""RESHAPE: the same elements (bytes) under a new shape, as TFLite (one -1 entry; legacy [0] = scalar)."""

from __future__ import annotations

import numpy as np

from edgefmr.ops.registry import Attr, OpCall, OpDef, register


def _requested_shape(c: OpCall) -> list[int]:
    """The new shape as TFLite picks it: a 1-D int32 shape input wins, else the `new_shape` attribute."""
    s = c.inp(1)
    if s is not None and len(s.shape) == 1 and s.dtype == "int32":
        return [int(v) for v in s.data]
    attr = c.attrs["new_shape"]
    if attr is None:
        if s is None:
            raise c.fail("needs a shape: a 1-D int32 constant input 1 or the new_shape attribute")
        raise c.fail(f"shape input {s.name!r} must be a 1-D int32 tensor, got {s.dtype}{list(s.shape)}")
    dims = [int(v) for v in attr]
    return [] if dims == [0] else dims  # legacy models use [0] for a scalar


@register
class Reshape(OpDef):
    name = "RESHAPE"
    access = "view"
    n_inputs = (1, 2)
    const_inputs = (1,)
    tflite_options = "ReshapeOptions"
    attrs = {"new_shape": Attr(None, "newShape")}

    def check(self, c: OpCall) -> None:
        x, y = c.inp(0), c.out()
        if x.dtype != y.dtype:
            raise c.fail(f"output dtype {y.dtype} must equal input dtype {x.dtype}")
        ns = c.attrs["new_shape"]
        if ns is not None and not all(isinstance(v, int | np.integer) for v in ns):
            raise c.fail(f"attribute new_shape={ns!r} must be a list of integers")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x = c.inp(0)
        dims = _requested_shape(c)
        if dims.count(-1) > 1:
            raise c.fail(f"new shape {dims} has more than one -1")
        if any(d < -1 for d in dims):
            raise c.fail(f"new shape {dims} has a negative size other than -1")
        n_in = x.size
        nz_in = int(np.prod([d for d in x.shape if d != 0], dtype=np.int64))
        if -1 in dims:
            known = [d for d in dims if d != -1]
            n_known = int(np.prod(known, dtype=np.int64))
            nz_known = int(np.prod([d for d in known if d != 0], dtype=np.int64))
            dims[dims.index(-1)] = 0 if (n_in == 0 and n_known != 0) else nz_in // nz_known
        if int(np.prod(dims, dtype=np.int64)) != n_in:
            raise c.fail(f"cannot reshape {list(x.shape)} ({n_in} elements) to {dims}")
        return [tuple(dims)]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        return [np.ascontiguousarray(xs[0]).reshape(c.out().shape).copy()]
