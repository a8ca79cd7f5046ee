"""Graph-to-graph passes over the IR; each keeps the reference interpreter's results bit for bit.

`optimize(g)` applies the passes every code generator uses (a new graph; `g` is not changed): TensorFlow's int8
LayerNorm chains fused into LAYER_NORM_CHAIN / ADD_LAYER_NORM_CHAIN nodes (`layer_norm`). `fold_transposes` folds
TRANSPOSEs that only feed BATCH_MATMUL operands into the products' operand strides (`fold_transpose`; the C build
applies it outside its fused attention steps).
"""

from __future__ import annotations

from edgefmr.ir.graph import Graph
from edgefmr.ir.passes.fold_transpose import fold_transposes, fold_transposes_origin
from edgefmr.ir.passes.layer_norm import fuse_layer_norm, fuse_layer_norm_origin

__all__ = ["fold_transposes", "fold_transposes_origin", "fuse_layer_norm", "optimize", "optimize_origin"]


def optimize(g: Graph) -> Graph:
    """`g` with TensorFlow's int8 LayerNorm chains fused (edgefmr.ir.passes.layer_norm)."""
    return optimize_origin(g)[0]


def optimize_origin(g: Graph) -> tuple[Graph, list[list[int]]]:
    """optimize(g), and for each node of the result the indices of the nodes of `g` it computes (so that reports
    about the generated code can name the user's nodes)."""
    return fuse_layer_norm_origin(g)
