"""BATCH_MATMUL -> kernels/batch_matmul.h (both operands stored, pe x simd array; kernel parameters from
edgefmr.ops.batch_matmul)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, MacArray, acc_bits, hls_emitter
from edgefmr.ops.registry import OpCall


def dims(c: OpCall) -> MacArray:
    lt, yt = c.inp(0), c.out()
    cols = yt.shape[-1]
    depth = lt.shape[-2] if c.attrs["adj_x"] else lt.shape[-1]
    return MacArray(yt.size // max(cols, 1), cols, depth)


@hls_emitter("BATCH_MATMUL", dims)
def emit(ctx: HlsContext) -> HlsEmitted:
    c = ctx.c
    if c.attrs["lhs_perm"] is not None or c.attrs["rhs_perm"] is not None:
        raise ValueError("BATCH_MATMUL with folded transposes (lhs_perm / rhs_perm) is a C-build form; the HLS "
                         "backend takes the graph before edgefmr.ir.passes.fold_transposes")
    ctx.take("batch_count", "lhs_batch_stride", "rhs_batch_stride", "rows", "depth", "cols", "lhs_zp", "rhs_zp",
             "output_zp", "mult", "shift")
    f = ctx.params()
    rows, depth, cols = f["rows"], f["depth"], f["cols"]
    ctx.set(adj_x=bool(c.attrs["adj_x"]), adj_y=bool(c.attrs["adj_y"]),
            lhs_batches=c.inp(0).size // max(rows * depth, 1), rhs_batches=c.inp(1).size // max(depth * cols, 1),
            pe=ctx.folding.pe, simd=ctx.folding.simd, acc_bits=acc_bits(depth, 255 * 255))
    return HlsEmitted(("batch_matmul",), f"efm::batch_matmul<P>({ctx.inp(0)}, {ctx.inp(1)}, {ctx.out()});")
