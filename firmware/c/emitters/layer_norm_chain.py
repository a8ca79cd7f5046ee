"""LAYER_NORM_CHAIN -> kernels/layer_norm_chain.c (kernels/arm/layer_norm_chain.c on cores with the DSP extension).

Every parameter comes from the node's chain graph (edgefmr.ops.layer_norm_chain.chain_graph): each stage's
multipliers are computed by the same edgefmr.ops functions as the chain op's own emitter, the RSQRT(ADD(v, eps))
table by the ops' reference kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters.mean import mean_multiplier
from edgefmr.ops import add, mul, squared_difference
from edgefmr.ops.elementwise import mbqm, smaller_than_one
from edgefmr.ops.layer_norm_chain import chain_graph
from edgefmr.ops.registry import OpCall, call
from edgefmr.ops.rsqrt import rsqrt_table


def binary_stage(c: OpCall) -> list[int]:
    """{a_zp, b_zp, a_mult, a_shift, b_mult, b_shift, mult, shift, zp} of a binary chain node (kernels/binary.h)."""
    at, bt, yt = c.inp(0), c.inp(1), c.out()
    if c.node.op == "MUL":
        am = ash = bm = bsh = 0
        out = mul.output_multiplier(c)
    else:
        twice_max = 2.0 * max(at.scale, bt.scale)
        am, ash = smaller_than_one(c, at.scale / twice_max, "input rescale")
        bm, bsh = smaller_than_one(c, bt.scale / twice_max, "input rescale")
        fn = squared_difference.output_multiplier if c.node.op == "SQUARED_DIFFERENCE" else add.output_multiplier
        out = fn(c, twice_max)
    return [at.zero_point, bt.zero_point, am, ash, bm, bsh, out[0], out[1], yt.zero_point]


def mean_stage(c: OpCall) -> list[int]:
    """{input zp, mult, shift, output zp} of a MEAN chain node over its last axis."""
    xt, yt = c.inp(0), c.out()
    mult, shift = mean_multiplier(xt, yt, xt.shape[-1])
    return [xt.zero_point, mult, shift, yt.zero_point]


def rsqrt_of_variance(add_c: OpCall, rsqrt_c: OpCall) -> np.ndarray:
    """r = RSQRT(ADD(v, eps)) for v = -128..127, by the ops' reference kernels (values whose sum lies below the
    RSQRT input's zero point, where the chain's reference stops with an error, map to RSQRT's table value 0)."""
    from edgefmr.firmware.c.emitters._common import probe

    v = np.arange(-128, 128, dtype=np.int8)  # chain_graph writes ADD(variance, eps)
    ve = probe(add_c, {0: v}).astype(np.int64).ravel()
    rt, yt = rsqrt_c.inp(0), rsqrt_c.out()
    return rsqrt_table(rt.scale, rt.zero_point, yt.scale, yt.zero_point)[ve + 128]


def chain_params(c: OpCall) -> dict[str, Any]:
    """The kernel's parameter fields (stages as lists, the table as an int8 array) and the Cortex-M tables, for
    LAYER_NORM_CHAIN and ADD_LAYER_NORM_CHAIN (whose residual ADD is one more stage)."""
    g = chain_graph(c)
    nodes = {n.outputs[0]: call(n, g) for n in g.nodes}
    k = 1 if c.node.op == "ADD_LAYER_NORM_CHAIN" else 0
    x = c.out(0)
    ch = x.shape[-1]
    gamma, beta = c.inp(2 + k), c.inp(3 + k)
    # the chain graph's stages by what they read: MUL(c, r or r * gamma), MUL(., gamma), ADD(., beta)
    final = {"normalized": next(o for o, n in nodes.items() if n.node.op == "MUL" and o != "square"
                                and "centered" in n.node.inputs)}
    final["scaled"] = next((o for o, n in nodes.items() if "gamma" in n.node.inputs), None)
    sq = nodes["square"]
    out: dict[str, Any] = {
        "rows": x.size // ch, "channels": ch, "square_form": 0 if sq.node.op == "SQUARED_DIFFERENCE" else 1,
        "gamma_form": 1 if c.attrs["gamma_form"] == "rsqrt" else 0,
        "mean": mean_stage(nodes["mean"]), "centered": binary_stage(nodes["centered"]),
        "square": binary_stage(sq), "variance": mean_stage(nodes["variance"]),
        "rsqrt": rsqrt_of_variance(nodes["variance_eps"], nodes["rsqrt"]),
        "normalized": binary_stage(nodes[final["normalized"]]),
        "gamma_count": gamma.size if gamma is not None else 0,
        "scaled": binary_stage(nodes[final["scaled"]]) if gamma is not None else [0] * 9,
        "beta_count": beta.size if beta is not None else 0,
        "shifted": binary_stage(nodes["y"]) if beta is not None else [0] * 9,
        "residual": binary_stage(nodes["sum"]) if k else [0] * 9,
    }
    # Cortex-M tables: the rescaled x of SQUARED_DIFFERENCE(x, m) and of SUB(x, m), for x = -128..127.
    xs = np.arange(-128, 128, dtype=np.int64)
    s, cst = out["square"], out["centered"]
    out["square_table"] = (mbqm((xs - s[0]) << squared_difference.LEFT_SHIFT, s[2], s[3])
                           if out["square_form"] == 0 else np.zeros(256, np.int64))
    out["centered_table"] = 2 * mbqm((xs - cst[0]) << add.LEFT_SHIFT, cst[2], cst[3])
    res = out["residual"]
    out["residual_a_table"] = 2 * mbqm((xs - res[0]) << add.LEFT_SHIFT, res[2], res[3])
    out["residual_b_table"] = 2 * mbqm((xs - res[1]) << add.LEFT_SHIFT, res[4], res[5])
    # gamma: (gamma_i - zp) << (left + 1) per channel, when the 32-bit product cannot overflow (else the kernel
    # falls back to the portable arithmetic); beta: twice the rescaled beta_i per channel, and twice the rescaled n
    # for n = -128..127 (ADD's two rescaled inputs).
    gs, bs = out["scaled"], out["shifted"]
    left = max(gs[7], 0)
    out["gamma_table"] = None
    if gamma is not None and left <= 14 and out["gamma_form"] == 0:
        gv = np.broadcast_to(gamma.data.astype(np.int64).ravel(), (out["gamma_count"],))
        out["gamma_table"] = (gv - gs[1]) << (left + 1)
    out["beta_table"] = out["shifted_table"] = None
    if beta is not None:
        bv = np.broadcast_to(beta.data.astype(np.int64).ravel(), (out["beta_count"],))
        out["beta_table"] = 2 * mbqm((bv - bs[1]) << add.LEFT_SHIFT, bs[4], bs[5])
        out["shifted_table"] = 2 * mbqm((xs - bs[0]) << add.LEFT_SHIFT, bs[2], bs[3])
    return out


#: Fields that are arrays: (C type, used by the portable kernel too).
ARRAYS = {"rsqrt": ("int8_t", True), "square_table": ("int16_t", False), "centered_table": ("int32_t", False),
          "residual_a_table": ("int32_t", False), "residual_b_table": ("int32_t", False),
          "gamma_table": ("int32_t", False), "beta_table": ("int32_t", False), "shifted_table": ("int32_t", False)}


def params(ctx: EmitContext) -> str:
    """The parameter struct of node ctx.c (both ops); the Cortex-M tables only for the Cortex-M kernel."""
    q = chain_params(ctx.c)
    arm = "layer_norm_chain" in ctx.option("arm", frozenset())
    residual = ctx.c.node.op == "ADD_LAYER_NORM_CHAIN"
    fields = {k: v for k, v in q.items() if k not in ARRAYS}
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
