"""DEPTHWISE_CONV_2D -> kernels/depthwise_conv_2d.c."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import act_range
from edgefmr.firmware.c.emitters.conv_2d import conv_multipliers
from edgefmr.ops.conv_2d import conv_geometry


@emitter("DEPTHWISE_CONV_2D")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, wt, yt = c.inp(0), c.inp(1), c.out()
    _, kh, kw, o = wt.shape
    (oh, ow), (pt, pl) = conv_geometry(c, (kh, kw))
    mult, shift = conv_multipliers(xt, wt, yt, o)
    lo, hi = act_range(c.attrs["activation"], yt)
    a = c.attrs
    p = ctx.params(
        "efm_depthwise_conv_2d_params",
        batches=xt.shape[0], in_h=xt.shape[1], in_w=xt.shape[2], in_c=xt.shape[3], out_h=oh, out_w=ow, out_c=o,
        k_h=kh, k_w=kw, depth_multiplier=o // xt.shape[3], stride_h=a["stride_h"], stride_w=a["stride_w"],
        dil_h=a["dilation_h"], dil_w=a["dilation_w"], pad_top=pt, pad_left=pl, input_zp=xt.zero_point,
        output_zp=yt.zero_point, act_min=lo, act_max=hi, mult=ctx.array(mult, "int32_t"),
        shift=ctx.array(shift, "int32_t"),
    )
    return Emitted(f"efm_depthwise_conv_2d({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.out()});",
                   ("depthwise_conv_2d",))
