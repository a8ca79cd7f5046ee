"""BATCH_MATMUL -> kernels/batch_matmul.c (kernels/arm/batch_matmul.c on cores with the DSP extension)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, kernel_path, scratch_bytes
from edgefmr.firmware.c.emitters._common import contiguous_strides
from edgefmr.ops.batch_matmul import MAX_BATCH_DIMS, kernel_params, operand_perm
from edgefmr.ops.registry import OpCall

#: The Cortex-M kernel's pair path (2 x 2 blocks of int16-packed operands, kernels/arm/batch_matmul.c): products of
#: at most PAIR_MAX_GROUPS groups of four depth values whose packed rhs takes at most PAIR_MAX_RHS_BYTES of scratch.
PAIR_MAX_GROUPS = 8
PAIR_MAX_RHS_BYTES = 1024


def pair_path(rows: int, depth: int, cols: int, mult: int, shift: int, lhs_depth_stride: int = 1,
              rhs_depth_stride: int = 1, rhs_col_stride: int = 1) -> bool:
    """Whether the Cortex-M kernel runs the product on its pair path (the same rule as the kernel's
    efm_bmm_pair_all): an even number (2 or more) of rows and of columns, a depth that is a multiple of 4 with at
    most PAIR_MAX_GROUPS groups, the lhs contiguous along the depth and the rhs along the depth or the columns, the
    32-bit requantization (shift -1..-22) and at most PAIR_MAX_RHS_BYTES of packed rhs."""
    groups = depth // 4
    return (rows >= 2 and rows % 2 == 0 and cols % 2 == 0 and depth % 4 == 0 and 0 < groups <= PAIR_MAX_GROUPS
            and 16 * groups * (cols // 2) <= PAIR_MAX_RHS_BYTES and 1 <= -shift <= 22 and mult >= 0
            and lhs_depth_stride == 1 and (rhs_depth_stride == 1 or rhs_col_stride == 1))


def arm_block_rows(rows: int, lean: bool = False, pair: bool = False) -> int:
    """Lhs rows per block of the Cortex-M kernel: 2 on the pair path (`pair`, not `lean`), else six rows per
    register-blocked panel when there are at least six (and not `lean`), else four."""
    if pair and not lean:
        return 2
    return 6 if rows >= 6 and not lean else 4


def arm_scratch_bytes(rows: int, depth: int, cols: int, rhs_depth_contiguous: bool, lean: bool = False,
                      pair: bool = False) -> int:
    """The Cortex-M kernel's scratch. On the pair path (`pair`, not `lean`): two lhs rows and the rhs of a batch
    packed to int16 pairs (16 bytes per group of four depth values and row pair or column pair). Else a block of lhs
    rows unpacked to int16 (arm_block_rows; 8 bytes per group of four depth values and row, and a sentinel word; with 4
    rows or more, when the depth is a multiple of 4 or the rhs is transposed) and, when the rhs does not run
    contiguously along the depth (adj_y false), the rhs transposed to int8 [cols, depth rounded up to a multiple of
    4]."""
    if pair and not lean:
        return 4 * depth + 4 * depth * (cols // 2)
    dpad = depth if rhs_depth_contiguous else -(-depth // 4) * 4
    panels = rows >= 4 and (dpad >= 4 and dpad % 4 == 0)
    xs = arm_block_rows(rows, lean) * (dpad // 4) * 8 + 4 if panels else 0
    return xs + (0 if rhs_depth_contiguous else cols * dpad)


def operand_strides(c: OpCall) -> tuple[tuple[int, ...], tuple[int, ...], list[int], list[int]]:
    """(lhs shape, rhs shape, lhs strides, rhs strides) as the product sees the operands, padded in front to the
    common rank: the stored tensors' row-major strides, read through lhs_perm / rhs_perm (transpose folding)."""
    shapes, strides = [], []
    for i in (0, 1):
        stored = tuple(c.inp(i).shape)
        st = contiguous_strides(stored)
        perm = operand_perm(c, i)
        if perm is not None:
            stored, st = tuple(stored[p] for p in perm), [st[p] for p in perm]
        shapes.append(stored)
        strides.append(st)
    rank = max(len(shapes[0]), len(shapes[1]))
    for i in (0, 1):
        pad = rank - len(shapes[i])
        shapes[i], strides[i] = (1,) * pad + shapes[i], [0] * pad + strides[i]
    return shapes[0], shapes[1], strides[0], strides[1]


def _rhs_depth_stride(c: OpCall) -> int:
    _, _, _, rstr = operand_strides(c)
    return rstr[-1] if c.attrs["adj_y"] else rstr[-2]


def _pair(c: OpCall) -> bool:
    """pair_path of the node, with the operand strides the kernel sees (transposes folded)."""
    kp = kernel_params(c)
    _, _, lstr, rstr = operand_strides(c)
    ldep = lstr[-2] if c.attrs["adj_x"] else lstr[-1]
    rdep, rcol = (rstr[-1], rstr[-2]) if c.attrs["adj_y"] else (rstr[-2], rstr[-1])
    return pair_path(kp["rows"], kp["depth"], kp["cols"], kp["mult"], kp["shift"], ldep, rdep, rcol)


@kernel_path("BATCH_MATMUL")
def path(c: OpCall, arm: frozenset) -> str:
    """"portable", else the Cortex-M kernel's "pair" path (pair_path), "panels" (lhs contiguous along the depth) or
    "strided" (the kernel's C loop)."""
    if "batch_matmul" not in arm:
        return "portable"
    if _pair(c):
        return "pair"
    _, _, lstr, _ = operand_strides(c)
    return "panels" if (lstr[-2] if c.attrs["adj_x"] else lstr[-1]) == 1 else "strided"


@scratch_bytes("BATCH_MATMUL")
def scratch(c: OpCall, arm: frozenset, lean: bool = False) -> int:
    """arm_scratch_bytes of the Cortex-M kernel (none when the lhs is not contiguous along the depth)."""
    if "batch_matmul" not in arm:
        return 0
    rows, cols = c.out().shape[-2], c.out().shape[-1]
    ls, _, lstr, _ = operand_strides(c)
    depth = ls[-2] if c.attrs["adj_x"] else ls[-1]
    if (lstr[-2] if c.attrs["adj_x"] else lstr[-1]) != 1:
        return 0
    return arm_scratch_bytes(rows, depth, cols, _rhs_depth_stride(c) == 1, lean, _pair(c))


@emitter("BATCH_MATMUL")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    yt = c.out()
    batch = list(yt.shape[:-2])
    if len(batch) > MAX_BATCH_DIMS:
        raise ctx.fail(f"{len(batch)} batch dimensions; the kernel handles {MAX_BATCH_DIMS}")
    strides: dict[str, object] = {}
    if operand_perm(c, 0) is not None or operand_perm(c, 1) is not None:
        # Transpose folding (lhs_perm / rhs_perm): the operands are read through the permuted stored strides.
        ls, rs, lstr, rstr = operand_strides(c)
        lb = [0 if ls[d] == 1 and batch[d] != 1 else lstr[d] for d in range(len(batch))]
        rb = [0 if rs[d] == 1 and batch[d] != 1 else rstr[d] for d in range(len(batch))]
        pad = MAX_BATCH_DIMS - len(batch)
        lrow, ldep = (lstr[-1], lstr[-2]) if c.attrs["adj_x"] else (lstr[-2], lstr[-1])
        rdep, rcol = (rstr[-1], rstr[-2]) if c.attrs["adj_y"] else (rstr[-2], rstr[-1])
        strides = {"lhs_batch_stride": [0] * pad + lb, "rhs_batch_stride": [0] * pad + rb, "lhs_row_stride": lrow,
                   "lhs_depth_stride": ldep, "rhs_depth_stride": rdep, "rhs_col_stride": rcol}
    arm = frozenset(ctx.option("arm", frozenset()))
    rows_arm = arm_block_rows(yt.shape[-2], ctx.lean, _pair(c)) if "batch_matmul" in arm else 0
    p = ctx.param_fields("efm_batch_matmul_params", kernel_params(c), **strides,
                         y_row_stride=ctx.option("y_row_stride", yt.shape[-1]), arm_block_rows=rows_arm)
    scratch_ptr = ctx.scratch("void") if scratch(c, arm, ctx.lean) else "NULL"
    return Emitted(f"efm_batch_matmul({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.out()}, {scratch_ptr});",
                   ("batch_matmul",))
