"""FULLY_CONNECTED: y = x · Wᵀ + b on int8, per-tensor or per-output-channel weights (TFLite semantics)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.params import act_range, int32_array, per_channel
from edgefmr.ops.registry import Attr, OpCall, OpDef, register


@register
class FullyConnected(OpDef):
    name = "FULLY_CONNECTED"
    n_inputs = (2, 3)
    const_inputs = (1, 2)
    tflite_options = "FullyConnectedOptions"
    attrs = {
        "activation": Attr("NONE", "fusedActivationFunction", "ActivationFunctionType", fp.FUSED_ACTIVATIONS),
        "keep_num_dims": Attr(False, "keepNumDims"),
    }

    def check(self, c: OpCall) -> None:
        x, w, b, y = c.inp(0), c.inp(1), c.inp(2), c.out()
        if (x.dtype, w.dtype, y.dtype) != ("int8", "int8", "int8"):
            raise c.fail(f"needs int8 input/weights/output, got {x.dtype}/{w.dtype}/{y.dtype}")
        if b is not None and (b.dtype != "int32" or b.shape != (w.shape[0],)):
            raise c.fail(f"needs an int32 bias of shape [{w.shape[0]}], got {b.dtype}{list(b.shape)}")
        if b is not None and b.quant is not None and any(z != 0 for z in b.quant.zero_point):
            raise c.fail("bias zero point must be 0")
        if w.quant is None or x.quant is None or y.quant is None:
            raise c.fail("input, weights and output must be quantized")
        if any(z != 0 for z in w.quant.zero_point):
            raise c.fail("weights must be symmetric (zero point 0)")
        if w.quant.per_axis and (w.quant.axis != 0 or len(w.quant.scale) != w.shape[0]):
            raise c.fail("per-channel weights need one scale per output channel on axis 0")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x, w = c.inp(0), c.inp(1)
        if len(w.shape) != 2 or x.size % w.shape[1]:
            raise c.fail(f"input {x.shape} does not match weights {w.shape} ([out, in])")
        if c.attrs["keep_num_dims"]:
            if x.shape[-1] != w.shape[1]:
                raise c.fail(f"keep_num_dims needs input last dim {w.shape[1]}, got {x.shape}")
            return [(*x.shape[:-1], w.shape[0])]
        return [(x.size // w.shape[1], w.shape[0])]

    def macs(self, c: OpCall) -> int:
        return c.inp(0).size * c.inp(1).shape[0]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, w, b = (*xs, None)[:3]
        xt, wt, yt = c.inp(0), c.inp(1), c.out()
        acc = (x.reshape(-1, wt.shape[1]).astype(np.int64) - xt.zero_point) @ w.astype(np.int64).T
        if b is not None:
            acc = acc + b.astype(np.int64)
        mult, shift = fp.quantize_multipliers(xt.scale * np.asarray(wt.quant.scale, np.float64) / yt.scale)
        acc = fp.multiply_by_quantized_multiplier(acc, mult, shift) + yt.zero_point
        lo, hi = fp.activation_range(c.attrs["activation"], yt.scale, yt.zero_point, yt.dtype)
        return [np.clip(acc, lo, hi).astype(np.int8).reshape(yt.shape)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_fully_connected_params of the portable kernel: shape, zero points, activation range and the
    per-output-feature multipliers s_x s_w[o] / s_y (single rounding)."""
    xt, wt, yt = c.inp(0), c.inp(1), c.out()
    cols, depth = wt.shape
    mult, shift = fp.quantize_multipliers(xt.scale * np.asarray(wt.quant.scale, np.float64) / yt.scale)
    lo, hi = act_range(c.attrs["activation"], yt)
    return {"rows": xt.size // depth, "depth": depth, "cols": cols, "input_zp": xt.zero_point,
            "output_zp": yt.zero_point, "act_min": lo, "act_max": hi, "mult": int32_array(per_channel(mult, cols)),
            "shift": int32_array(per_channel(shift, cols))}
