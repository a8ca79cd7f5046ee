"""DEPTHWISE_CONV_2D -> kernels/depthwise_conv_2d.c (kernels/arm/depthwise_conv_2d.c on cores with the DSP
extension)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, scratch_bytes
from edgefmr.firmware.c.emitters.conv_2d import requant_words
from edgefmr.ops.conv_2d import conv_multipliers
from edgefmr.ops.depthwise_conv_2d import kernel_params
from edgefmr.ops.registry import OpCall


def _pairs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """int16 pairs (lo | hi << 16) as uint32 words."""
    return (lo.astype(np.int64) & 0xFFFF) | ((hi.astype(np.int64) & 0xFFFF) << 16)


def arm_depthwise_rows(c: OpCall) -> np.ndarray | None:
    """The Cortex-M kernel's packed weights of DEPTHWISE_CONV_2D node `c` (int32 words; see
    kernels/arm/depthwise_conv_2d.c), or None where it runs the portable loop (a multiplier or accumulator range
    its 32-bit requantization does not cover)."""
    xt, wt, yt = c.inp(0), c.inp(1), c.out()
    bt = c.inp(2) if len(c.node.inputs) > 2 else None
    _, kh, kw, o = wt.shape
    ch = xt.shape[3]
    dm = o // ch
    taps = kh * kw
    w = wt.data.astype(np.int64).reshape(taps, o)
    bias = bt.data.astype(np.int64) if bt is not None else np.zeros(o, np.int64)
    adj = bias - xt.zero_point * w.sum(axis=0)
    mult, shift = conv_multipliers(xt, wt, yt, o)
    words = requant_words(mult, shift, adj, 128 * np.abs(w).sum(axis=0), yt.zero_point)
    if words is None:
        return None
    groups = []
    for m in range(dm):
        for c0 in range(0, ch, 4):
            oc = [(c0 + j) * dm + m if c0 + j < ch else -1 for j in range(4)]
            wq = np.stack([2 * w[:, k] if k >= 0 else np.zeros(taps, np.int64) for k in oc], axis=1)  # [taps, 4]
            rq = np.stack([words[k] if k >= 0 else np.array([0, 0, 0, 1]) for k in oc])  # {2 adj, M, c, R}
            taps_words = np.stack([_pairs(wq[:, 0], wq[:, 2]), _pairs(wq[:, 1], wq[:, 3])], axis=1).ravel()
            groups.append(np.concatenate([rq[:, 0], taps_words, rq[:, 1:].ravel()]))
    return np.concatenate(groups).astype(np.int64).astype(np.uint32).view(np.int32)


@scratch_bytes("DEPTHWISE_CONV_2D")
def scratch(c: OpCall, arm: frozenset, lean: bool = False) -> int:
    """The Cortex-M kernel's zero-point row (in_c bytes, rounded up to 4) and two tap tables (an offset per tap and
    nine words each)."""
    if "depthwise_conv_2d" not in arm or arm_depthwise_rows(c) is None:
        return 0
    return -(-c.inp(0).shape[3] // 4) * 4 + 8 * (c.inp(1).shape[1] * c.inp(1).shape[2] + 9)


@emitter("DEPTHWISE_CONV_2D")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    rows = arm_depthwise_rows(c) if "depthwise_conv_2d" in ctx.option("arm", frozenset()) else None
    if rows is None:
        weights, bias, scratch_ptr, arm = ctx.inp(1), ctx.inp(2), "NULL", {}
    else:  # the packed groups hold the weights, the folded bias and the multipliers
        weights = f"(const int8_t *)(const void *){ctx.array(rows, 'int32_t')}"
        bias, scratch_ptr, arm = "NULL", ctx.scratch("void"), {"mult": None, "shift": None}
    p = ctx.param_fields("efm_depthwise_conv_2d_params", kernel_params(c), **arm)
    args = f"{p}, {ctx.inp(0)}, {weights}, {bias}, {ctx.out()}"
    if rows is None and "depthwise_conv_2d" in ctx.option("arm", frozenset()):
        return Emitted(f"efm_depthwise_conv_2d_portable({args});", ("depthwise_conv_2d",))
    return Emitted(f"efm_depthwise_conv_2d({args}, {scratch_ptr});", ("depthwise_conv_2d",))
