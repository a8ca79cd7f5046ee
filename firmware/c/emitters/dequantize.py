"""DEQUANTIZE -> kernels/lut.c (8-bit per-tensor: float table made by the op's own kernel) or
kernels/dequantize.c (per-channel, int16)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import byte_table


@emitter("DEQUANTIZE")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt = c.inp(0)
    y = ctx.out(0, "float")
    if xt.quant.per_axis:
        axis = xt.quant.axis
        ch = xt.shape[axis]
        p = ctx.params(
            "efm_dequantize_pc_params", outer=int(np.prod(xt.shape[:axis], dtype=np.int64)), channels=ch,
            inner=int(np.prod(xt.shape[axis + 1:], dtype=np.int64)),
            zero_point=ctx.array(np.asarray(xt.quant.zero_point, np.int64), "int32_t"),
            scale=ctx.array(np.asarray(xt.quant.scale, np.float32), "float"),
        )
        fn = "efm_dequantize_pc_s8" if xt.dtype == "int8" else "efm_dequantize_pc_u8"
        return Emitted(f"{fn}({p}, {ctx.inp(0)}, {y});", ("dequantize",), inplace=(0,))
    if xt.dtype in ("int8", "uint8"):
        t = ctx.array(byte_table(c), "uint32_t")
        fn = "efm_lut_s8_to32" if xt.dtype == "int8" else "efm_lut_u8_to32"
        return Emitted(f"{fn}({xt.size}, {t}, {ctx.inp(0)}, {ctx.out(0, 'uint32_t')});", ("lut",), inplace=(0,))
    scale = float(xt.scale).hex()
    return Emitted(f"efm_dequantize_s16({xt.size}, {scale}, {xt.zero_point}, {ctx.inp(0)}, {y});", ("dequantize",),
                   inplace=(0,))
