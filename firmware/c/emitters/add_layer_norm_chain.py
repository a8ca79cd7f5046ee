"""ADD_LAYER_NORM_CHAIN -> kernels/layer_norm_chain.c (efm_add_layer_norm_chain; the Cortex-M variant in
kernels/arm/layer_norm_chain.c): the residual ADD's parameters beside the chain's (emitters/layer_norm_chain.py)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.layer_norm_chain import params


@emitter("ADD_LAYER_NORM_CHAIN")
def emit(ctx: EmitContext) -> Emitted:
    p = params(ctx)
    return Emitted(f"efm_add_layer_norm_chain({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.inp(3)}, {ctx.inp(4)}, "
                   f"{ctx.out(0)}, {ctx.out(1)});", ("layer_norm_chain",))
