"""LIF: multi-step leaky integrate-and-fire layer, integer membrane (int32, unit V_th / 2^F), Q15 leak, hard reset,
0/1 spikes; streaming through an initial-membrane input and a final-membrane output. Exact definition:
docs/ops/LIF.md.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.lut import check_activation
from edgefmr.ops.registry import Attr, OpCall, OpDef, register

LEAK_FRAC_BITS = 15
MAX_MEMBRANE_BITS = 24
MAX_GAIN = float(1 << 20)


def lif_params(tau: float, threshold: float, membrane_bits: int, x_scale: float) -> tuple[int, int, int, int]:
    """(D, M, e, theta): Q15 leak, input multiplier and shift, threshold in membrane units."""
    d = math.floor((1.0 - 1.0 / tau) * (1 << LEAK_FRAC_BITS) + 0.5)
    mult, shift = fp.quantize_multiplier(float(x_scale) * (1 << membrane_bits) / (tau * threshold))
    return d, mult, shift, 1 << membrane_bits


def lif_run(x: np.ndarray, v0: np.ndarray, zp: int, d: int, mult: int, shift: int, theta: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """(spikes 0/1 int64 [T, ...], final membrane int64 [...]) of the integer LIF over axis 0 of `x`."""
    v = np.asarray(v0, np.int64)
    spikes = np.empty(x.shape, np.int64)
    for t in range(x.shape[0]):
        i = fp.multiply_by_quantized_multiplier(x[t].astype(np.int64) - zp, mult, shift)
        h = np.clip(((v * d + (1 << (LEAK_FRAC_BITS - 1))) >> LEAK_FRAC_BITS) + i, fp.INT32_MIN, fp.INT32_MAX)
        s = h >= theta
        spikes[t] = s
        v = np.where(s, 0, h)
    return spikes, v


@register
class Lif(OpDef):
    name = "LIF"
    tflite_op = None
    n_inputs = (1, 2)
    n_outputs = 2
    state_in_place = ((1, 1),)  # each neuron's membrane is read before it is written
    attrs = {"tau": Attr(2.0), "threshold": Attr(1.0), "membrane_bits": Attr(12)}

    def params(self, c: OpCall) -> tuple[int, int, int, int]:
        a = c.attrs
        return lif_params(float(a["tau"]), float(a["threshold"]), int(a["membrane_bits"]), c.inp(0).scale)

    def check(self, c: OpCall) -> None:
        x, v0, s, v = c.inp(0), c.inp(1), c.out(0), c.out(1)
        check_activation(c, x, "input", ("int8", "int16"))
        if len(x.shape) < 1 or x.shape[0] < 1:
            raise c.fail(f"input must be [T, ...] with T >= 1 time steps, got {list(x.shape)}")
        if v0 is not None and v0.dtype != "int32":
            raise c.fail(f"the initial membrane (input 1) must be int32, got {v0.dtype}")
        if s.dtype not in ("int8", "uint8"):
            raise c.fail(f"spikes (output 0) must be int8 or uint8, got {s.dtype}")
        if s.quant is not None and (s.quant.per_axis or s.zero_point != 0):
            raise c.fail("spikes (output 0) must be unquantized or per-tensor with zero point 0")
        if v.dtype != "int32":
            raise c.fail(f"the final membrane (output 1) must be int32, got {v.dtype}")
        tau, th, bits = c.attrs["tau"], c.attrs["threshold"], c.attrs["membrane_bits"]
        for k, val in (("tau", tau), ("threshold", th)):
            if isinstance(val, bool) or not isinstance(val, int | float) or not math.isfinite(val):
                raise c.fail(f"{k} must be a finite number, got {val!r}")
        if tau < 1:
            raise c.fail(f"tau must be >= 1, got {tau}")
        if th <= 0:
            raise c.fail(f"threshold must be > 0, got {th}")
        if isinstance(bits, bool) or not isinstance(bits, int) or not 0 <= bits <= MAX_MEMBRANE_BITS:
            raise c.fail(f"membrane_bits must be an integer in 0..{MAX_MEMBRANE_BITS}, got {bits!r}")
        gain = x.scale * (1 << bits) / (tau * th)
        if gain >= MAX_GAIN:
            raise c.fail(f"input scale {x.scale:g} is too large for membrane_bits={bits}: s_x * 2^F / (tau * "
                         f"threshold) = {gain:.3g} must be below 2^20")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x, v0 = c.inp(0), c.inp(1)
        if not x.shape:
            raise c.fail("input must be [T, ...] (time first), got a scalar")
        if v0 is not None and v0.shape != x.shape[1:]:
            raise c.fail(f"the initial membrane must be {list(x.shape[1:])} (the input without its time axis), "
                         f"got {list(v0.shape)}")
        return [x.shape, x.shape[1:]]

    def macs(self, c: OpCall) -> int:
        return c.inp(0).size

    def op_counts(self, c: OpCall) -> dict[str, int]:
        n = c.inp(0).size
        return {"mults": n, "adds": n, "requant": n}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, v0 = (*xs, None)[:2]
        xt = c.inp(0)
        if v0 is None:
            v0 = np.zeros(xt.shape[1:], np.int64)
        d, mult, shift, theta = self.params(c)
        spikes, v = lif_run(x, v0, xt.zero_point, d, mult, shift, theta)
        return [spikes.astype(c.out(0).dtype), v.astype(np.int32)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_lif_params: steps, neurons, input zero point, leak, multiplier and threshold (Lif.params)."""
    xt = c.inp(0)
    d, mult, shift, theta = c.opdef.params(c)
    return {"steps": xt.shape[0], "neurons": int(np.prod(xt.shape[1:], dtype=np.int64)), "input_zp": xt.zero_point,
            "leak": d, "mult": mult, "shift": shift, "theta": theta}
