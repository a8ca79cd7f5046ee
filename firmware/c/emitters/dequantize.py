"""DEQUANTIZE -> kernels/lut.c (8-bit per-tensor: float table made by the op's own kernel) or
kernels/dequantize.c (per-channel, int16); parameters: edgefmr.ops.dequantize.kernel_params."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.dequantize import kernel_params


@emitter("DEQUANTIZE")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt = c.inp(0)
    y = ctx.out(0, "float")
    kp = kernel_params(c)
    if xt.quant.per_axis:
        p = ctx.param_fields("efm_dequantize_pc_params", kp)
        fn = "efm_dequantize_pc_s8" if xt.dtype == "int8" else "efm_dequantize_pc_u8"
        return Emitted(f"{fn}({p}, {ctx.inp(0)}, {y});", ("dequantize",), inplace=(0,))
    if "table" in kp:
        t = ctx.array(kp["table"], "uint32_t")
        fn = "efm_lut_s8_to32" if xt.dtype == "int8" else "efm_lut_u8_to32"
        return Emitted(f"{fn}({kp['n']}, {t}, {ctx.inp(0)}, {ctx.out(0, 'uint32_t')});", ("lut",), inplace=(0,))
    return Emitted(f"efm_dequantize_s16({kp['n']}, {kp['scale'].hex()}, {kp['zero_point']}, {ctx.inp(0)}, {y});",
                   ("dequantize",), inplace=(0,))
