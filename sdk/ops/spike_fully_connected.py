"""SPIKE_FULLY_CONNECTED: a fully connected layer on binary spikes, acc = sum of the weights of the spiking inputs
(additions only), then FULLY_CONNECTED's requantization. Exact definition: docs/ops/SPIKE_FULLY_CONNECTED.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.lut import check_activation
from edgefmr.ops.params import act_range, int32_array, per_channel
from edgefmr.ops.registry import Attr, OpCall, OpDef, register


def spike_amplitude(c: OpCall) -> float:
    """The real value of one spike: the input's scale, 1 when unquantized."""
    s = c.inp(0)
    return 1.0 if s.quant is None else s.scale


def spike_adds(c: OpCall, spikes: np.ndarray) -> int:
    """Additions an event-driven kernel does for these input spikes: one per (spike, output channel) and bias."""
    n_out = c.inp(1).shape[0]
    rows = spikes.size // c.inp(0).shape[-1]
    return int(np.count_nonzero(spikes)) * n_out + (rows * n_out if c.inp(2) is not None else 0)


@register
class SpikeFullyConnected(OpDef):
    name = "SPIKE_FULLY_CONNECTED"
    tflite_op = None
    n_inputs = (2, 3)
    const_inputs = (1, 2)
    attrs = {"activation": Attr("NONE", choices=fp.FUSED_ACTIVATIONS)}

    def check(self, c: OpCall) -> None:
        self.infer(c)  # shapes first: validation calls check() before infer()
        s, w, b, y = c.inp(0), c.inp(1), c.inp(2), c.out()
        if s.dtype not in ("int8", "uint8"):
            raise c.fail(f"spikes (input 0) must be int8 or uint8, got {s.dtype}")
        if s.quant is not None and (s.quant.per_axis or s.zero_point != 0 or not s.scale > 0):
            raise c.fail("spikes (input 0) must be unquantized or per-tensor with a positive scale and zero point 0")
        check_activation(c, y, "output")
        if w.dtype != "int8":
            raise c.fail(f"weights must be int8, got {w.dtype}")
        if w.quant is None or any(z != 0 for z in w.quant.zero_point) or min(w.quant.scale) <= 0:
            raise c.fail("weights need positive scales with zero point 0 (symmetric)")
        if w.quant.per_axis and (w.quant.axis != 0 or len(w.quant.scale) != w.shape[0]):
            raise c.fail("per-channel weights need one scale per output channel on axis 0")
        if b is not None and (b.dtype != "int32" or b.shape != (w.shape[0],)):
            raise c.fail(f"bias must be int32[{w.shape[0]}], got {b.dtype}{list(b.shape)}")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        s, w = c.inp(0), c.inp(1)
        if len(w.shape) != 2 or not s.shape or s.shape[-1] != w.shape[1]:
            raise c.fail(f"spikes {list(s.shape)} do not match weights {list(w.shape)} ([out, in] with in = the "
                         f"last axis of the spikes)")
        return [(*s.shape[:-1], w.shape[0])]

    def macs(self, c: OpCall) -> int:
        return c.inp(0).size * c.inp(1).shape[0]

    def op_counts(self, c: OpCall) -> dict[str, int]:
        n_in, n_out = c.inp(1).shape[1], c.inp(1).shape[0]
        rows = c.inp(0).size // n_in
        bias = 1 if c.inp(2) is not None else 0
        return {"mults": 0, "adds": rows * n_out * (n_in + bias), "requant": rows * n_out}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        s, w, b = (*xs, None)[:3]
        st, wt, yt = c.inp(0), c.inp(1), c.out()
        fired = (s.reshape(-1, st.shape[-1]) != 0).astype(np.int64)
        acc = fired @ w.astype(np.int64).T  # the sum of the weight columns of the spiking inputs
        if b is not None:
            acc = acc + b.astype(np.int64)
        scales = spike_amplitude(c) * np.asarray(wt.quant.scale, np.float64) / yt.scale
        mult, shift = fp.quantize_multipliers(scales)
        y = fp.multiply_by_quantized_multiplier(acc, mult, shift) + yt.zero_point
        lo, hi = fp.activation_range(c.attrs["activation"], yt.scale, yt.zero_point, "int8")
        return [np.clip(y, lo, hi).astype(np.int8).reshape(yt.shape)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_spike_fully_connected_params: shape, activation range and the multipliers amplitude s_w[o] / s_y
    (single rounding)."""
    st, wt, yt = c.inp(0), c.inp(1), c.out()
    cols, depth = wt.shape
    mult, shift = fp.quantize_multipliers(spike_amplitude(c) * np.asarray(wt.quant.scale, np.float64) / yt.scale)
    lo, hi = act_range(c.attrs["activation"], yt)
    return {"rows": st.size // depth, "depth": depth, "cols": cols, "output_zp": yt.zero_point, "act_min": lo,
            "act_max": hi, "mult": int32_array(per_channel(mult, cols)), "shift": int32_array(per_channel(shift, cols))}
