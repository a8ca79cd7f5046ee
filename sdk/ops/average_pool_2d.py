"""AVERAGE_POOL_2D and the window checks shared with MAX_POOL_2D: NHWC int8/int16, input quantization = output's."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops import padding as pd
from edgefmr.ops.params import act_range
from edgefmr.ops.registry import Attr, OpCall, OpDef, register

POOL_ATTRS = {
    "padding": Attr("SAME", "padding", "Padding", pd.PADDINGS),
    "stride_h": Attr(1, "strideH"),
    "stride_w": Attr(1, "strideW"),
    "filter_h": Attr(None, "filterHeight"),
    "filter_w": Attr(None, "filterWidth"),
    "activation": Attr("NONE", "fusedActivationFunction", "ActivationFunctionType", fp.FUSED_ACTIVATIONS),
}


def check_pool(c: OpCall) -> None:
    """Pooling keeps the quantization: same dtype (int8 or int16), scale and zero point in and out."""
    x, y = c.inp(0), c.out()
    if x.dtype not in ("int8", "int16") or y.dtype != x.dtype:
        raise c.fail(f"needs int8 or int16 input and the same output dtype, got {x.dtype}/{y.dtype}")
    if x.quant is None or y.quant is None or x.quant.per_axis or y.quant.per_axis:
        raise c.fail("input and output need per-tensor quantization")
    if abs(x.scale - y.scale) > 1e-6 or x.zero_point != y.zero_point:
        raise c.fail(f"output quantization ({y.scale}, {y.zero_point}) must equal the input's "
                     f"({x.scale}, {x.zero_point})")


def pool_geometry(c: OpCall) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(out_hw, pads, filter_hw, stride_hw) of a pooling node; IRError on bad attributes or an empty output."""
    x = c.inp(0)
    a = pd.positive_int_attrs(c, ("filter_h", "filter_w", "stride_h", "stride_w"))
    if len(x.shape) != 4:
        raise c.fail(f"input must be 4-D NHWC, got {list(x.shape)}")
    filt, strides = (a["filter_h"], a["filter_w"]), (a["stride_h"], a["stride_w"])
    out, pads = pd.window_geometry(c.attrs["padding"], x.shape[1:3], filt, strides)
    if min(out) < 1:
        raise c.fail(f"{c.attrs['padding']} window {list(filt)} does not fit input {list(x.shape)}")
    return out, pads, filt, strides


class Pool2D(OpDef):
    """Common part of the two pooling ops."""

    tflite_options = "Pool2DOptions"
    attrs = POOL_ATTRS

    def check(self, c: OpCall) -> None:
        check_pool(c)
        pool_geometry(c)

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x = c.inp(0)
        (oh, ow), *_ = pool_geometry(c)
        return [(x.shape[0], oh, ow, x.shape[3])]

    def clamp(self, c: OpCall, v: np.ndarray) -> np.ndarray:
        yt = c.out()
        lo, hi = fp.activation_range(c.attrs["activation"], yt.scale, yt.zero_point, yt.dtype)
        return np.clip(v, lo, hi).astype(yt.dtype)


@register
class AveragePool2D(Pool2D):
    name = "AVERAGE_POOL_2D"

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        (x,) = xs
        out_hw, pads, filt, strides = pool_geometry(c)
        xp = pd.padded_nhwc(x.astype(np.int64), out_hw, pads, filt, strides, (1, 1), 0)
        inside = pd.padded_nhwc(np.ones((1, *x.shape[1:3], 1), np.int64), out_hw, pads, filt, strides, (1, 1), 0)
        acc = np.zeros((x.shape[0], *out_hw, x.shape[3]), np.int64)
        count = np.zeros((1, *out_hw, 1), np.int64)
        for ky in range(filt[0]):
            for kx in range(filt[1]):
                acc += pd.tap(xp, ky, kx, out_hw, strides, (1, 1))
                count += pd.tap(inside, ky, kx, out_hw, strides, (1, 1))
        # Round half away from zero: (acc ± count/2) / count with C (truncating) division.
        half = count // 2
        q = np.where(acc > 0, (acc + half) // count, -((-acc + half) // count))
        return [self.clamp(c, q)]


def pool_params(c: OpCall) -> dict[str, Any]:
    """efm_pool_2d_params (AVERAGE_POOL_2D and MAX_POOL_2D): geometry and the activation range."""
    xt, yt = c.inp(0), c.out()
    (oh, ow), (pt, pl), (fh, fw), (sh, sw) = pool_geometry(c)
    lo, hi = act_range(c.attrs["activation"], yt)
    return {"batches": xt.shape[0], "in_h": xt.shape[1], "in_w": xt.shape[2], "channels": xt.shape[3], "out_h": oh,
            "out_w": ow, "filter_h": fh, "filter_w": fw, "stride_h": sh, "stride_w": sw, "pad_top": pt,
            "pad_left": pl, "act_min": lo, "act_max": hi}


#: Kernel parameters: efm_pool_2d_params (pool_params).
kernel_params = pool_params
