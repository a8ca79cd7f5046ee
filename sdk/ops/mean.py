"""MEAN: int8/int16 mean over the axes given by a constant int32 tensor, with requantization (LiteRT semantics).

LiteRT 2.3's reference kernel has a single integer path for every axis set (also for the 4-D H,W keep_dims case that
older TFLite versions special-cased, and whether or not input and output quantization are equal): the 1/n of the
mean is folded into the fixed-point multiplier, and the result is requantized with gemmlowp's double rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.params import contiguous_strides, merge_axes
from edgefmr.ops.registry import Attr, OpCall, OpDef, register


def resolved_axes(c: OpCall) -> tuple[int, ...]:
    """The axis operand normalized to non-negative, de-duplicated axes in their given order."""
    x, ax = c.inp(0), c.inp(1)
    if ax.dtype != "int32" or ax.data is None or len(ax.shape) > 1:
        raise c.fail("axis must be a constant int32 scalar or vector")
    out: list[int] = []
    for a in np.asarray(ax.data).ravel().tolist():
        r = a + len(x.shape) if a < 0 else a
        if not 0 <= r < len(x.shape):
            raise c.fail(f"axis {a} is out of range for input of rank {len(x.shape)}")
        if r not in out:
            out.append(r)
    return tuple(out)


@register
class Mean(OpDef):
    name = "MEAN"
    n_inputs = (2, 2)
    const_inputs = (1,)
    tflite_options = "ReducerOptions"
    attrs = {"keep_dims": Attr(False, "keepDims", choices=(False, True))}

    def check(self, c: OpCall) -> None:
        x, y = c.inp(0), c.out()
        if x.dtype not in ("int8", "int16") or y.dtype != x.dtype:
            raise c.fail(f"needs int8 or int16 input and the same output dtype, got {x.dtype}/{y.dtype}")
        if x.quant is None or y.quant is None or x.quant.per_axis or y.quant.per_axis:
            raise c.fail("input and output need per-tensor quantization")
        if x.dtype == "int16" and (x.zero_point != 0 or y.zero_point != 0):
            raise c.fail(f"int16 needs zero points 0, got input {x.zero_point}, output {y.zero_point}")
        if x.size == 0:
            raise c.fail("input must not be empty")
        resolved_axes(c)

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        x = c.inp(0)
        axes = resolved_axes(c)
        if c.attrs["keep_dims"]:
            return [tuple(1 if i in axes else d for i, d in enumerate(x.shape))]
        return [tuple(d for i, d in enumerate(x.shape) if i not in axes)]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        x = xs[0]
        xt, yt = c.inp(0), c.out()
        axes = resolved_axes(c)
        n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        total = x.astype(np.int64).sum(axis=axes) if axes else x.astype(np.int64)
        mult, shift = fp.quantize_multiplier(xt.scale / yt.scale)
        # Fold 1/n into the multiplier: m' = (M << s) // n, shift' = shift - s, s = floor(log2 n) (at most 31 + shift).
        s = min(n.bit_length() - 1, 32, 31 + shift)
        mult, shift = (mult << s) // n, shift - s
        out = fp.multiply_by_quantized_multiplier_double(total - xt.zero_point * n, mult, shift) + yt.zero_point
        return [fp.saturate(out, yt.dtype).reshape(yt.shape)]


#: Kept and reduced axes of the kernel (efm_mean_params).
MAX_KERNEL_DIMS = 8


def mean_multiplier(xt, yt, n: int) -> tuple[int, int]:
    """The multiplier s_x / s_y with 1/n folded in (m' = (M << s) // n, shift' = shift - s)."""
    mult, shift = fp.quantize_multiplier(xt.scale / yt.scale)
    s = min(n.bit_length() - 1, 32, 31 + shift)
    return (mult << s) // n, shift - s


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_mean_params: kept and reduced axes (merged, with element strides), the element count, zero points, the
    multiplier and the output range."""
    xt, yt = c.inp(0), c.out()
    axes = resolved_axes(c)
    strides = contiguous_strides(xt.shape)
    kept = [d for d in range(len(xt.shape)) if d not in axes]
    red = sorted(axes)
    oc, (os_,) = merge_axes([xt.shape[d] for d in kept], [strides[d] for d in kept])
    rc, (rs,) = merge_axes([xt.shape[d] for d in red], [strides[d] for d in red])
    if len(oc) > MAX_KERNEL_DIMS or len(rc) > MAX_KERNEL_DIMS:
        raise c.fail(f"too many axes for the kernel ({MAX_KERNEL_DIMS} at most)")
    n = int(np.prod([xt.shape[a] for a in axes], dtype=np.int64))
    mult, shift = mean_multiplier(xt, yt, n)
    qmin, qmax = fp.QRANGE[yt.dtype]
    return {"out_ndim": len(oc), "out_count": oc or [1], "out_stride": os_ or [0], "red_ndim": len(rc),
            "red_count": rc or [1], "red_stride": rs or [0], "n": n, "input_zp": xt.zero_point,
            "output_zp": yt.zero_point, "mult": mult, "shift": shift, "qmin": qmin, "qmax": qmax}
