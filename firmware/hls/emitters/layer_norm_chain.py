"""LAYER_NORM_CHAIN -> kernels/layer_norm_chain.h (every stage's parameters and the RSQRT(ADD(v, eps)) table from
the C emitter, computed there from the node's chain of ops)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


@hls_emitter("LAYER_NORM_CHAIN")
def emit(ctx: HlsContext) -> HlsEmitted:
    c = ctx.c
    ctx.take("rows", "channels", "square_form", "mean", "centered", "square", "variance", "rsqrt", "normalized",
             "gamma_count", "scaled", "beta_count", "shifted")
    sizes = {}
    roms = []
    for i, what in ((2, "gamma"), (3, "beta")):
        t = c.inp(i)
        sizes[f"{what}_size"] = t.size if t is not None else 1
        roms.append(ctx.const(i, (sizes[f"{what}_size"],), "int8_t"))
    ctx.set(**sizes)
    return HlsEmitted(("layer_norm_chain",),
                      f"efm::layer_norm_chain<P>({ctx.inp(0)}, {ctx.out()}, {roms[0]}, {roms[1]});")
