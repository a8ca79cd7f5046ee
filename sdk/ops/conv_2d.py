"""CONV_2D: NHWC int8 convolution with per-channel weights [O, KH, KW, I] and an int32 bias (TFLite semantics)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops import padding as pd
from edgefmr.ops.params import act_range, int32_array, per_channel
from edgefmr.ops.registry import Attr, OpCall, OpDef, register


def check_conv_quant(c: OpCall, w_axis: int, n_out: int, bias_required: bool) -> None:
    """Shared CONV_2D / DEPTHWISE_CONV_2D checks: int8 data, symmetric weights, int32 bias of `n_out`."""
    x, w, b, y = c.inp(0), c.inp(1), c.inp(2), c.out()
    if (x.dtype, w.dtype, y.dtype) != ("int8", "int8", "int8"):
        raise c.fail(f"needs int8 input/weights/output, got {x.dtype}/{w.dtype}/{y.dtype}")
    if x.quant is None or w.quant is None or y.quant is None:
        raise c.fail("input, weights and output must be quantized")
    if x.quant.per_axis or y.quant.per_axis:
        raise c.fail("input and output need per-tensor quantization")
    if any(z != 0 for z in w.quant.zero_point):
        raise c.fail("weights must be symmetric (zero point 0)")
    if w.quant.per_axis and (w.quant.axis != w_axis or len(w.quant.scale) != n_out):
        raise c.fail(f"per-channel weights need one scale per output channel on axis {w_axis}")
    if b is None:
        if bias_required:
            raise c.fail(f"needs an int32 bias of shape [{n_out}] (LiteRT's CONV_2D requires the bias input)")
    elif b.dtype != "int32" or b.shape != (n_out,):
        raise c.fail(f"needs an int32 bias of shape [{n_out}], got {b.dtype}{list(b.shape)}")
    elif b.quant is not None and any(z != 0 for z in b.quant.zero_point):
        raise c.fail("bias zero point must be 0")


def conv_geometry(c: OpCall, filt_hw: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Output (H, W) and (pad_top, pad_left) of a convolution node; IRError for an empty output."""
    x = c.inp(0)
    if len(x.shape) != 4:
        raise c.fail(f"input must be 4-D NHWC, got {list(x.shape)}")
    a = pd.positive_int_attrs(c, ("stride_h", "stride_w", "dilation_h", "dilation_w"))
    a["padding"] = c.attrs["padding"]
    out, pads = pd.window_geometry(a["padding"], x.shape[1:3], filt_hw, (a["stride_h"], a["stride_w"]),
                                   (a["dilation_h"], a["dilation_w"]))
    if min(out) < 1:
        raise c.fail(f"{a['padding']} window {list(filt_hw)} (dilation {a['dilation_h']}x{a['dilation_w']}) "
                     f"does not fit input {list(x.shape)}")
    return out, pads


def requantize(c: OpCall, acc: np.ndarray, w_scales: np.ndarray) -> np.ndarray:
    """Per-channel requantization of int32 accumulators [..., O] to the clamped int8 output.

    LiteRT 2.3's reference CONV_2D and DEPTHWISE_CONV_2D round twice (gemmlowp's SaturatingRoundingDoublingHighMul
    then RoundingDivideByPOT), unlike its FULLY_CONNECTED: checked bit for bit in the tests.
    """
    xt, yt = c.inp(0), c.out()
    mult, shift = fp.quantize_multipliers(xt.scale * w_scales / yt.scale)
    out = fp.multiply_by_quantized_multiplier_double(acc, mult, shift) + yt.zero_point
    lo, hi = fp.activation_range(c.attrs["activation"], yt.scale, yt.zero_point, yt.dtype)
    return np.clip(out, lo, hi).astype(np.int8)


WINDOW_ATTRS = {
    "padding": Attr("SAME", "padding", "Padding", pd.PADDINGS),
    "stride_h": Attr(1, "strideH"),
    "stride_w": Attr(1, "strideW"),
    "dilation_h": Attr(1, "dilationHFactor"),
    "dilation_w": Attr(1, "dilationWFactor"),
    "activation": Attr("NONE", "fusedActivationFunction", "ActivationFunctionType", fp.FUSED_ACTIVATIONS),
}


@register
class Conv2D(OpDef):
    name = "CONV_2D"
    n_inputs = (2, 3)
    const_inputs = (1, 2)
    tflite_options = "Conv2DOptions"
    attrs = dict(WINDOW_ATTRS)

    def check(self, c: OpCall) -> None:
        x, w = c.inp(0), c.inp(1)
        if len(w.shape) != 4:
            raise c.fail(f"weights must be 4-D [O, KH, KW, I], got {list(w.shape)}")
        check_conv_quant(c, 0, w.shape[0], bias_required=True)
        if len(x.shape) != 4 or w.shape[3] < 1 or x.shape[3] % w.shape[3] or w.shape[0] % (x.shape[3] // w.shape[3]):
            raise c.fail(f"input channels {x.shape[3:]} must be a multiple of weight input channels {w.shape[3]} "
                         f"(groups), and output channels {w.shape[0]} a multiple of the groups")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x, w = c.inp(0), c.inp(1)
        if len(w.shape) != 4:
            raise c.fail(f"weights must be 4-D [O, KH, KW, I], got {list(w.shape)}")
        (oh, ow), _ = conv_geometry(c, (w.shape[1], w.shape[2]))
        return [(x.shape[0], oh, ow, w.shape[0])]

    def macs(self, c: OpCall) -> int:
        w = c.inp(1)
        return c.out().size * w.shape[1] * w.shape[2] * w.shape[3]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, w, b = xs
        xt, wt = c.inp(0), c.inp(1)
        a = c.attrs
        o, kh, kw, ci = w.shape
        groups = x.shape[3] // ci
        strides, dil = (a["stride_h"], a["stride_w"]), (a["dilation_h"], a["dilation_w"])
        out_hw, pads = conv_geometry(c, (kh, kw))
        # Padding with the input zero point makes (x - zp) = 0 there: the same as skipping those taps.
        xp = pd.padded_nhwc(x, out_hw, pads, (kh, kw), strides, dil, xt.zero_point).astype(np.int64) - xt.zero_point
        wg = w.astype(np.int64).reshape(groups, o // groups, kh, kw, ci)
        acc = np.zeros((x.shape[0], *out_hw, o), np.int64)
        for ky in range(kh):
            for kx in range(kw):
                t = pd.tap(xp, ky, kx, out_hw, strides, dil)
                for g in range(groups):
                    acc[..., g * (o // groups) : (g + 1) * (o // groups)] += (
                        t[..., g * ci : (g + 1) * ci] @ wg[g, :, ky, kx, :].T
                    )
        acc += b.astype(np.int64)
        w_scales = np.broadcast_to(np.asarray(wt.quant.scale, np.float64), (o,))
        return [requantize(c, acc, w_scales)]


def conv_multipliers(xt, wt, yt, n_out: int) -> tuple[list[int], list[int]]:
    """Per-channel multipliers of requantize: s_x * s_w[c] / s_y (double rounding)."""
    w_scales = np.broadcast_to(np.asarray(wt.quant.scale, np.float64), (n_out,))
    mult, shift = fp.quantize_multipliers(xt.scale * w_scales / yt.scale)
    return per_channel(mult, n_out), per_channel(shift, n_out)


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_conv_2d_params: geometry, zero points, activation range and per-channel multipliers (int32)."""
    xt, wt, yt = c.inp(0), c.inp(1), c.out()
    o, kh, kw, ci = wt.shape
    (oh, ow), (pt, pl) = conv_geometry(c, (kh, kw))
    mult, shift = conv_multipliers(xt, wt, yt, o)
    lo, hi = act_range(c.attrs["activation"], yt)
    a = c.attrs
    return {"batches": xt.shape[0], "in_h": xt.shape[1], "in_w": xt.shape[2], "in_c": xt.shape[3], "out_h": oh,
            "out_w": ow, "out_c": o, "k_h": kh, "k_w": kw, "k_c": ci, "groups": xt.shape[3] // ci,
            "stride_h": a["stride_h"], "stride_w": a["stride_w"], "dil_h": a["dilation_h"], "dil_w": a["dilation_w"],
            "pad_top": pt, "pad_left": pl, "input_zp": xt.zero_point, "output_zp": yt.zero_point, "act_min": lo,
            "act_max": hi, "mult": int32_array(mult), "shift": int32_array(shift)}
