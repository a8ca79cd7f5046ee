"""ATTENTION_GATE -> kernels/attention_gate.c (kernels/arm/attention_gate.c on cores with the DSP extension) with the
op's Q15 sigmoid table (edgefmr.ops.attention_gate)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.attention_gate import kernel_params


def arm_requant(shift: int, zp: int) -> dict[str, int]:
    """{round, rshift} of the Cortex-M kernel's SMMLA(acc, M, round) >> rshift = mbqm(acc, M, e) + zp: exact for
    t = 31 - e >= 33 (the low word of the product cannot change the floor; rshift = t - 32), with |acc| <= 255 *
    2^15 < 2^23 the high word is below 2^22, so round = 2^(rshift-1) + zp 2^rshift must stay below 2^30; rshift 0
    (the 64-bit form) otherwise."""
    rs = 31 - shift - 32
    rnd = (1 << (rs - 1)) + (zp << rs) if 1 <= rs <= 30 else 0
    if rs < 1 or rs > 30 or abs(rnd) >= 2**30:
        return {"round": 0, "rshift": 0}
    return {"round": rnd, "rshift": rs}


@emitter("ATTENTION_GATE")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    kp = kernel_params(c)
    arm = arm_requant(kp["shift"], kp["output_zp"]) if "attention_gate" in ctx.option("arm", frozenset()) else {}
    p = ctx.param_fields("efm_attention_gate_params", kp, **arm)
    return Emitted(f"efm_attention_gate({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.out()});", ("attention_gate",),
                   inplace=(0,))
