"""Kernel bench records of the matrix products (project issue #15): BATCH_MATMUL (attention Q.K^T and P.V) and
FULLY_CONNECTED, executed instructions per MAC, portable vs Cortex-M kernels (bench/kernels.py collects them)."""

from __future__ import annotations

import numpy as np

from edgefmr.device.semihost import fc_graph
from edgefmr.ir import Graph, GraphBuilder

#: FULLY_CONNECTED [rows, depth] x [cols, depth] shapes and the issue's bound (instructions per MAC, Cortex-M4).
FC_SHAPES = ((16, 256, 256), (64, 96, 96), (64, 96, 192), (64, 192, 96), (16, 64, 64), (144, 192, 192))
FC_TARGET = 0.9
#: BATCH_MATMUL (lhs shape, rhs shape, adj_y) and the issue's bound (every form): Q.K^T and P.V of a 64-token ViT
#: with 4 heads of 24, and of the 16-token ViTs (2 or 4 heads of 16: the kernel's pair path).
BMM_SHAPES = (((4, 64, 24), (4, 64, 24), True, 1.3), ((4, 64, 64), (4, 64, 24), False, 1.3),
              ((2, 16, 16), (2, 16, 16), True, 1.3), ((2, 16, 16), (2, 16, 16), False, 1.3),
              ((4, 16, 16), (4, 16, 16), True, 1.3), ((4, 16, 16), (4, 16, 16), False, 1.3))


def bmm_graph(ls: tuple[int, ...], rs: tuple[int, ...], adj_y: bool, seed: int = 0
              ) -> tuple[Graph, list[list[np.ndarray]]]:
    """One BATCH_MATMUL of two int8 activations with zero points on both sides, and two input records."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder({"name": "bmm"})
    lhs = b.input("l", ls, scale=0.05, zero_point=-3)
    rhs = b.input("r", rs, scale=0.04, zero_point=5)
    depth = ls[-1]
    b.output(b.op("BATCH_MATMUL", [lhs, rhs], scale=0.02 * np.sqrt(depth), zero_point=-2, adj_y=adj_y))
    return b.build(), [[rng.integers(-128, 128, ls).astype(np.int8), rng.integers(-128, 128, rs).astype(np.int8)]
                       for _ in range(2)]


def bmm_shape(ls: tuple[int, ...], rs: tuple[int, ...], adj_y: bool) -> str:
    return f"{list(ls)}x{list(rs)}{'^T' if adj_y else ''}"


def records() -> list[dict]:
    from bench._kernel_util import op_records

    out: list[dict] = []
    for ls, rs, adj_y, target in BMM_SHAPES:
        g, recs = bmm_graph(ls, rs, adj_y)
        macs = int(np.prod(ls)) * (rs[-2] if adj_y else rs[-1])
        out += op_records("BATCH_MATMUL", bmm_shape(ls, rs, adj_y), g, recs, macs, "MAC", target)
    for rows, depth, cols in FC_SHAPES:
        g, recs = fc_graph(rows, depth, cols)
        out += op_records("FULLY_CONNECTED", f"{rows}x{depth}x{cols}", g, recs, rows * depth * cols, "MAC",
                          FC_TARGET)
    return out
