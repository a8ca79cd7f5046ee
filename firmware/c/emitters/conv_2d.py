"""CONV_2D -> kernels/conv_2d.c (kernels/arm/conv_2d.c on cores with the DSP extension)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, kernel_path, scratch_bytes
from edgefmr.ops.conv_2d import conv_geometry, conv_multipliers, kernel_params
from edgefmr.ops.registry import OpCall

#: Column builders of the Cortex-M kernel (EFM_CONV_COL_* in kernels/conv_2d.h).
COL_1X1, COL_TAPS, COL_ROWS, COL_BYTES = 1, 2, 3, 4
#: Largest right shift of the Cortex-M kernel's 32-bit requantization (2^(R-1) + zp_y 2^R + |2 acc| / 2 < 2^31).
MAX_RSHIFT = 22
#: Control words the Cortex-M kernel keeps after its columns in the scratch.
CTRL_BYTES = 32
#: Largest int16 weight copy (flash bytes) made for the one or two pixels a convolution of four pixels or more has
#: left over after its blocks of four (they take the int8 weights beyond it: the copy would cost more flash than
#: the few pixels it speeds up are worth).
W16_TAIL_MAX_BYTES = 8192


def requant_words(mult: list[int], shift: list[int], adj: np.ndarray, acc_bound: np.ndarray,
                  output_zp: int) -> np.ndarray | None:
    """{2 adj, M, 2^(R-1) + zp_y 2^R, R} per output channel for the Cortex-M kernels' 32-bit double-rounding
    requantization, or None where it is not exact for some channel: it needs a right shift R = -shift in
    [1, MAX_RSHIFT] and |acc + adj| < 2^30 (acc_bound bounds |acc|; the kernels accumulate 2 (acc + adj))."""
    rows = []
    for m, e, a, bound in zip(mult, shift, np.asarray(adj, np.int64).tolist(),
                              np.asarray(acc_bound, np.int64).tolist(), strict=True):
        r = -e
        if not 1 <= r <= MAX_RSHIFT or bound + abs(a) >= 2**30:
            return None
        rows.append([2 * a, m, (1 << (r - 1)) + output_zp * (1 << r), r])
    return np.asarray(rows, np.int64)


@dataclass
class ArmConv:
    """How the Cortex-M kernel computes one CONV_2D node."""

    cols: int  # COL_*
    k4: int  # depth k_h k_w k_c rounded up to a multiple of 4
    rows: np.ndarray  # int32 words per output channel: {2 adj, K4 weight bytes, M, c, R}
    #: K4 <= 8: the small-depth path's rows (small_rows), which the kernel runs instead, without scratch
    small: np.ndarray | None = None

    @property
    def scratch(self) -> int:
        """Four int16 columns, the control words, and the byte-gathered window of COL_BYTES (none for the
        small-depth path)."""
        if self.small is not None:
            return 0
        return 8 * self.k4 + CTRL_BYTES + (self.k4 if self.cols == COL_BYTES else 0)


#: Largest padded depth of the small-depth path (its window and a channel's weights live in registers).
SMALL_K4 = 8
#: Bit of a small-depth row's R word that ends the kernel's channel loop after that row.
SMALL_LAST = 1 << 8


def small_rows(wb: np.ndarray, words: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The small-depth path's rows (kernels/arm/conv_2d.c, efm_cv_small) from the weights [O, K4] (K4 = 4 or 8,
    zeros past the depth) and {2 adj, M, c, R} per channel: per channel the K4 / 2 words of doubled weights in the
    lanes SXTB16 makes of the window ((w0, w2), (w1, w3), ...), then {2 adj, M, c, R}; with a clamp ([lo, hi]
    narrower than int8) {lo, hi} after the weights (K4 = 4) or after R (K4 = 8). Bit 8 of R marks the last row of
    the four-channel part (out_c // 4 blocks) and the last row."""
    o, k4 = wb.shape
    w2 = 2 * wb.astype(np.int64).reshape(o, k4 // 4, 4)
    lanes = np.stack([(w2[:, :, 0] & 0xFFFF) | (w2[:, :, 2] << 16), (w2[:, :, 1] & 0xFFFF) | (w2[:, :, 3] << 16)],
                     axis=2).reshape(o, k4 // 2)
    req = words.astype(np.int64).copy()
    quads = o // 4
    for r in {4 * quads - 1, o - 1} - {-1}:
        req[r, 3] |= SMALL_LAST
    clamp = np.tile(np.asarray([[lo, hi]], np.int64), (o, 1))
    if lo > -128 or hi < 127:
        parts = [lanes, clamp, req] if k4 == 4 else [lanes, req, clamp]
    else:
        parts = [lanes, req]
    out = np.concatenate(parts, axis=1)
    return ((out + 2**31) % 2**32 - 2**31).astype(np.int32)


def arm_conv(c: OpCall) -> ArmConv | None:
    """The Cortex-M kernel's plan for CONV_2D node `c`, or None where it runs the portable loop (grouped
    convolutions, multipliers >= 1/2 or tiny ones, accumulators that could leave 2^30)."""
    xt, wt, bt, yt = c.inp(0), c.inp(1), c.inp(2), c.out()
    o, kh, kw, ci = wt.shape
    if xt.shape[3] != ci or bt is None:
        return None
    depth = kh * kw * ci
    k4 = -(-depth // 4) * 4
    w = wt.data.astype(np.int64).reshape(o, depth)
    adj = bt.data.astype(np.int64) - xt.zero_point * w.sum(axis=1)
    mult, shift = conv_multipliers(xt, wt, yt, o)
    words = requant_words(mult, shift, adj, 128 * np.abs(w).sum(axis=1), yt.zero_point)
    if words is None:
        return None
    a = c.attrs
    (_, ow), (_, pl) = conv_geometry(c, (kh, kw))
    h_inside = pl == 0 and (ow - 1) * a["stride_w"] + (kw - 1) * a["dilation_w"] < xt.shape[2]
    if kh == kw == 1 and ci % 4 == 0:
        cols = COL_1X1
    elif ci % 4 == 0:
        cols = COL_TAPS
    elif a["dilation_w"] == 1 and (kw * ci) % 4 == 0 and h_inside:
        cols = COL_ROWS
    else:
        cols = COL_BYTES
    wb = np.zeros((o, k4), np.int8)
    wb[:, :depth] = wt.data.reshape(o, depth)
    packed = np.concatenate([words[:, :1], wb.view("<i4").astype(np.int64), words[:, 1:]], axis=1)
    small = None
    if k4 <= SMALL_K4:
        kp = kernel_params(c)
        small = small_rows(wb, words, max(kp["act_min"], -128), min(kp["act_max"], 127))
    return ArmConv(cols, k4, packed.astype(np.int32), small)


def w16_weights(rows: np.ndarray, k4: int) -> np.ndarray:
    """The int16 weights of the Cortex-M matrix-vector path from the packed rows: per group of four depth values
    the columns' lane order (w0, w2, w1, w3), channels in pairs, per pair and group of 8 the 8 weights of each
    channel ([out_c // 2, k4 // 8, 2, 8]; an odd last channel stays in its int8 row)."""
    o = rows.shape[0]
    wb = rows[:, 1:1 + k4 // 4].astype("<i4").view(np.int8).reshape(o, k4 // 4, 4)[:, :, [0, 2, 1, 3]]
    wb = wb.astype(np.int16).reshape(o, k4 // 8, 8)[: o // 2 * 2]
    return np.ascontiguousarray(wb.reshape(o // 2, 2, k4 // 8, 8).transpose(0, 2, 1, 3)).reshape(-1)


#: Path names of the Cortex-M kernel's column builders (kernel_path).
COL_NAMES = {COL_1X1: "1x1", COL_TAPS: "taps", COL_ROWS: "rows", COL_BYTES: "bytes"}


@kernel_path("CONV_2D")
def path(c: OpCall, arm: frozenset) -> str:
    """"portable" (no Cortex-M kernel, or arm_conv None: efm_conv_2d_portable), "small" (efm_conv_2d_small), else
    the column builder of efm_conv_2d (COL_NAMES)."""
    plan = arm_conv(c) if "conv_2d" in arm else None
    if plan is None:
        return "portable"
    return "small" if plan.small is not None else COL_NAMES[plan.cols]


@scratch_bytes("CONV_2D")
def scratch(c: OpCall, arm: frozenset, lean: bool = False) -> int:
    """The Cortex-M kernel's im2col columns (four output pixels, int16) and control words (none for the
    small-depth path)."""
    if "conv_2d" not in arm:
        return 0
    plan = arm_conv(c)
    return plan.scratch if plan is not None else 0


@emitter("CONV_2D")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    plan = arm_conv(c) if "conv_2d" in ctx.option("arm", frozenset()) else None
    if plan is None:
        weights, bias, scratch_ptr, arm = ctx.inp(1), ctx.inp(2), "NULL", {}
    elif plan.small is not None:  # the small-depth path's rows, no scratch
        weights = f"(const int8_t *)(const void *){ctx.array(plan.small, 'int32_t')}"
        bias, scratch_ptr, arm = "NULL", "NULL", {"mult": None, "shift": None}
    else:  # the packed rows hold the weights, the folded bias and the multipliers
        weights = f"(const int8_t *)(const void *){ctx.array(plan.rows, 'int32_t')}"
        bias, scratch_ptr, arm = "NULL", ctx.scratch("void"), {"mult": None, "shift": None}
    kp = kernel_params(c)
    npix = kp["batches"] * kp["out_h"] * kp["out_w"]
    tail = npix % 4 in (1, 2) and 2 * kp["out_c"] * plan.k4 <= W16_TAIL_MAX_BYTES if plan is not None else False
    if plan is not None and plan.small is None and (npix < 4 or tail) and plan.k4 % 8 == 0 and kp["out_c"] >= 2:
        # the matrix-vector path: every pixel of a streaming step's window, or the one or two pixels left over
        # after the blocks of four (kernels/arm/conv_2d.c)
        arm["arm_w16"] = w16_weights(plan.rows, plan.k4)
    p = ctx.param_fields("efm_conv_2d_params", kp, **arm,
                         arm_cols=plan.cols if plan else 0, arm_k4=plan.k4 if plan else 0)
    args = f"{p}, {ctx.inp(0)}, {weights}, {bias}, {ctx.out()}"
    if plan is None and "conv_2d" in ctx.option("arm", frozenset()):
        return Emitted(f"efm_conv_2d_portable({args});", ("conv_2d",))  # grouped, or outside the 32-bit path
    if plan is not None and plan.small is not None:  # only the small-depth path is linked for it
        return Emitted(f"efm_conv_2d_small({p}, {ctx.inp(0)}, {weights}, {ctx.out()});", ("conv_2d",))
    return Emitted(f"efm_conv_2d({args}, {scratch_ptr});", ("conv_2d",))
