"""ATTENTION_GATE -> kernels/attention_gate.c with the op's Q15 sigmoid table (edgefmr.ops.attention_gate)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.attention_gate import GATE_FRAC_BITS, gate_table


@emitter("ATTENTION_GATE")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    at, gt, yt = c.inp(0), c.inp(1), c.out()
    mult, shift = fp.quantize_multiplier(at.scale * 2.0**-GATE_FRAC_BITS / yt.scale)
    p = ctx.params("efm_attention_gate_params", gates=gt.size, depth=at.shape[-1], attn_zp=at.zero_point,
                   output_zp=yt.zero_point, mult=mult, shift=shift,
                   table=ctx.array(gate_table(gt.scale, gt.zero_point), "int32_t"))
    return Emitted(f"efm_attention_gate({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.out()});", ("attention_gate",),
                   inplace=(0,))
