"""CLIPPED_SOFTMAX -> kernels/softmax.c with the affine-and-clip of edgefmr.ops.clipped_softmax tabulated over the
256 softmax outputs."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.softmax import exp_table
from edgefmr.ops.clipped_softmax import affine_params, clip_affine


@emitter("CLIPPED_SOFTMAX")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, yt = c.inp(0), c.out()
    depth = xt.shape[-1]
    a, b, lo, hi = affine_params(c.attrs["gamma"], c.attrs["zeta"], yt.scale, yt.zero_point)
    post = clip_affine(np.arange(-128, 128), a, b, lo, hi, yt.zero_point).view(np.uint8)
    p = ctx.params("efm_softmax_params", rows=xt.size // max(depth, 1), depth=depth,
                   exp_table=ctx.array(exp_table(c.attrs["beta"], xt.scale), "int32_t"),
                   post_table=ctx.array(post, "uint8_t"))
    return Emitted(f"efm_softmax_s8({p}, {ctx.inp(0)}, {ctx.out()});", ("softmax",), inplace=(0,))
