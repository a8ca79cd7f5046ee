"""LMU_UPDATE -> kernels/lmu_update.c (kernels/arm/lmu_update.c on cores with the DSP extension; kernel scratch:
one step's new state, reserved by the planner)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, scratch_bytes
from edgefmr.firmware.c.emitters.attention_gate import arm_requant
from edgefmr.ops.lmu_update import kernel_params
from edgefmr.ops.registry import OpCall


@scratch_bytes("LMU_UPDATE")
def scratch(c: OpCall, arm: frozenset, lean: bool = False) -> int:
    return 4 * c.inp(2).shape[0]


@emitter("LMU_UPDATE")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    kp = kernel_params(c)
    # The Cortex-M kernel's 32-bit output requantization (|m| < 2^31: the high word of m M is below 2^30, and
    # arm_requant keeps the folded rounding and zero point below 2^30).
    arm = arm_requant(kp["shift"], kp["output_zp"]) if "lmu_update" in ctx.option("arm", frozenset()) else {}
    p = ctx.param_fields("efm_lmu_update_params", kp, **arm)
    return Emitted(f"efm_lmu_update({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(2)}, {ctx.inp(3)}, {ctx.out(0)}, "
                   f"{ctx.out(1)}, {ctx.scratch()});", ("lmu_update",), inplace=((3, 1),))
