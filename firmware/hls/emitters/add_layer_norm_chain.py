"""ADD_LAYER_NORM_CHAIN -> kernels/add_layer_norm_chain.h (parameters from the C emitter, as LAYER_NORM_CHAIN's)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.layer_norm_chain import chain_config


@hls_emitter("ADD_LAYER_NORM_CHAIN")
def emit(ctx: HlsContext) -> HlsEmitted:
    gamma, beta = chain_config(ctx)
    return HlsEmitted(("add_layer_norm_chain", "layer_norm_chain"),
                      f"efm::add_layer_norm_chain<P>({ctx.inp(0)}, {ctx.inp(1)}, {ctx.out(0)}, {ctx.out(1)}, "
                      f"{gamma}, {beta});")
