"""HASH_ENCODE -> kernels/hash_encode.c (kernels/arm/hash_encode.c on cores with the DSP extension, with its XOR
masks, USADA8 corrections and projection nibbles computed here from the op's constant inputs)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, kernel_path, scratch_bytes
from edgefmr.ops.hash_encode import kernel_params, layout
from edgefmr.ops.registry import OpCall


def arm_tables(c: OpCall) -> dict[str, np.ndarray]:
    """The Cortex-M kernel's constants, anchors in groups of four (G = ceil(m/4), the last group padded with
    copies of anchor 0):
    `masks` uint32 [H, G, d/4, 4] (0xFF bytes where the anchor sign is -1: USADA8 of x XOR 0x80808080 against the
    mask sums a x - [a = -1] + 128 per byte), `corr` int32 [H, G * 4] (S_j = that sum + corr_j, the zero point
    folded in) and `nibbles` uint16 [H, b, G] (16 g + the nibble whose bit t is set where the projection
    sign of anchor 4g + t is +1: the index of the kernel's subset sum)."""
    h, m, d, b, _ = layout(c)
    groups = -(-m // 4)
    a = np.zeros((h, 4 * groups, d), np.int64)
    a[:, :m] = c.inp(1).data
    a[:, m:] = c.inp(1).data[:, :1]  # padding anchors repeat anchor 0: a valid cosine index, the feature dropped
    p = c.inp(3).data.astype(np.int64)
    zp = c.inp(0).zero_point
    neg = (a < 0).astype(np.uint32)  # [H, 4G, d]
    words = np.zeros((h, 4 * groups, -(-d // 4)), np.uint32)
    for i in range(d):
        words[:, :, i // 4] |= (neg[:, :, i] * np.uint32(0xFF)) << np.uint32(8 * (i % 4))
    masks = words.reshape(h, groups, 4, -1).transpose(0, 1, 3, 2)
    corr = -128 * d + neg.sum(axis=2).astype(np.int64) - zp * a.sum(axis=2)
    nib = np.tile((16 * np.arange(groups)).astype(np.uint16), (h, b, 1))
    for j in range(m):
        nib[:, :, j // 4] |= ((p[:, :, j] > 0).astype(np.uint16) << (j % 4)).astype(np.uint16)
    out = {"masks": np.ascontiguousarray(masks).reshape(-1), "corr": corr.astype(np.int32).reshape(-1),
           "nibbles": nib.reshape(-1), "pmask": None}
    if byte_features(c):  # the USADA8 projection
        pneg = np.zeros((h, b, 4 * groups), np.uint32)
        pneg[:, :, :m] = p < 0
        words = np.zeros((h, b, groups + 1), np.uint32)
        for j in range(4 * groups):
            words[:, :, j // 4] |= (pneg[:, :, j] * np.uint32(0xFF)) << np.uint32(8 * (j % 4))
        thr = c.inp(4).data.astype(np.int64) + 255 * pneg.sum(axis=2).astype(np.int64)
        words[:, :, groups] = (-thr & 0xFFFFFFFF).astype(np.uint32)  # the USADA8 accumulator starts at -threshold
        out["pmask"] = words.reshape(-1)
    return out


def byte_features(c: OpCall) -> bool:
    """True where the feature table is within 0..255: the Cortex-M kernel's USADA8 projection (its `pmask`)."""
    table = c.inp(2).data
    return bool(table.min() >= 0 and table.max() <= 255)


def head16(c: OpCall) -> bool:
    """True where the Cortex-M kernel takes its straight-line per-head pass (d = 16, 5..8 anchors, byte features,
    16 bits): all its work in registers and a 13-word frame, no scratch."""
    _, m, d, b, _ = layout(c)
    return d == 16 and 5 <= m <= 8 and b == 16 and byte_features(c)


@kernel_path("HASH_ENCODE")
def path(c: OpCall, arm: frozenset) -> str:
    """"portable" (no Cortex-M kernel, or d not a multiple of 4: the emitter calls efm_hash_encode_portable),
    "head16" (the straight-line d = 16 pass), "bytes" (byte features: the USADA8 projection) or "subsets"."""
    _, _, d, _, _ = layout(c)
    if "hash_encode" not in arm or d % 4:
        return "portable"
    return "head16" if head16(c) else "bytes" if byte_features(c) else "subsets"


@scratch_bytes("HASH_ENCODE")
def scratch(c: OpCall, arm: frozenset, lean: bool = False) -> int:
    """The kernel's work arrays, sized for the node (int32 words): the portable loop's features phi [m] (also the
    Cortex-M kernel's where d is not a multiple of 4); the Cortex-M word paths: the d = 16 straight-line pass none,
    the USADA8 projection (byte features) the sums [4G], the x words [d/4] and the feature words [G], else the subset
    sums [16G] and the x words [d/4] (G = ceil(m/4))."""
    _, m, d, _, _ = layout(c)
    if "hash_encode" not in arm or d % 4:
        return 4 * m
    groups, words = -(-m // 4), d // 4
    if head16(c):
        return 0
    if byte_features(c):
        return 4 * (4 * groups + words + groups)
    return 4 * (16 * groups + words)


@emitter("HASH_ENCODE")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    arms = ctx.option("arm", frozenset())
    arm = path(c, arms) != "portable"
    extra: dict = {}  # the portable kernel's struct leaves the Cortex-M tables NULL
    if arm:
        extra = arm_tables(c)
        extra["nibbles"] = ctx.array(extra["nibbles"], "uint16_t")  # no IR dtype of its own
    p = ctx.param_fields("efm_hash_encode_params", kernel_params(c), **extra)
    scr = ctx.scratch() if scratch(c, arms) else "NULL"  # none: the d = 16 pass
    # d not a multiple of 4 on a Cortex-M build: the portable loop, called directly (decided here, not at run time)
    fn = "efm_hash_encode" if arm or "hash_encode" not in arms else "efm_hash_encode_portable"
    return Emitted(f"{fn}({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.inp(3)}, {ctx.inp(4)}, "
                   f"{ctx.out()}, {scr});", ("hash_encode",))
