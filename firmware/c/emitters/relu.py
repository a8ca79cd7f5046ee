"""RELU / RELU6 -> kernels/lut.c for 8-bit tensors (table from the op's own kernel), kernels/relu.c for int16."""

from __future__ import annotations

import math

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import byte_table
from edgefmr.ops import fixedpoint as fp


def _roundf(v: np.float32) -> int:
    v = float(v)
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))


def relu_call(ctx: EmitContext, act_max: float | None) -> Emitted:
    c = ctx.c
    xt, yt = c.inp(0), c.out()
    if xt.dtype in ("int8", "uint8"):
        t = ctx.array(byte_table(c), "uint8_t")
        fn = "efm_lut_s8_to8" if xt.dtype == "int8" else "efm_lut_u8_to8"
        return Emitted(f"{fn}({xt.size}, {t}, {ctx.inp(0)}, {ctx.out(0, 'uint8_t')});", ("lut",), inplace=(0,))
    # int16: edgefmr.ops.relu.relu_x's arithmetic (float32 quotient of the scales, double rounding).
    mult, shift = fp.quantize_multiplier(float(np.float32(xt.scale) / np.float32(yt.scale)))
    qmin, qmax = fp.QRANGE[yt.dtype]
    lo = max(qmin, yt.zero_point)
    hi = qmax if act_max is None else min(qmax, yt.zero_point + _roundf(np.float32(act_max) / np.float32(yt.scale)))
    p = ctx.params("efm_relu_params", n=xt.size, input_zp=xt.zero_point, output_zp=yt.zero_point, mult=mult,
                   shift=shift, lo=lo, hi=hi)
    return Emitted(f"efm_relu_s16({p}, {ctx.inp(0)}, {ctx.out()});", ("relu",), inplace=(0,))


@emitter("RELU")
def emit(ctx: EmitContext) -> Emitted:
    return relu_call(ctx, None)
