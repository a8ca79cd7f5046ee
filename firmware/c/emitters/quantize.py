"""QUANTIZE -> kernels/quantize.c (float and 16/32-bit inputs) or kernels/lut.c (8-bit inputs: a table made by
the op's own kernel)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import byte_table
from edgefmr.ops import fixedpoint as fp

_SIZE = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4}


@emitter("QUANTIZE")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt, yt = c.inp(0), c.out()
    if xt.dtype in ("int8", "uint8"):
        t = ctx.array(byte_table(c), "uint8_t")
        fn = "efm_lut_s8_to8" if xt.dtype == "int8" else "efm_lut_u8_to8"
        return Emitted(f"{fn}({xt.size}, {t}, {ctx.inp(0)}, {ctx.out(0, 'uint8_t')});", ("lut",), inplace=(0,))
    qmin, qmax = fp.QRANGE[yt.dtype]
    common = {"n": xt.size, "output_zp": yt.zero_point, "qmin": qmin, "qmax": qmax, "out_size": _SIZE[yt.dtype]}
    inplace = (0,) if _SIZE[yt.dtype] <= np.dtype(xt.dtype).itemsize else ()
    if xt.dtype == "float32":
        p = ctx.params("efm_quantize_params", scale=np.float32(yt.scale), input_zp=0, mult=0, shift=0, **common)
        return Emitted(f"efm_quantize_f32({p}, {ctx.inp(0)}, {ctx.out(0, 'void')});", ("quantize",), inplace)
    # edgefmr.ops.quantize.requantize: quantize_multiplier(double(s_in) / double(s_out)), double rounding.
    mult, shift = fp.quantize_multiplier(float(xt.scale) / float(yt.scale))
    p = ctx.params("efm_quantize_params", scale=np.float32(0), input_zp=xt.zero_point, mult=mult, shift=shift,
                   **common)
    fn = {"int16": "efm_quantize_s16", "int32": "efm_quantize_s32"}[xt.dtype]
    return Emitted(f"{fn}({p}, {ctx.inp(0)}, {ctx.out(0, 'void')});", ("quantize",), inplace)
