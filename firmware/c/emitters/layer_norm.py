"""LAYER_NORM -> kernels/layer_norm.c (parameters from edgefmr.ops.layer_norm.LayerNorm.params); on cores with the
DSP extension kernels/arm/layer_norm.c with a per-channel requantization table."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import per_channel


def requant_table(mult: list[int], shift: list[int], zero_point: int, beta: np.ndarray | None) -> np.ndarray | None:
    """{M, 2^(r-1), r, zp + beta} per channel for the Cortex-M kernel's 32-bit requantization
    (SMMLA + arithmetic shift by r = -shift - 1), or None when a shift is above -2 (it then uses mult/shift)."""
    if max(shift) > -2:
        return None
    b = np.zeros(len(mult), np.int64) if beta is None else beta.astype(np.int64)
    rows = [[m, 1 << (-e - 2), -e - 1, zero_point + int(bb)] for m, e, bb in zip(mult, shift, b, strict=True)]
    return np.asarray(rows, np.int64)


@emitter("LAYER_NORM")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, yt = c.inp(0), c.out()
    ch = xt.shape[-1]
    e, mult, shift = c.opdef.params(c)
    mult, shift = per_channel(mult, ch), per_channel(shift, ch)
    table = None
    if "layer_norm" in ctx.option("arm", frozenset()):
        beta = c.inp(2)
        table = requant_table(mult, shift, yt.zero_point, None if beta is None else beta.data)
    if table is not None:
        arrays = {"mult": "NULL", "shift": "NULL", "requant": ctx.array(table, "int32_t")}
    else:
        arrays = {"mult": ctx.array(mult, "int32_t"), "shift": ctx.array(shift, "int32_t"), "requant": "NULL"}
    p = ctx.params("efm_layer_norm_params", rows=xt.size // ch, channels=ch, eps=int(e), output_zp=yt.zero_point,
                   **arrays)
    return Emitted(f"efm_layer_norm({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.out()});", ("layer_norm",),
                   inplace=(0,))
