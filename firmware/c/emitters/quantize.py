"""QUANTIZE -> kernels/quantize.c (float and 16/32-bit inputs) or kernels/lut.c (8-bit inputs: a table made by
the op's own kernel); parameters: edgefmr.ops.quantize.kernel_params."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.quantize import kernel_params


@emitter("QUANTIZE")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt = c.inp(0)
    kp = kernel_params(c)
    if "table" in kp:
        t = ctx.array(kp["table"], "uint8_t")
        fn = "efm_lut_s8_to8" if xt.dtype == "int8" else "efm_lut_u8_to8"
        return Emitted(f"{fn}({kp['n']}, {t}, {ctx.inp(0)}, {ctx.out(0, 'uint8_t')});", ("lut",), inplace=(0,))
    inplace = (0,) if kp["out_size"] <= np.dtype(xt.dtype).itemsize else ()
    p = ctx.param_fields("efm_quantize_params", kp)
    fn = {"float32": "efm_quantize_f32", "int16": "efm_quantize_s16", "int32": "efm_quantize_s32"}[xt.dtype]
    return Emitted(f"{fn}({p}, {ctx.inp(0)}, {ctx.out(0, 'void')});", ("quantize",), inplace)
