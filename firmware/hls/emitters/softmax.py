"""SOFTMAX -> kernels/softmax.h, the single-pass online form: the exp table of edgefmr.ops.softmax, and the row-sum
terms f(d) = RoundingDivideByPOT(exp(d), 12) of every difference d that contributes (the normalizer's window)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.ops import gemmlowp as gl
from edgefmr.ops.softmax import ACCUMULATION_INTEGER_BITS


def sum_terms(exp_table: np.ndarray) -> np.ndarray:
    """f(-j) for j = 0, 1, ...: the row-sum term of an element j below the row maximum, computed as
    edgefmr.ops.softmax does (gemmlowp Rescale to 12 integer bits), up to the last non-zero one."""
    exps = np.asarray(exp_table, np.int64)[::-1]  # exp_table[255 + d], d = -255..0 -> j = -d
    terms = gl.rescale(exps, 0, ACCUMULATION_INTEGER_BITS)
    nonzero = np.flatnonzero(terms)
    return terms[: int(nonzero[-1]) + 1 if nonzero.size else 1]


#: Most row-sum terms the normalizer adds per cycle.
MAX_LANES = 16


def normalizer_lanes(window: int, depth: int) -> int:
    """Terms per cycle of the normalizer: enough for it to take about as long as one pass over the row."""
    return max(1, min(MAX_LANES, -(-window // max(depth, 1))))


def softmax_config(ctx: HlsContext) -> None:
    ctx.take("rows", "depth", "exp_table")
    p = ctx.params()
    terms = sum_terms(p["exp_table"])
    post = p["post_table"]
    has_post = post is not None
    ctx.set(window=len(terms), lanes=normalizer_lanes(len(terms), ctx.c.inp(0).shape[-1]), terms=(terms, "int32_t"),
            accumulation_integer_bits=ACCUMULATION_INTEGER_BITS,
            has_post=has_post, post_table=(post if has_post else np.zeros(256, np.uint8), "uint8_t"))


@hls_emitter("SOFTMAX")
def emit(ctx: HlsContext) -> HlsEmitted:
    softmax_config(ctx)
    return HlsEmitted(("softmax",), f"efm::softmax<P>({ctx.inp(0)}, {ctx.out()});")
