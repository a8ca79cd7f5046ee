"""Graph-to-graph passes over the IR; each keeps the reference interpreter's results bit for bit.

`optimize(g)` applies every pass the code generators use (a new graph; `g` is not changed).
"""

from __future__ import annotations

from edgefmr.ir.graph import Graph
from edgefmr.ir.passes.layer_norm import fuse_layer_norm

__all__ = ["fuse_layer_norm", "optimize"]


def optimize(g: Graph) -> Graph:
    """`g` with TensorFlow's int8 LayerNorm chains fused into LAYER_NORM_CHAIN nodes (edgefmr.ir.passes.layer_norm)."""
    return fuse_layer_norm(g)
