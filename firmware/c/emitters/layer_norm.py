"""LAYER_NORM -> kernels/layer_norm.c (parameters from edgefmr.ops.layer_norm.LayerNorm.params); on cores with the
DSP extension kernels/arm/layer_norm.c with a per-channel requantization table."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.layer_norm import kernel_params


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
    yt = c.out()
    kp = kernel_params(c)
    mult, shift = kp["mult"].tolist(), kp["shift"].tolist()
    table = None
    if "layer_norm" in ctx.option("arm", frozenset()):
        beta = c.inp(2)
        table = requant_table(mult, shift, yt.zero_point, None if beta is None else beta.data)
    if table is not None:
        arm = {"mult": None, "shift": None, "requant": ctx.array(table, "int32_t")}
    else:
        arm = {"requant": None}
    p = ctx.param_fields("efm_layer_norm_params", kp, **arm)
    return Emitted(f"efm_layer_norm({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.out()});", ("layer_norm",),
                   inplace=(0,))
