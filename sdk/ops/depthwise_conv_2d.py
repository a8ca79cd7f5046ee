"""DEPTHWISE_CONV_2D: NHWC int8 depthwise convolution, weights [1, KH, KW, C*depth_multiplier] (TFLite semantics)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import padding as pd
from edgefmr.ops.conv_2d import WINDOW_ATTRS, check_conv_quant, conv_geometry, conv_multipliers, requantize
from edgefmr.ops.params import act_range, int32_array
from edgefmr.ops.registry import Attr, OpCall, OpDef, register


@register
class DepthwiseConv2D(OpDef):
    name = "DEPTHWISE_CONV_2D"
    n_inputs = (2, 3)
    const_inputs = (1, 2)
    tflite_options = "DepthwiseConv2DOptions"
    attrs = {**WINDOW_ATTRS, "depth_multiplier": Attr(1, "depthMultiplier")}

    def check(self, c: OpCall) -> None:
        x, w = c.inp(0), c.inp(1)
        if len(w.shape) != 4 or w.shape[0] != 1:
            raise c.fail(f"weights must be 4-D [1, KH, KW, O], got {list(w.shape)}")
        check_conv_quant(c, 3, w.shape[3], bias_required=False)
        if len(x.shape) != 4 or x.shape[3] < 1 or w.shape[3] % x.shape[3]:
            raise c.fail(f"weight channels {w.shape[3]} must be a multiple of input channels {list(x.shape[3:])}")
        dm = w.shape[3] // x.shape[3]
        if c.attrs["depth_multiplier"] != dm:
            raise c.fail(f"attribute depth_multiplier={c.attrs['depth_multiplier']!r} must equal weight channels / "
                         f"input channels = {w.shape[3]}/{x.shape[3]} = {dm}")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x, w = c.inp(0), c.inp(1)
        if len(w.shape) != 4:
            raise c.fail(f"weights must be 4-D [1, KH, KW, O], got {list(w.shape)}")
        (oh, ow), _ = conv_geometry(c, (w.shape[1], w.shape[2]))
        return [(x.shape[0], oh, ow, w.shape[3])]

    def macs(self, c: OpCall) -> int:
        w = c.inp(1)
        return c.out().size * w.shape[1] * w.shape[2]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, w, b = (*xs, None)[:3]
        xt, wt = c.inp(0), c.inp(1)
        a = c.attrs
        _, kh, kw, o = w.shape
        dm = o // x.shape[3]
        strides, dil = (a["stride_h"], a["stride_w"]), (a["dilation_h"], a["dilation_w"])
        out_hw, pads = conv_geometry(c, (kh, kw))
        xp = pd.padded_nhwc(x, out_hw, pads, (kh, kw), strides, dil, xt.zero_point).astype(np.int64) - xt.zero_point
        # Output channel m + c*dm reads input channel c.
        xp = np.repeat(xp, dm, axis=3)
        w64 = w.astype(np.int64)
        acc = np.zeros((x.shape[0], *out_hw, o), np.int64)
        for ky in range(kh):
            for kx in range(kw):
                acc += pd.tap(xp, ky, kx, out_hw, strides, dil) * w64[0, ky, kx]
        if b is not None:
            acc += b.astype(np.int64)
        w_scales = np.broadcast_to(np.asarray(wt.quant.scale, np.float64), (o,))
        return [requantize(c, acc, w_scales)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_depthwise_conv_2d_params: geometry, zero points, activation range, per-channel multipliers (int32)."""
    xt, wt, yt = c.inp(0), c.inp(1), c.out()
    _, kh, kw, o = wt.shape
    (oh, ow), (pt, pl) = conv_geometry(c, (kh, kw))
    mult, shift = conv_multipliers(xt, wt, yt, o)
    lo, hi = act_range(c.attrs["activation"], yt)
    a = c.attrs
    return {"batches": xt.shape[0], "in_h": xt.shape[1], "in_w": xt.shape[2], "in_c": xt.shape[3], "out_h": oh,
            "out_w": ow, "out_c": o, "k_h": kh, "k_w": kw, "depth_multiplier": o // xt.shape[3],
            "stride_h": a["stride_h"], "stride_w": a["stride_w"], "dil_h": a["dilation_h"], "dil_w": a["dilation_w"],
            "pad_top": pt, "pad_left": pl, "input_zp": xt.zero_point, "output_zp": yt.zero_point, "act_min": lo,
            "act_max": hi, "mult": int32_array(mult), "shift": int32_array(shift)}
