"""HASH_ATTENTION -> kernels/hash_attention.c (linear form; kernels/arm/hash_attention.c on cores with the DSP
extension; kernel scratch reserved by the planner)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, scratch_bytes
from edgefmr.firmware.c.emitters.attention_gate import arm_requant
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.hash_attention import QUOTIENT_FRAC_BITS, code_bits
from edgefmr.ops.registry import OpCall


@scratch_bytes("HASH_ATTENTION")
def scratch(c: OpCall, arm: frozenset) -> int:
    """P [bits][d], V [d] and n1 [bits] as int32."""
    bits, d = code_bits(c), c.inp(2).shape[-1]
    return 4 * (bits * d + d + bits)


@emitter("HASH_ATTENTION")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    qt, kt, vt, yt = c.inp(0), c.inp(1), c.inp(2), c.out()
    mult, shift = fp.quantize_multiplier(vt.scale * 2.0**-QUOTIENT_FRAC_BITS / yt.scale)
    # The Cortex-M kernel's 32-bit output requantization (|w| <= 2^15 * 255 < 2^23, as ATTENTION_GATE's products).
    arm = arm_requant(shift, yt.zero_point) if "hash_attention" in ctx.option("arm", frozenset()) else {}
    p = ctx.params(
        "efm_hash_attention_params", batch=int(np.prod(vt.shape[:-2], dtype=np.int64)), n_queries=qt.shape[-2],
        n_keys=kt.shape[-2], depth=vt.shape[-1], bits=code_bits(c), packed=int(qt.dtype == "uint8"),
        code_bytes=qt.shape[-1], q_zp=qt.zero_point, k_zp=kt.zero_point, v_zp=vt.zero_point,
        output_zp=yt.zero_point, mult=mult, shift=shift, **arm,
    )
    return Emitted(f"efm_hash_attention({p}, {ctx.inp(0, 'void')}, {ctx.inp(1, 'void')}, {ctx.inp(2)}, "
                   f"{ctx.out()}, {ctx.scratch()});", ("hash_attention",))
