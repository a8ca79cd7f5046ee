"""DEQUANTIZE: int8/uint8/int16 -> float32, computed exactly as LiteRT's reference kernel.

Per-tensor: y = float32(double(scale) · (q − zero_point)). Per-channel (int8/uint8, e.g. constant weights):
y = float32(q − zero_point[c]) · scale[c] in float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops.params import table_params
from edgefmr.ops.registry import OpCall, OpDef, register

DTYPES = ("int8", "uint8", "int16")


@register
class Dequantize(OpDef):
    name = "DEQUANTIZE"
    access = "elementwise"
    in_place = True

    def check(self, c: OpCall) -> None:
        x, y = c.inp(0), c.out()
        if x.dtype not in DTYPES:
            raise c.fail(f"input dtype {x.dtype} is not supported; valid: {', '.join(DTYPES)}")
        if y.dtype != "float32":
            raise c.fail(f"output dtype must be float32, got {y.dtype}")
        if x.quant is None:
            raise c.fail(f"input {x.name!r} must be quantized")
        if x.quant.per_axis and x.dtype == "int16":
            raise c.fail("per-channel dequantization supports int8 and uint8 inputs only")
        if x.dtype == "int16" and x.zero_point != 0:
            raise c.fail(f"an int16 input needs zero point 0, got {x.zero_point}")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        return [c.inp(0).shape]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        xt = c.inp(0)
        q = xs[0].astype(np.int64)
        if xt.quant.per_axis:
            nd = len(xt.shape)
            diff = (q - xt.quant.zp_array(nd)).astype(np.float32)
            return [(diff * xt.quant.scale_array(nd).astype(np.float32)).astype(np.float32)]
        return [(np.float64(xt.scale) * (q - xt.zero_point)).astype(np.float32)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """Per-channel inputs: efm_dequantize_pc_params (outer, channels, inner, int32 zero points, float32 scales).
    8-bit per-tensor inputs: a 256-entry table of float bit patterns (`table`, uint32; table_params). int16:
    n, scale (float) and zero_point."""
    xt = c.inp(0)
    if xt.quant.per_axis:
        axis = xt.quant.axis
        return {"outer": int(np.prod(xt.shape[:axis], dtype=np.int64)), "channels": xt.shape[axis],
                "inner": int(np.prod(xt.shape[axis + 1:], dtype=np.int64)),
                "zero_point": np.asarray(xt.quant.zero_point, np.int64).astype(np.int32),
                "scale": np.asarray(xt.quant.scale, np.float32)}
    if xt.dtype in ("int8", "uint8"):
        return table_params(c)
    return {"n": xt.size, "scale": float(xt.scale), "zero_point": xt.zero_point}
