"""RELU / RELU6 -> kernels/lut.c for 8-bit tensors (table from the op's own kernel), kernels/relu.c for int16;
parameters: edgefmr.ops.relu.relu_params."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.relu import relu_params


def relu_call(ctx: EmitContext, act_max: float | None) -> Emitted:
    c = ctx.c
    xt = c.inp(0)
    kp = relu_params(c, act_max)
    if "table" in kp:
        t = ctx.array(kp["table"], "uint8_t")
        fn = "efm_lut_s8_to8" if xt.dtype == "int8" else "efm_lut_u8_to8"
        return Emitted(f"{fn}({kp['n']}, {t}, {ctx.inp(0)}, {ctx.out(0, 'uint8_t')});", ("lut",), inplace=(0,))
    p = ctx.param_fields("efm_relu_params", kp)
    return Emitted(f"efm_relu_s16({p}, {ctx.inp(0)}, {ctx.out()});", ("relu",), inplace=(0,))


@emitter("RELU")
def emit(ctx: EmitContext) -> Emitted:
    return relu_call(ctx, None)
