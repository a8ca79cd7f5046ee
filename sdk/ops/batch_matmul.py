"""BATCH_MATMUL: int8 x int8 -> int8 batched matrix product with broadcast batch dims (TFLite semantics).

Both operands may be activations (attention: Q·Kᵀ, P·V) or constants; per-tensor quantization only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.params import contiguous_strides
from edgefmr.ops.registry import Attr, OpCall, OpDef, register


def operand_perm(c: OpCall, i: int) -> list[int] | None:
    """The permutation operand i (0 lhs, 1 rhs) is read through (attribute lhs_perm / rhs_perm, None: as stored).
    Only edgefmr's transpose-folding pass (edgefmr.ir.passes.fold_transposes) sets it, for the C build."""
    perm = c.attrs["lhs_perm" if i == 0 else "rhs_perm"]
    if perm is None:
        return None
    perm = [int(v) for v in perm]
    if sorted(perm) != list(range(len(c.inp(i).shape))):
        raise c.fail(f"{'lhs' if i == 0 else 'rhs'}_perm {perm} is not a permutation of the operand's axes")
    return perm


def operand_shape(c: OpCall, i: int) -> tuple[int, ...]:
    """The shape of operand i as the product sees it (after its permutation, before adj_x / adj_y)."""
    shape = tuple(c.inp(i).shape)
    perm = operand_perm(c, i)
    return shape if perm is None else tuple(shape[p] for p in perm)


def _matrices(c: OpCall) -> tuple[tuple[int, ...], int, int, int, int]:
    """(broadcast batch shape, rows, depth of lhs, depth of rhs, cols) after adj_x / adj_y."""
    lsh, rsh = operand_shape(c, 0), operand_shape(c, 1)
    for sh, which in ((lsh, "lhs"), (rsh, "rhs")):
        if not 2 <= len(sh) <= 5:
            raise c.fail(f"{which} must have 2 to 5 dimensions, got {list(sh)}")
    rank = max(len(lsh), len(rsh))
    ls = (1,) * (rank - len(lsh)) + lsh
    rs = (1,) * (rank - len(rsh)) + rsh
    batch = []
    for dl, dr in zip(ls[:-2], rs[:-2], strict=True):
        if dl != dr and dl != 1 and dr != 1:
            raise c.fail(f"batch dimensions of {list(lsh)} and {list(rsh)} do not broadcast")
        batch.append(dr if dl == 1 else dl)
    rows, kl = (ls[-1], ls[-2]) if c.attrs["adj_x"] else (ls[-2], ls[-1])
    kr, cols = (rs[-1], rs[-2]) if c.attrs["adj_y"] else (rs[-2], rs[-1])
    return tuple(batch), rows, kl, kr, cols


@register
class BatchMatMul(OpDef):
    name = "BATCH_MATMUL"
    n_inputs = (2, 2)
    tflite_options = "BatchMatMulOptions"
    attrs = {"adj_x": Attr(False, "adjX", choices=(False, True)), "adj_y": Attr(False, "adjY", choices=(False, True)),
             "lhs_perm": Attr(None), "rhs_perm": Attr(None)}

    def check(self, c: OpCall) -> None:
        lt, rt, yt = c.inp(0), c.inp(1), c.out()
        if (lt.dtype, rt.dtype, yt.dtype) != ("int8", "int8", "int8"):
            raise c.fail(f"needs int8 lhs/rhs/output, got {lt.dtype}/{rt.dtype}/{yt.dtype}")
        for t, which in ((lt, "lhs"), (rt, "rhs"), (yt, "output")):
            if t.quant is None or t.quant.per_axis:
                raise c.fail(f"{which} needs per-tensor quantization")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        batch, rows, kl, kr, cols = _matrices(c)
        if kl != kr:
            raise c.fail(f"inner dimensions differ: lhs {list(c.inp(0).shape)} (adj_x={c.attrs['adj_x']}) and "
                         f"rhs {list(c.inp(1).shape)} (adj_y={c.attrs['adj_y']})")
        return [(*batch, rows, cols)]

    def macs(self, c: OpCall) -> int:
        _, _, k, _, _ = _matrices(c)
        return c.out().size * k

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        lhs, rhs = xs
        lt, rt, yt = c.inp(0), c.inp(1), c.out()
        lp, rp = operand_perm(c, 0), operand_perm(c, 1)
        lhs = lhs if lp is None else np.transpose(lhs, lp)
        rhs = rhs if rp is None else np.transpose(rhs, rp)
        a = lhs.astype(np.int64) - lt.zero_point
        b = rhs.astype(np.int64) - rt.zero_point
        if c.attrs["adj_x"]:
            a = np.swapaxes(a, -1, -2)
        if c.attrs["adj_y"]:
            b = np.swapaxes(b, -1, -2)
        acc = np.matmul(a, b)
        # TFLite: the float32 product of the two input scales, then divided in double by the output scale.
        m = float(np.float32(lt.scale) * np.float32(rt.scale)) / yt.scale
        mult, shift = fp.quantize_multiplier(m)
        # LiteRT 2.3's reference BATCH_MATMUL requantizes with gemmlowp's double rounding.
        out = fp.multiply_by_quantized_multiplier_double(acc, mult, shift) + yt.zero_point
        return [np.clip(out, -128, 127).astype(np.int8).reshape(yt.shape)]


#: Batch dimensions of the kernel (efm_batch_matmul_params).
MAX_BATCH_DIMS = 3


def requant(lt, rt, yt) -> tuple[int, int]:
    """The multiplier of the reference kernel: float32(s_l * s_r) / s_y (double rounding at run time)."""
    return fp.quantize_multiplier(float(np.float32(lt.scale) * np.float32(rt.scale)) / yt.scale)


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_batch_matmul_params: batch counts and per-operand batch strides (0 on broadcast, padded to
    MAX_BATCH_DIMS), the row / depth / column strides of the adjoint forms, zero points and the multiplier;
    y_row_stride is the dense one (cols)."""
    lt, rt, yt = c.inp(0), c.inp(1), c.out()
    rank = max(len(lt.shape), len(rt.shape))
    ls = (1,) * (rank - len(lt.shape)) + tuple(lt.shape)
    rs = (1,) * (rank - len(rt.shape)) + tuple(rt.shape)
    batch = list(yt.shape[:-2])
    if len(batch) > MAX_BATCH_DIMS:
        raise c.fail(f"{len(batch)} batch dimensions; the kernel handles {MAX_BATCH_DIMS}")
    lstr, rstr = contiguous_strides(ls), contiguous_strides(rs)
    lb = [0 if ls[d] == 1 and batch[d] != 1 else lstr[d] for d in range(len(batch))]
    rb = [0 if rs[d] == 1 and batch[d] != 1 else rstr[d] for d in range(len(batch))]
    pad = MAX_BATCH_DIMS - len(batch)
    rows, cols = yt.shape[-2], yt.shape[-1]
    depth = ls[-2] if c.attrs["adj_x"] else ls[-1]
    lrow, ldep = (1, rows) if c.attrs["adj_x"] else (depth, 1)
    rdep, rcol = (1, depth) if c.attrs["adj_y"] else (cols, 1)
    mult, shift = requant(lt, rt, yt)
    return {"batch_count": [1] * pad + batch, "lhs_batch_stride": [0] * pad + lb, "rhs_batch_stride": [0] * pad + rb,
            "rows": rows, "depth": depth, "cols": cols, "lhs_row_stride": lrow, "lhs_depth_stride": ldep,
            "rhs_depth_stride": rdep, "rhs_col_stride": rcol, "y_row_stride": cols, "lhs_zp": lt.zero_point,
            "rhs_zp": rt.zero_point, "output_zp": yt.zero_point, "mult": mult, "shift": shift}
