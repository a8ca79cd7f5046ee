"""LIF -> kernels/lif.c (kernels/arm/lif.c on cores with the DSP extension; parameters from
edgefmr.ops.lif.Lif.params)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.lif import LEAK_FRAC_BITS, kernel_params


def arm_params(d: int, shift: int, zp: int, dtype: str) -> dict[str, int]:
    """The Cortex-M kernel's 32-bit forms (kernels/arm/lif.c): leak32 and mode bit 0 (SMMLAR(v, -K 2^17, v) with
    K = 2^15 - D <= 2^14, else SMMULR(v, D 2^17)); in_scale = 2^(e+1), in_offset = -zp 2^(e+1) and mode bit 1 when
    e >= -1 and every (x - zp) 2^(e+1) fits 32 bits (then mbqm(x - zp, M, e) = SMMULR((x - zp) 2^(e+1), M))."""
    k = (1 << LEAK_FRAC_BITS) - d
    mode, leak32 = (1, -(k << 17)) if k <= 1 << 14 else (0, d << 17)
    info = np.iinfo(dtype)
    span = max(abs(int(info.min) - zp), abs(int(info.max) - zp))
    scale = offset = 0
    if shift >= -1 and span << (shift + 1) < 2**31:
        scale, offset = 1 << (shift + 1), -zp << (shift + 1)
        mode |= 2
    return {"leak32": leak32, "in_scale": scale, "in_offset": offset, "mode": mode}


@emitter("LIF")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    xt = c.inp(0)
    kp = kernel_params(c)
    arm = {}
    if "lif" in ctx.option("arm", frozenset()):
        arm = arm_params(kp["leak"], kp["shift"], xt.zero_point, xt.dtype)
    p = ctx.param_fields("efm_lif_params", kp, **arm)
    inplace = ((0, 0), (1, 1)) if xt.dtype == "int8" else ((1, 1),)
    return Emitted(f"efm_lif({p}, {ctx.inp(0, 'void')}, {np.dtype(xt.dtype).itemsize}, {ctx.inp(1)}, "
                   f"{ctx.out(0, 'uint8_t')}, {ctx.out(1)});", ("lif",), inplace)
