"""FULLY_CONNECTED -> kernels/fully_connected.c (kernels/arm/fully_connected.c on cores with the DSP extension)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, kernel_path, scratch_bytes
from edgefmr.ops.fully_connected import kernel_params
from edgefmr.ops.registry import OpCall

#: Rows the Cortex-M kernel processes together: blocks of six where the op has at least six rows and the two extra
#: unpacked rows cost at most ARM_ROWS6_MAX_EXTRA bytes of scratch, else (and in the lean variant) four.
ARM_ROWS = 4
ARM_ROWS6_MAX_EXTRA = 1024


def arm_block_rows(rows: int, depth: int, lean: bool = False) -> int:
    """The Cortex-M kernel's row block (6 or 4) for `rows` x `depth` inputs (4 in the lean variant)."""
    return 6 if rows >= 6 and 2 * (depth // 4) * 8 <= ARM_ROWS6_MAX_EXTRA and not lean else ARM_ROWS


@scratch_bytes("FULLY_CONNECTED")
def scratch(c: OpCall, arm: frozenset, lean: bool = False) -> int:
    """The Cortex-M kernel unpacks a block of input rows (arm_block_rows) to int16 pairs: rows x depth x 2 bytes
    (whole groups of 4), and a sentinel word; with fewer rows than a block (matrix-vector: w16_weights), one row
    as int16 and an int32 accumulator per output feature."""
    depth = c.inp(1).shape[1]
    rows = c.inp(0).size // depth
    if "fully_connected" not in arm:
        return 0
    if rows < ARM_ROWS:
        return align4(2 * depth) + 4 * c.inp(1).shape[0] if depth >= 8 else 0
    if depth < 4:
        return 0
    return arm_block_rows(rows, depth, lean) * (depth // 4) * 8 + 4


def align4(n: int) -> int:
    return (n + 3) // 4 * 4


def w16_weights(w: np.ndarray) -> np.ndarray:
    """The int16 weights of the Cortex-M matrix-vector path: features in pairs, per pair and group of 8 inputs the 8
    weights of each feature, in the widened input's lane order (w0, w2, w1, w3 per four) ([cols // 2, depth // 8, 2,
    8]; an odd last feature and depth % 8 stay in int8)."""
    cols, depth = w.shape
    g = depth // 8
    lanes = w[: cols // 2 * 2, : g * 8].reshape(-1, 2 * g, 4)[:, :, [0, 2, 1, 3]]  # the input's SXTB16 lane order
    pairs = lanes.astype(np.int16).reshape(cols // 2, 2, g, 8)
    return np.ascontiguousarray(pairs.transpose(0, 2, 1, 3)).reshape(-1)


def requant32_table(mult: list[int], shift: list[int], adj: np.ndarray, depth: int, zp: int = 0) -> np.ndarray:
    """{M, offset, rshift, adj} per output feature for the Cortex-M kernel's 32-bit requantization, exact where the
    multiplier is below 1 (shift <= -1) and |sum x w| + |adj| < 2^31 (|x w| <= 128 * 127): SMMULR + zp (rshift 0,
    offset zp) or (SMMUL + 2^(rshift-1) + zp 2^rshift) >> rshift, the output zero point folded in before the shift
    (exact while the offset stays below 2^30: SMMUL's result is below 2^30 in magnitude); rshift -2 elsewhere."""
    rows = []
    for m, e, a in zip(mult, shift, np.asarray(adj, np.int64).tolist(), strict=True):
        rs = -e - 1
        off = zp if rs == 0 else (1 << (rs - 1)) + (zp << rs) if rs > 0 else 0
        if e <= -1 and abs(a) + 16256 * depth < 2**31 and abs(off) < 2**30:
            rows.append([m, off, rs, a])
        else:
            rows.append([m, 0, -2, 0])
    return np.asarray(rows, np.int64)


def arm_requant(c: OpCall) -> tuple[np.ndarray, np.ndarray]:
    """(adj, requant32_table) of the Cortex-M kernel: sum_k (x_k - zp) w_k + b = sum_k x_k w_k + adj with
    adj = b - zp sum_k w_k (exact in 64 bits)."""
    xt, wt, bt, yt = c.inp(0), c.inp(1), c.inp(2), c.out()
    kp = kernel_params(c)
    adj = -xt.zero_point * wt.data.astype(np.int64).sum(axis=1)
    if bt is not None:
        adj = adj + bt.data.astype(np.int64)
    return adj, requant32_table(kp["mult"].tolist(), kp["shift"].tolist(), adj, wt.shape[1], yt.zero_point)


def arm_paths(c: OpCall, table: np.ndarray) -> tuple[bool, bool]:
    """(matrix-vector, panels) of the Cortex-M kernel for a node with requant32_table `table`: the matrix-vector
    loop (w16_weights) for fewer than ARM_ROWS rows of depth >= 8 and 2 or more features; the register-blocked
    panels for whole groups of four; both need the 32-bit requantization of every feature (else the kernel's C
    path)."""
    cols, depth = c.inp(1).shape
    rows = c.inp(0).size // depth
    exact = bool((table[:, 2] >= 0).all())
    return rows < ARM_ROWS and depth >= 8 and cols >= 2 and exact, depth % 4 == 0 and exact


@kernel_path("FULLY_CONNECTED")
def path(c: OpCall, arm: frozenset) -> str:
    """"portable", else the Cortex-M kernel's "mv" (matrix-vector loop), "panels" or "c" (arm_paths)."""
    if "fully_connected" not in arm:
        return "portable"
    mv, panels = arm_paths(c, arm_requant(c)[1])
    return "mv" if mv else "panels" if panels else "c"


@emitter("FULLY_CONNECTED")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, wt = c.inp(0), c.inp(1)
    depth = wt.shape[1]
    kp = kernel_params(c)
    arm = "fully_connected" in ctx.option("arm", frozenset())
    bias_adj, scratch_ptr, requant32 = "NULL", "NULL", "NULL"
    mv = panels = False
    if arm:
        adj, table = arm_requant(c)
        mv, panels = arm_paths(c, table)
        bias_adj = ctx.array(adj, "int64_t")
        # Flat: the first feature's adj, then per feature {M, offset, rshift, adj of the next feature} (0 after the
        # last): the kernel's requant32 points at the first row, each feature's adj the word before its row.
        flat = np.concatenate([table[:1, 3], np.concatenate([table[:, :3], np.append(table[1:, 3], 0)[:, None]], 1)
                               .reshape(-1)])
        requant32 = ctx.array(flat, "int32_t") + " + 1"
        if scratch(c, frozenset({"fully_connected"})):
            scratch_ptr = ctx.scratch("void")
    rows = xt.size // depth
    w16 = ctx.array(w16_weights(wt.data), "int16_t") if mv else "NULL"  # the matrix-vector path (streaming steps)
    # arm_block_rows 0: the kernel's C path
    p = ctx.param_fields("efm_fully_connected_params", kp, bias_adj=bias_adj, requant32=requant32,
                         arm_block_rows=arm_block_rows(rows, depth, ctx.lean) if panels else 0, w16=w16)
    return Emitted(f"efm_fully_connected({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.out()}, "
                   f"{scratch_ptr});", ("fully_connected",))
