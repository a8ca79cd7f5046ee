"""BINARY_FULLY_CONNECTED -> kernels/binary_fully_connected.c (kernels/arm/binary_fully_connected.c on cores with
the DSP extension)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, scratch_bytes
from edgefmr.ops.binary_fully_connected import kernel_params, unpack_bits
from edgefmr.ops.registry import OpCall


@scratch_bytes("BINARY_FULLY_CONNECTED")
def scratch(c: OpCall, arm: frozenset, lean: bool = False) -> int:
    """The Cortex-M kernel's input row as unsigned bytes, padded to whole weight bytes."""
    return 8 * c.inp(1).shape[1] if "binary_fully_connected" in arm else 0


@emitter("BINARY_FULLY_CONNECTED")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, wt, bt = c.inp(0), c.inp(1), c.inp(2)
    depth = xt.shape[-1]
    bias_adj, scratch_ptr = "NULL", "NULL"
    if "binary_fully_connected" in ctx.option("arm", frozenset()):
        # sum_selected (x - zp) = sum_selected (x + 128) - (128 + zp) n, n = the weight row's popcount
        ones = unpack_bits(wt.data, depth).astype(np.int64).sum(axis=1)
        adj = -2 * (128 + xt.zero_point) * ones
        if bt is not None:
            adj = adj + bt.data.astype(np.int64)
        bias_adj = ctx.array(adj, "int64_t")
        scratch_ptr = ctx.scratch("void")
    p = ctx.param_fields("efm_binary_fully_connected_params", kernel_params(c), bias_adj=bias_adj)
    return Emitted(f"efm_binary_fully_connected({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.out()}, "
                   f"{scratch_ptr});", ("binary_fully_connected",))
