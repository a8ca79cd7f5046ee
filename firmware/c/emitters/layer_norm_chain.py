"""LAYER_NORM_CHAIN -> kernels/layer_norm_chain.c (kernels/arm/layer_norm_chain.c on cores with the DSP extension).

Every parameter comes from the op definition (edgefmr.ops.layer_norm_chain.chain_params: each stage's multipliers
from the node's chain graph, the RSQRT(ADD(v, eps)) table by the ops' reference kernels).
"""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.layer_norm_chain import chain_params

#: Fields that are arrays: (C type, used by the portable kernel too).
ARRAYS = {"rsqrt": ("int8_t", True), "square_table": ("uint32_t", False), "centered_table": ("int32_t", False),
          "residual_a_table": ("int32_t", False), "residual_b_table": ("int32_t", False),
          "gamma_table": ("int32_t", False), "beta_table": ("int32_t", False), "shifted_table": ("int32_t", False),
          "affine_table": ("int32_t", False)}


def params(ctx: EmitContext) -> str:
    """The parameter struct of node ctx.c (both ops); the Cortex-M tables only for the Cortex-M kernel."""
    q = chain_params(ctx.c)
    arm = "layer_norm_chain" in ctx.option("arm", frozenset())
    residual = ctx.c.node.op == "ADD_LAYER_NORM_CHAIN"
    fields = {k: v for k, v in q.items() if k not in ARRAYS}
    if q["affine_table"] is not None:  # the per-channel tail replaces the gamma, beta and shifted tables
        q = {**q, "gamma_table": None, "beta_table": None, "shifted_table": None}
    for k, (ctype, portable) in ARRAYS.items():
        used = portable or (arm and (residual or not k.startswith("residual")) and q[k] is not None
                            and not (k == "square_table" and q["square_form"] == 1))
        fields[k] = ctx.array(np.asarray(q[k]).astype(ctype.replace("_t", "")), ctype) if used else "NULL"
    return ctx.params("efm_layer_norm_chain_params", **fields)


@emitter("LAYER_NORM_CHAIN")
def emit(ctx: EmitContext) -> Emitted:
    p = params(ctx)
    return Emitted(f"efm_layer_norm_chain({p}, {ctx.inp(0)}, {ctx.inp(2)}, {ctx.inp(3)}, {ctx.out()});",
                   ("layer_norm_chain",), inplace=(0,))
