"""SPIKE_FULLY_CONNECTED -> kernels/spike_fully_connected.c (kernels/arm/spike_fully_connected.c, event-driven, on
cores with the DSP extension)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, scratch_bytes
from edgefmr.ops.registry import OpCall
from edgefmr.ops.spike_fully_connected import kernel_params


@scratch_bytes("SPIKE_FULLY_CONNECTED")
def scratch(c: OpCall, arm: frozenset, lean: bool = False) -> int:
    """The Cortex-M kernel's list of active inputs of one row: depth + 3 int32 (its count, the offsets, the end and
    the entry the pairwise reads may load after it)."""
    return 4 * (c.inp(1).shape[1] + 3) if "spike_fully_connected" in arm else 0


def transposed_weights(w: np.ndarray) -> tuple[np.ndarray, int]:
    """([depth + 1][cols_pad] int8, cols_pad): the weights of each input contiguous, the outputs padded with zeros
    to a multiple of 4, then a row of zeros (what an odd list of active inputs is padded with)."""
    cols, depth = w.shape
    cp = -(-cols // 4) * 4
    wt = np.zeros((depth + 1, cp), np.int8)
    wt[:depth, :cols] = w.T
    return wt, cp


def requant32_table(mult: list[int], shift: list[int], bias: list[int], depth: int, zp: int) -> np.ndarray | None:
    """{bias, M, 2^(t-33) + zp 2^(t-32), t - 32} per output feature (t = 31 - shift) for the Cortex-M kernel's
    32-bit requantization, SMMLA(acc + bias, M, round) >> (t - 32): exact when t >= 33 (the low word of the product
    cannot change the floor), acc + bias fits 32 bits (|acc| <= 128 depth) and the folded rounding and zero point
    stay below 2^30 in magnitude (the high word is below 2^30). None when any output feature misses that."""
    rows = []
    for m, e, b in zip(mult, shift, bias, strict=True):
        t = 31 - e
        if t < 33 or abs(b) + 128 * depth >= 2**31:
            return None
        rs = t - 32
        rnd = (1 << (t - 33)) + (zp << rs)
        if rs > 30 or abs(rnd) >= 2**30:
            return None
        rows.append([b, m, rnd, rs])
    return np.asarray(rows, np.int64)


@emitter("SPIKE_FULLY_CONNECTED")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    wt, bt, yt = c.inp(1), c.inp(2), c.out()
    cols, depth = wt.shape
    kp = kernel_params(c)
    mult, shift = kp["mult"].tolist(), kp["shift"].tolist()
    cols_pad, requant32, scratch_ptr = 0, "NULL", "NULL"
    if "spike_fully_connected" not in ctx.option("arm", frozenset()):
        weights = ctx.inp(1)
    else:
        wtr, cols_pad = transposed_weights(wt.data)
        weights = ctx.array(wtr, "int8_t")
        bias = [int(v) for v in bt.data] if bt is not None else [0] * cols
        table = requant32_table(mult, shift, bias, depth, yt.zero_point)
        if table is not None:
            requant32 = ctx.array(table, "int32_t")
        scratch_ptr = ctx.scratch("void")
    # The 64-bit requantization's parameters (not read when the 32-bit table is there).
    arrays = {"mult": None, "shift": None} if requant32 != "NULL" else {}
    count = 0  # one output feature, every weight the same nonzero value: a spike count (kernels/arm)
    if cols_pad and cols == 1 and wt.data.min() == wt.data.max() != 0:
        count = int(wt.data.flat[0])
    p = ctx.param_fields("efm_spike_fully_connected_params", kp, **arrays, cols_pad=cols_pad, requant32=requant32,
                         **({"arm_count": count} if count else {}))
    return Emitted(f"efm_spike_fully_connected({p}, {ctx.inp(0, 'uint8_t')}, {weights}, {ctx.inp(2)}, "
                   f"{ctx.out()}, {scratch_ptr});", ("spike_fully_connected",))
