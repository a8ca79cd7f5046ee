"""SOFTMAX -> kernels/softmax.c, with exp() of every possible row-max difference tabulated at generation time."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops import gemmlowp as gl
from edgefmr.ops.softmax import SCALED_DIFF_INTEGER_BITS, softmax_params


def exp_table(beta: float, input_scale: float) -> np.ndarray:
    """exp(d) in Q0.31 for d = x - max in [-255, 0], computed as edgefmr.ops.softmax.softmax_int8 does (0 where d
    is below diff_min, which the kernel then maps to -128)."""
    mult, shift, diff_min = softmax_params(beta, input_scale)
    diff = np.arange(-255, 1, dtype=np.int64)
    used = diff >= diff_min
    scaled = fp.saturating_rounding_doubling_high_mul(gl.wrap32(np.where(used, diff, 0) << shift), mult)
    exps = gl.exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    return np.where(used, exps, 0).astype(np.int64)


@emitter("SOFTMAX")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt = c.inp(0)
    depth = xt.shape[-1]
    table = exp_table(c.attrs["beta"], xt.scale)
    p = ctx.params("efm_softmax_params", rows=xt.size // max(depth, 1), depth=depth,
                   exp_table=ctx.array(table, "int32_t"), post_table="NULL")
    return Emitted(f"efm_softmax_s8({p}, {ctx.inp(0)}, {ctx.out()});", ("softmax",), inplace=(0,))
