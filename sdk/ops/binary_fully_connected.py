"""BINARY_FULLY_CONNECTED: 1-bit (packed +-1) weights with a per-output-channel scale; the accumulation is
additions/subtractions only, then FULLY_CONNECTED's requantization. Exact definition:
docs/ops/BINARY_FULLY_CONNECTED.md. Also the bit packing shared with HASH_ATTENTION.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.lut import check_activation
from edgefmr.ops.params import act_range, int32_array, per_channel
from edgefmr.ops.registry import Attr, OpCall, OpDef, register


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """0/1 (or boolean) values [..., n] -> uint8 [..., ceil(n/8)]: bit k in bit k % 8 of byte k // 8 (LSB first)."""
    return np.packbits(np.asarray(bits) != 0, axis=-1, bitorder="little")


def unpack_bits(packed: np.ndarray, n: int) -> np.ndarray:
    """uint8 [..., ceil(n/8)] -> 0/1 int64 [..., n] (the inverse of pack_bits; padding bits are dropped)."""
    return np.unpackbits(np.asarray(packed, np.uint8), axis=-1, count=n, bitorder="little").astype(np.int64)


def binarize_weights(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float weights [out, in] -> (packed signs uint8 [out, ceil(in/8)], alpha float32 [out] = mean |w| per row)."""
    w = np.asarray(w, np.float64)
    if w.ndim != 2:
        raise ValueError(f"binarize_weights needs [out, in] weights, got shape {w.shape}")
    return pack_bits(w >= 0), np.abs(w).mean(axis=1).astype(np.float32)


@register
class BinaryFullyConnected(OpDef):
    name = "BINARY_FULLY_CONNECTED"
    tflite_op = None
    n_inputs = (2, 3)
    const_inputs = (1, 2)
    attrs = {"activation": Attr("NONE", choices=fp.FUSED_ACTIVATIONS)}

    def check(self, c: OpCall) -> None:
        self.infer(c)  # shapes first: validation calls check() before infer()
        x, w, b, y = c.inp(0), c.inp(1), c.inp(2), c.out()
        check_activation(c, x, "input")
        check_activation(c, y, "output")
        if w.dtype != "uint8":
            raise c.fail(f"weights must be packed sign bits (uint8 [out, ceil(in/8)]), got {w.dtype}")
        if w.quant is None or any(z != 0 for z in w.quant.zero_point) or min(w.quant.scale) <= 0:
            raise c.fail("weights need positive scales (alpha) with zero point 0")
        if w.quant.per_axis and (w.quant.axis != 0 or len(w.quant.scale) != w.shape[0]):
            raise c.fail("per-channel weight scales need one scale per output channel on axis 0")
        if b is not None and (b.dtype != "int32" or b.shape != (w.shape[0],)):
            raise c.fail(f"bias must be int32[{w.shape[0]}], got {b.dtype}{list(b.shape)}")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x, w = c.inp(0), c.inp(1)
        if len(w.shape) != 2:
            raise c.fail(f"weights must be [out, ceil(in/8)], got {list(w.shape)}")
        if not x.shape or x.shape[-1] < 1 or w.shape[1] != -(-x.shape[-1] // 8):
            raise c.fail(f"input {list(x.shape)} needs weights [out, {-(-x.shape[-1] // 8) if x.shape else '?'}] "
                         f"(in = {x.shape[-1] if x.shape else '?'} bits packed 8 per byte), got {list(w.shape)}")
        return [(*x.shape[:-1], w.shape[0])]

    def macs(self, c: OpCall) -> int:
        return c.inp(0).size * c.inp(1).shape[0]

    def op_counts(self, c: OpCall) -> dict[str, int]:
        x, w = c.inp(0), c.inp(1)
        n_in, n_out = x.shape[-1], w.shape[0]
        rows = x.size // n_in
        ones = int(unpack_bits(w.data, n_in).sum())
        combine = n_out * (2 if c.inp(2) is not None else 1)
        return {"mults": 0, "adds": rows * (ones + n_in + combine), "requant": rows * n_out}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x, w, b = (*xs, None)[:3]
        xt, wt, yt = c.inp(0), c.inp(1), c.out()
        n_in = xt.shape[-1]
        xc = x.reshape(-1, n_in).astype(np.int64) - xt.zero_point
        bits = unpack_bits(w, n_in)  # [out, in] of 0/1
        total = xc.sum(axis=1, keepdims=True)  # T
        selected = xc @ bits.T  # P: the sum of the inputs whose weight bit is 1 (a 0/1 selection)
        acc = 2 * selected - total
        if b is not None:
            acc = acc + b.astype(np.int64)
        mult, shift = fp.quantize_multipliers(xt.scale * np.asarray(wt.quant.scale, np.float64) / yt.scale)
        y = fp.multiply_by_quantized_multiplier(acc, mult, shift) + yt.zero_point
        lo, hi = fp.activation_range(c.attrs["activation"], yt.scale, yt.zero_point, "int8")
        return [np.clip(y, lo, hi).astype(np.int8).reshape(yt.shape)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_binary_fully_connected_params: shape, zero points, activation range and the multipliers
    s_x alpha[o] / s_y (single rounding)."""
    xt, wt, yt = c.inp(0), c.inp(1), c.out()
    depth, cols = xt.shape[-1], wt.shape[0]
    mult, shift = fp.quantize_multipliers(xt.scale * np.asarray(wt.quant.scale, np.float64) / yt.scale)
    lo, hi = act_range(c.attrs["activation"], yt)
    return {"rows": xt.size // depth, "depth": depth, "cols": cols, "row_bytes": wt.shape[1],
            "input_zp": xt.zero_point, "output_zp": yt.zero_point, "act_min": lo, "act_max": hi,
            "mult": int32_array(per_channel(mult, cols)), "shift": int32_array(per_channel(shift, cols))}
