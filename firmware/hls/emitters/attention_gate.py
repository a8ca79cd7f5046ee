"""ATTENTION_GATE -> kernels/attention_gate.h (Q15 sigmoid table and multiplier from edgefmr.ops.attention_gate)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


@hls_emitter("ATTENTION_GATE")
def emit(ctx: HlsContext) -> HlsEmitted:
    ctx.take("gates", "depth", "attn_zp", "output_zp", "mult", "shift", "table")
    return HlsEmitted(("attention_gate",), f"efm::attention_gate<P>({ctx.inp(0)}, {ctx.inp(1)}, {ctx.out()});")
