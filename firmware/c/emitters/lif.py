"""LIF -> kernels/lif.c (parameters from edgefmr.ops.lif.Lif.params)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter


@emitter("LIF")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt = c.inp(0)
    d, mult, shift, theta = c.opdef.params(c)
    p = ctx.params("efm_lif_params", steps=xt.shape[0], neurons=int(np.prod(xt.shape[1:], dtype=np.int64)),
                   input_zp=xt.zero_point, leak=d, mult=mult, shift=shift, theta=theta)
    inplace = ((0, 0), (1, 1)) if xt.dtype == "int8" else ((1, 1),)
    return Emitted(f"efm_lif({p}, {ctx.inp(0, 'void')}, {np.dtype(xt.dtype).itemsize}, {ctx.inp(1)}, "
                   f"{ctx.out(0, 'uint8_t')}, {ctx.out(1)});", ("lif",), inplace)
