"""HASH_ATTENTION -> kernels/hash_attention.c (linear form; kernels/arm/hash_attention.c on cores with the DSP
extension; kernel scratch reserved by the planner)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, scratch_bytes
from edgefmr.firmware.c.emitters.attention_gate import arm_requant
from edgefmr.ops.hash_attention import code_bits, kernel_params
from edgefmr.ops.registry import OpCall


@scratch_bytes("HASH_ATTENTION")
def scratch(c: OpCall, arm: frozenset, lean: bool = False) -> int:
    """P [bits][d], V [d] and n1 [bits] as int32."""
    bits, d = code_bits(c), c.inp(2).shape[-1]
    return 4 * (bits * d + d + bits)


@emitter("HASH_ATTENTION")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    kp = kernel_params(c)
    # The Cortex-M kernel's 32-bit output requantization (|w| <= 2^15 * 255 < 2^23, as ATTENTION_GATE's products).
    arm = arm_requant(kp["shift"], kp["output_zp"]) if "hash_attention" in ctx.option("arm", frozenset()) else {}
    p = ctx.param_fields("efm_hash_attention_params", kp, **arm)
    return Emitted(f"efm_hash_attention({p}, {ctx.inp(0, 'void')}, {ctx.inp(1, 'void')}, {ctx.inp(2)}, "
                   f"{ctx.out()}, {ctx.scratch()});", ("hash_attention",))
