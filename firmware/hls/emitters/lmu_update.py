"""LMU_UPDATE -> kernels/lmu_update.h (multiplier from edgefmr.ops.lmu_update; pe rows of A m per cycle)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, MacArray, hls_emitter
from edgefmr.ops.registry import OpCall


def dims(c: OpCall) -> MacArray:
    d = c.inp(2).shape[0]
    return MacArray(c.inp(0).size, d, d, "mac32")


@hls_emitter("LMU_UPDATE", dims)
def emit(ctx: HlsContext) -> HlsEmitted:
    ctx.take("steps", "channels", "order", "a_frac_bits", "input_zp", "output_zp", "mult", "shift")
    m0 = ctx.inp(3)
    ctx.set(has_m0=m0 is not None, pe=ctx.folding.pe)
    a, b = ctx.const(1, None, "int32_t"), ctx.const(2, None, "int32_t")
    pre = "" if m0 else "hls::stream<int32_t> none(\"no_m0\");\n"
    return HlsEmitted(("lmu_update",), f"{pre}efm::lmu_update<P>({ctx.inp(0)}, {m0 or 'none'}, {ctx.out(0)}, "
                                       f"{ctx.out(1)}, {a}, {b});")
