"""LIF -> kernels/lif.h (leak, multiplier and threshold from edgefmr.ops.lif)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.ops.lif import LEAK_FRAC_BITS


@hls_emitter("LIF")
def emit(ctx: HlsContext) -> HlsEmitted:
    ctx.take("steps", "neurons", "input_zp", "leak", "mult", "shift", "theta")
    v0 = ctx.inp(1)
    ctx.set(leak_frac_bits=LEAK_FRAC_BITS, has_v0=v0 is not None)
    pre = "" if v0 else "hls::stream<int32_t> none(\"no_v0\");\n"
    tx = ctx.ctype(ctx.c.inp(0))
    ts = ctx.ctype(ctx.c.out(0))
    args = f"{ctx.inp(0)}, {v0 or 'none'}, {ctx.out(0)}, {ctx.out(1)}"
    return HlsEmitted(("lif",), f"{pre}efm::lif<P, {tx}, {ts}>({args});")
