"""HASH_ENCODE: EcoFormer's kernelized hash of queries or keys, fused into one op: per token and head the exact integer
norm, the binarized anchor products as sign-selected sums, the RBF feature per anchor as one table lookup, the
binarized projection as sign-selected sums and the code bits packed (the input of HASH_ATTENTION). Exact definition:
docs/ops/HASH_ENCODE.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops.binary_fully_connected import pack_bits
from edgefmr.ops.layer_norm import bit_length, isqrt
from edgefmr.ops.lut import check_activation
from edgefmr.ops.registry import OpCall, OpDef, register

MAX_DEPTH = 256  # d Q < 2^32 for int8 inputs
MAX_ANCHORS = 256
MAX_BITS = 1024
MAX_RADIUS = 4096
MAX_OFFSET = 1 << 30


def layout(c: OpCall) -> tuple[int, int, int, int, int]:
    """(heads H, anchors m, head width d, bits b, radius R) of a node."""
    a, t, p = c.inp(1), c.inp(2), c.inp(3)
    return a.shape[0], a.shape[1], a.shape[2], p.shape[1], (t.shape[1] - 1) // 2


def cosine_index(s: np.ndarray, q: np.ndarray, d: int, radius: int) -> np.ndarray:
    """idx = clamp(round(R S / sqrt(d Q)), -R, R) in integers (see the docs): S [..., m] sign-selected sums, Q [..., 1]
    squared norms (int64), 0 where Q = 0."""
    dq = d * q
    k = np.where(dq > 0, (32 - bit_length(dq)) // 2, 0)
    r = isqrt(dq << (2 * k))  # in [2^15, 2^16) when Q > 0
    rec = np.where(dq > 0, (np.int64(1) << 31) // np.maximum(r, 1), 0)
    idx = ((s << k) * (radius * rec) + (np.int64(1) << 30)) >> 31
    return np.clip(np.where(dq > 0, idx, 0), -radius, radius)


def encode(x: np.ndarray, zp: int, anchors: np.ndarray, table: np.ndarray, proj: np.ndarray,
           offset: np.ndarray) -> np.ndarray:
    """0/1 code bits [*B, H, N, b] of raw int8 tokens x [*B, N, H d] (int64 arithmetic, the op's definition)."""
    h, m, d = anchors.shape
    radius = (table.shape[1] - 1) // 2
    xs = np.asarray(x, np.int64).reshape(*x.shape[:-1], h, d)
    xs = np.moveaxis(xs, -2, -3) - zp  # [*B, H, N, d]
    q = (xs * xs).sum(axis=-1, keepdims=True)
    s = np.einsum("...hnd,hmd->...hnm", xs, anchors.astype(np.int64))  # sign-selected sums
    idx = cosine_index(s, q, d, radius)
    heads = np.arange(h).reshape(h, 1, 1)
    phi = table.astype(np.int64)[heads, idx + radius]  # [*B, H, N, m]: one lookup per anchor
    pre = np.einsum("...hnm,hbm->...hnb", phi, proj.astype(np.int64)) - offset.astype(np.int64)[:, None, :]
    return (pre >= 0).astype(np.int64)


def _signs(c: OpCall, t: Any, label: str, shape: tuple[int, ...]) -> None:
    if t.dtype != "int8" or t.shape != shape:
        raise c.fail(f"{label} must be int8{list(shape)}, got {t.dtype}{list(t.shape)}")
    if not np.isin(t.data, (-1, 1)).all():
        raise c.fail(f"{label} must hold only -1 and +1 (binarized signs)")


@register
class HashEncode(OpDef):
    name = "HASH_ENCODE"
    tflite_op = None
    n_inputs = (5, 5)
    const_inputs = (1, 2, 3, 4)

    def check(self, c: OpCall) -> None:
        self.infer(c)
        x, a, t, p, off = (c.inp(i) for i in range(5))
        check_activation(c, x, "input")
        h, m, d, b, radius = layout(c)
        if not (1 <= d <= MAX_DEPTH and 1 <= m <= MAX_ANCHORS and 1 <= b <= MAX_BITS):
            raise c.fail(f"head width 1..{MAX_DEPTH}, anchors 1..{MAX_ANCHORS} and bits 1..{MAX_BITS} are supported, "
                         f"got d={d}, m={m}, b={b}")
        _signs(c, a, "anchors (input 1)", (h, m, d))
        if t.dtype != "int16" or len(t.shape) != 2 or t.shape[0] != h or t.shape[1] % 2 == 0 or \
                not 1 <= radius <= MAX_RADIUS:
            raise c.fail(f"the feature table (input 2) must be int16[{h}, 2R+1] with 1 <= R <= {MAX_RADIUS}, got "
                         f"{t.dtype}{list(t.shape)}")
        _signs(c, p, "projection (input 3)", (h, b, m))
        if off.dtype != "int32" or off.shape != (h, b):
            raise c.fail(f"offsets (input 4) must be int32[{h}, {b}], got {off.dtype}{list(off.shape)}")
        if np.abs(off.data.astype(np.int64)).max(initial=0) >= MAX_OFFSET:
            raise c.fail("offsets must be below 2^30 in magnitude")
        y = c.out()
        if y.dtype != "uint8" or (y.quant is not None and (y.quant.per_axis or y.zero_point != 0)):
            raise c.fail(f"the output holds packed code bits: uint8 without quantization, got {y.dtype}")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x, a, t, p = c.inp(0), c.inp(1), c.inp(2), c.inp(3)
        if len(a.shape) != 3 or len(p.shape) != 3 or len(t.shape) != 2:
            raise c.fail(f"anchors [H, m, d], table [H, 2R+1] and projection [H, b, m] expected, got "
                         f"{list(a.shape)}, {list(t.shape)}, {list(p.shape)}")
        h, _, d = a.shape
        if len(x.shape) < 2 or x.shape[-1] != h * d:
            raise c.fail(f"input must be [..., tokens, H*d] = [..., N, {h * d}], got {list(x.shape)}")
        if p.shape[0] != h or p.shape[2] != a.shape[1]:
            raise c.fail(f"projection {list(p.shape)} does not match {h} heads and {a.shape[1]} anchors")
        return [(*x.shape[:-2], h, x.shape[-2], -(-p.shape[1] // 8))]

    def macs(self, c: OpCall) -> int:
        return 0

    def op_counts(self, c: OpCall) -> dict[str, int]:
        h, m, d, b, _ = layout(c)
        rows = c.inp(0).size // d  # token-heads
        # per token and head: d squares (the norm), one reciprocal square root, m scalings of the cosine index;
        # m d sign-selected additions (anchors), m lookups, b m sign-selected additions (projection), b compares
        return {"mults": rows * (d + m + 1), "adds": rows * (d + m * d + b * m), "divs": rows, "sqrts": rows,
                "lookups": rows * m}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, a, t, p, off = xs
        bits = encode(x, c.inp(0).zero_point, a, t, p, off)
        return [pack_bits(bits)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_hash_encode_params: shapes, the input zero point and the constants' layout (the constants are the op's
    inputs 1..4)."""
    x = c.inp(0)
    h, m, d, b, radius = layout(c)
    return {"batch": int(np.prod(x.shape[:-2], dtype=np.int64)), "tokens": x.shape[-2], "heads": h, "depth": d,
            "anchors": m, "bits": b, "radius": radius, "code_bytes": -(-b // 8), "x_zp": x.zero_point}
