"""LAYER_NORM_CHAIN -> kernels/layer_norm_chain.h (every stage's parameters and the RSQRT(ADD(v, eps)) table from
the C emitter, computed there from the node's chain of ops)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


def chain_config(ctx: HlsContext) -> tuple[str, str]:
    """Fill the configuration struct (both ops) and return the gamma and beta ROM names."""
    c = ctx.c
    k = 1 if c.node.op == "ADD_LAYER_NORM_CHAIN" else 0
    ctx.take("rows", "channels", "square_form", "gamma_form", "mean", "centered", "square", "variance", "rsqrt",
             "normalized", "gamma_count", "scaled", "beta_count", "shifted", "residual")
    sizes = {}
    roms = []
    for i, what in ((2 + k, "gamma"), (3 + k, "beta")):
        t = c.inp(i)
        sizes[f"{what}_size"] = t.size if t is not None else 1
        roms.append(ctx.const(i, (sizes[f"{what}_size"],), "int8_t"))
    ctx.set(**sizes)
    return roms[0], roms[1]


@hls_emitter("LAYER_NORM_CHAIN")
def emit(ctx: HlsContext) -> HlsEmitted:
    gamma, beta = chain_config(ctx)
    return HlsEmitted(("layer_norm_chain",), f"efm::layer_norm_chain<P>({ctx.inp(0)}, {ctx.out()}, {gamma}, {beta});")
