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
    ctx.set(**sizes, **chain_ii(ctx.c))
    return roms[0], roms[1]


def chain_ii(c) -> dict[str, int]:
    """Initiation intervals of the squares pass and the output pass: their requantizations per element, which
    share the layer's one requantization unit (SUB and ADD 3, MUL 1; SQUARED_DIFFERENCE 3)."""
    k = 1 if c.node.op == "ADD_LAYER_NORM_CHAIN" else 0
    var_ii = 3 if c.attrs["square_form"] == "squared_difference" else 4
    norm_ii = 3 + 1 + (1 if c.inp(2 + k) is not None else 0) + (3 if c.inp(3 + k) is not None else 0)
    return {"var_ii": var_ii, "norm_ii": norm_ii}


@hls_emitter("LAYER_NORM_CHAIN")
def emit(ctx: HlsContext) -> HlsEmitted:
    gamma, beta = chain_config(ctx)
    return HlsEmitted(("layer_norm_chain",), f"efm::layer_norm_chain<P>({ctx.inp(0)}, {ctx.out()}, {gamma}, {beta});")
