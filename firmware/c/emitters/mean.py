"""MEAN -> kernels/mean.c."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import contiguous_strides, merge_axes
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.mean import resolved_axes

MAX_DIMS = 8


def mean_multiplier(xt, yt, n: int) -> tuple[int, int]:
    """edgefmr.ops.mean's multiplier: s_x / s_y with 1/n folded in (m' = (M << s) // n, shift' = shift - s)."""
    mult, shift = fp.quantize_multiplier(xt.scale / yt.scale)
    s = min(n.bit_length() - 1, 32, 31 + shift)
    return (mult << s) // n, shift - s


@emitter("MEAN")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, yt = c.inp(0), c.out()
    axes = resolved_axes(c)
    strides = contiguous_strides(xt.shape)
    kept = [d for d in range(len(xt.shape)) if d not in axes]
    red = sorted(axes)
    oc, (os_,) = merge_axes([xt.shape[d] for d in kept], [strides[d] for d in kept])
    rc, (rs,) = merge_axes([xt.shape[d] for d in red], [strides[d] for d in red])
    if len(oc) > MAX_DIMS or len(rc) > MAX_DIMS:
        raise ctx.fail(f"too many axes for the kernel ({MAX_DIMS} at most)")
    n = int(np.prod([xt.shape[a] for a in axes], dtype=np.int64))
    mult, shift = mean_multiplier(xt, yt, n)
    qmin, qmax = fp.QRANGE[yt.dtype]
    p = ctx.params(
        "efm_mean_params", out_ndim=len(oc), out_count=oc or [1], out_stride=os_ or [0], red_ndim=len(rc),
        red_count=rc or [1], red_stride=rs or [0], n=n, input_zp=xt.zero_point, output_zp=yt.zero_point,
        mult=mult, shift=shift, qmin=qmin, qmax=qmax,
    )
    suffix = {"int8": "s8", "int16": "s16"}[xt.dtype]
    return Emitted(f"efm_mean_{suffix}({p}, {ctx.inp(0)}, {ctx.out()});", ("mean",))
