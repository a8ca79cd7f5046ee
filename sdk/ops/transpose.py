"""TRANSPOSE: permute the axes by a constant int32 `perm` (negative entries count from the end), as TFLite."""

from __future__ import annotations

import numpy as np

from edgefmr.ops.params import index_view_params
from edgefmr.ops.registry import OpCall, OpDef, register

#: LiteRT's reference kernel handles up to this many dimensions.
MAX_DIMS = 8


def _perm(c: OpCall) -> list[int]:
    x, p = c.inp(0), c.inp(1)
    rank = len(x.shape)
    if p.dtype != "int32" or len(p.shape) != 1 or p.shape[0] != rank:
        raise c.fail(f"perm must be a 1-D int32 constant of length {rank} (the input rank), "
                     f"got {p.dtype}{list(p.shape)}")
    perm = [int(v) for v in p.data]
    if any(not -rank <= v < rank for v in perm):
        raise c.fail(f"perm {perm} has entries outside [{-rank}, {rank - 1}]")
    perm = [v + rank if v < 0 else v for v in perm]
    if sorted(perm) != list(range(rank)):
        raise c.fail(f"perm {perm} is not a permutation of 0..{rank - 1}")
    return perm


@register
class Transpose(OpDef):
    name = "TRANSPOSE"
    n_inputs = (2, 2)
    const_inputs = (1,)
    tflite_options = "TransposeOptions"

    def check(self, c: OpCall) -> None:
        x, y = c.inp(0), c.out()
        if x.dtype != y.dtype:
            raise c.fail(f"output dtype {y.dtype} must equal input dtype {x.dtype}")
        if not 1 <= len(x.shape) <= MAX_DIMS:
            raise c.fail(f"input rank {len(x.shape)} is not supported; valid: 1..{MAX_DIMS}")
        _perm(c)

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x = c.inp(0)
        return [tuple(x.shape[p] for p in _perm(c))]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        return [np.ascontiguousarray(np.transpose(xs[0], _perm(c)))]


#: Kernel parameters: the strided view (start, efm_strided_view fields) the node selects (edgefmr.ops.params).
kernel_params = index_view_params
