"""CONV_2D -> kernels/conv_2d.c."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import act_range, per_channel
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.conv_2d import conv_geometry


def conv_multipliers(xt, wt, yt, n_out: int) -> tuple[list[int], list[int]]:
    """Per-channel multipliers of edgefmr.ops.conv_2d.requantize: s_x * s_w[c] / s_y (double rounding)."""
    w_scales = np.broadcast_to(np.asarray(wt.quant.scale, np.float64), (n_out,))
    mult, shift = fp.quantize_multipliers(xt.scale * w_scales / yt.scale)
    return per_channel(mult, n_out), per_channel(shift, n_out)


@emitter("CONV_2D")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, wt, yt = c.inp(0), c.inp(1), c.out()
    o, kh, kw, ci = wt.shape
    (oh, ow), (pt, pl) = conv_geometry(c, (kh, kw))
    mult, shift = conv_multipliers(xt, wt, yt, o)
    lo, hi = act_range(c.attrs["activation"], yt)
    a = c.attrs
    p = ctx.params(
        "efm_conv_2d_params",
        batches=xt.shape[0], in_h=xt.shape[1], in_w=xt.shape[2], in_c=xt.shape[3], out_h=oh, out_w=ow, out_c=o,
        k_h=kh, k_w=kw, k_c=ci, groups=xt.shape[3] // ci, stride_h=a["stride_h"], stride_w=a["stride_w"],
        dil_h=a["dilation_h"], dil_w=a["dilation_w"], pad_top=pt, pad_left=pl, input_zp=xt.zero_point,
        output_zp=yt.zero_point, act_min=lo, act_max=hi, mult=ctx.array(mult, "int32_t"),
        shift=ctx.array(shift, "int32_t"),
    )
    return Emitted(f"efm_conv_2d({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.out()});", ("conv_2d",))
