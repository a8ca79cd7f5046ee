"""LMU_UPDATE -> kernels/lmu_update.c (kernels/arm/lmu_update.c on cores with the DSP extension; kernel scratch:
one step's new state, reserved by the planner)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, scratch_bytes
from edgefmr.firmware.c.emitters.attention_gate import arm_requant
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.registry import OpCall


@scratch_bytes("LMU_UPDATE")
def scratch(c: OpCall, arm: frozenset) -> int:
    return 4 * c.inp(2).shape[0]


@emitter("LMU_UPDATE")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    ut, yt = c.inp(0), c.out(0)
    # edgefmr.ops.lmu_update's requantization: s_u * 2^-F_m / s_y, single rounding.
    mult, shift = fp.quantize_multiplier(ut.scale * 2.0 ** -c.attrs["state_frac_bits"] / yt.scale)
    # The Cortex-M kernel's 32-bit output requantization (|m| < 2^31: the high word of m M is below 2^30, and
    # arm_requant keeps the folded rounding and zero point below 2^30).
    arm = arm_requant(shift, yt.zero_point) if "lmu_update" in ctx.option("arm", frozenset()) else {}
    p = ctx.params("efm_lmu_update_params", steps=ut.shape[0],
                   channels=int(np.prod(ut.shape[1:], dtype=np.int64)), order=c.inp(2).shape[0],
                   a_frac_bits=c.attrs["a_frac_bits"], input_zp=ut.zero_point, output_zp=yt.zero_point, mult=mult,
                   shift=shift, **arm)
    return Emitted(f"efm_lmu_update({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.inp(3)}, {ctx.out(0)}, "
                   f"{ctx.out(1)}, {ctx.scratch()});", ("lmu_update",), inplace=((3, 1),))
