"""LAYER_NORM_CHAIN: TensorFlow's int8 LayerNorm chain (MEAN, SQUARED_DIFFERENCE or SUB + MUL, MEAN, ADD eps,
RSQRT, SUB, MUL, optional MUL gamma and ADD beta over the last axis) as one node, with every intermediate rounding
of the chain. Exact definition: docs/ops/LAYER_NORM_CHAIN.md.

The node keeps the quantization of each intermediate tensor of the chain in its attributes; the reference kernel
rebuilds the chain as a small graph of the existing ops (`chain_graph`) and runs their own reference kernels, so its
results are the chain's bits by construction. The code generators take every multiplier from the same sub-graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.errors import IRError
from edgefmr.ir.builder import GraphBuilder
from edgefmr.ir.interpreter import run
from edgefmr.ops import add, mul, squared_difference
from edgefmr.ops.elementwise import mbqm, smaller_than_one
from edgefmr.ops.mean import mean_multiplier
from edgefmr.ops.params import probe
from edgefmr.ops.registry import Attr, OpCall, OpDef, call, register
from edgefmr.ops.rsqrt import rsqrt_table

#: The intermediate tensors of the chain whose quantization the node carries, in chain order.
STEPS = ("mean", "square", "variance", "variance_eps", "rsqrt", "centered", "normalized", "scaled")
#: How the squared deviation is computed: SQUARED_DIFFERENCE(x, mean) or MUL(centered, centered).
SQUARE_FORMS = ("squared_difference", "mul")
#: Where gamma multiplies: the normalized rows (MUL(MUL(c, r), gamma)) or the reciprocal root first
#: (MUL(c, MUL(r, gamma))).
GAMMA_FORMS = ("normalized", "rsqrt")


def _quant_pair(v) -> tuple[float, int] | None:
    if v is None:
        return None
    if not isinstance(v, list | tuple) or len(v) != 2:
        raise IRError(f"expected [scale, zero_point], got {v!r}")
    return float(np.float32(v[0])), int(v[1])


def chain_graph(c: OpCall, shape: tuple[int, ...] | None = None):
    """The unfused chain of node `c` as a Graph made of the ops the converter wrote, each node's own checks run;
    c.fail() for an invalid chain. LAYER_NORM_CHAIN: input `x` (of `shape`, default the node's input shape), output
    `y`. ADD_LAYER_NORM_CHAIN: inputs `a` and `b` (a constant `b` stays a constant), `sum` = ADD(a, b) (the node's
    output 0), then the chain on `sum` (`shape` is a's), outputs `sum` and `y`."""

    residual = c.node.op == "ADD_LAYER_NORM_CHAIN"
    k = 1 if residual else 0  # position of eps, gamma, beta after x (or after a and b)
    x, eps, gamma, beta, y = c.inp(0), c.inp(1 + k), c.inp(2 + k), c.inp(3 + k), c.out(k)
    shape = tuple(x.shape if shape is None else shape)
    q = {k: _quant_pair(c.attrs[k]) for k in STEPS}
    on_rsqrt = c.attrs["gamma_form"] == "rsqrt"
    if on_rsqrt and gamma is None:
        raise c.fail("gamma_form 'rsqrt' needs gamma")
    need = ["mean", "square", "variance", "variance_eps", "rsqrt", "centered"]
    if beta is not None or (gamma is not None and not on_rsqrt):
        need.append("normalized")
    if gamma is not None and (beta is not None or on_rsqrt):
        need.append("scaled")
    missing = [k for k in need if q[k] is None]
    if missing:
        raise c.fail(f"needs the quantization of {missing} ([scale, zero_point] attributes)")
    out_q = {"scale": y.scale, "zero_point": y.zero_point}

    def qa(k: str) -> dict:
        return {"scale": q[k][0], "zero_point": q[k][1]}

    b = GraphBuilder()
    try:
        if residual:
            st, bt = c.out(0), c.inp(1)
            ai = b.input("a", shape, scale=x.scale, zero_point=x.zero_point)
            bi = (b.const("b", bt.data, scale=bt.scale, zero_point=bt.zero_point) if bt.is_const else
                  b.input("b", bt.shape, scale=bt.scale, zero_point=bt.zero_point))
            xi = b.op("ADD", [ai, bi], name="sum", scale=st.scale, zero_point=st.zero_point)
            shape = b.g.tensors[xi].shape
        else:
            xi = b.input("x", shape, scale=x.scale, zero_point=x.zero_point)
        axis = b.const("axis", np.array([len(shape) - 1], np.int32))
        e = b.const("eps", eps.data, scale=eps.scale, zero_point=eps.zero_point)
        m = b.op("MEAN", [xi, axis], name="mean", keep_dims=True, **qa("mean"))
        cen = b.op("SUB", [xi, m], name="centered", **qa("centered"))
        if c.attrs["square_form"] == "mul":
            sq = b.op("MUL", [cen, cen], name="square", **qa("square"))
        else:
            sq = b.op("SQUARED_DIFFERENCE", [xi, m], name="square", **qa("square"))
        v = b.op("MEAN", [sq, axis], name="variance", keep_dims=True, **qa("variance"))
        ve = b.op("ADD", [v, e], name="variance_eps", **qa("variance_eps"))
        r = b.op("RSQRT", [ve], name="rsqrt", **qa("rsqrt"))
        if on_rsqrt:  # gamma scales the reciprocal root, per channel, before the normalization
            gi = b.const("gamma", gamma.data, scale=gamma.scale, zero_point=gamma.zero_point)
            r = b.op("MUL", [r, gi], name="scaled", **qa("scaled"))
        last = "normalized" if beta is not None or (gamma is not None and not on_rsqrt) else "y"
        n = b.op("MUL", [cen, r], name=last, **(qa("normalized") if last != "y" else out_q))
        if gamma is not None and not on_rsqrt:
            gi = b.const("gamma", gamma.data, scale=gamma.scale, zero_point=gamma.zero_point)
            n = b.op("MUL", [n, gi], name="scaled" if beta is not None else "y",
                     **(qa("scaled") if beta is not None else out_q))
        if beta is not None:
            bi = b.const("beta", beta.data, scale=beta.scale, zero_point=beta.zero_point)
            n = b.op("ADD", [n, bi], name="y", **out_q)
        b.output(*([xi, n] if residual else [n]))
        g = b.build()
    except IRError as err:
        raise c.fail(f"the chain it stands for is invalid: {err}") from None
    if g.tensors[g.outputs[-1]].shape != tuple(shape):
        raise c.fail(f"the chain's output shape {list(g.tensors[g.outputs[-1]].shape)} is not the input's")
    return g


class ChainOp(OpDef):
    """What LAYER_NORM_CHAIN and ADD_LAYER_NORM_CHAIN share: the attributes, the checks of eps / gamma / beta, and
    shapes, counts and results taken from the node's chain graph."""

    #: Data inputs before eps (x; or a and b).
    data_inputs: int = 1
    attrs = {**{k: Attr(None) for k in STEPS}, "square_form": Attr("squared_difference", choices=SQUARE_FORMS),
             "gamma_form": Attr("normalized", choices=GAMMA_FORMS)}

    def check(self, c: OpCall) -> None:
        k = self.data_inputs
        ts = [c.inp(i) for i in range(k)] + [c.out(j) for j in range(len(c.node.outputs))]
        if any(t.dtype != "int8" or t.quant is None or t.quant.per_axis for t in ts):
            raise c.fail("inputs and outputs must be int8 with per-tensor quantization")
        x = c.out(0)
        if not x.shape or x.size == 0 or any(t.size != x.size for t in ts):
            raise c.fail("inputs and outputs must have a last axis and the same number of elements")
        ch = x.shape[-1]
        if c.inp(k).size != 1:
            raise c.fail(f"eps must hold one value, got shape {list(c.inp(k).shape)}")
        for i, what in ((k + 1, "gamma"), (k + 2, "beta")):
            t = c.inp(i)
            if t is not None and (t.size not in (1, ch) or (t.size > 1 and t.shape[-1] != ch)):
                raise c.fail(f"{what} must hold one value or one per channel ({ch}), got shape {list(t.shape)}")
        chain_graph(c)

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        g = chain_graph(c)
        return [g.tensors[o].shape for o in g.outputs]

    def macs(self, c: OpCall) -> int:

        g = chain_graph(c)
        return sum(call(n, g).opdef.macs(call(n, g)) for n in g.nodes)

    def op_counts(self, c: OpCall) -> dict[str, int]:

        g = chain_graph(c)
        out = {"mults": 0, "adds": 0}
        for n in g.nodes:
            nc = call(n, g)
            for k, v in nc.opdef.op_counts(nc).items():
                out[k] = out.get(k, 0) + v
        return out

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:

        g = chain_graph(c, xs[0].shape)
        res = run(g, [x for x, name in zip(xs, ("a", "b") if self.data_inputs == 2 else ("x",), strict=False)
                      if name in g.inputs])
        return [res[o] for o in g.outputs]


@register
class LayerNormChain(ChainOp):
    """Inputs: x (int8 [..., C]), eps (int8 constant, one value), gamma and beta (optional int8 constants, one value
    or C values). Output: int8 of x's shape."""

    name = "LAYER_NORM_CHAIN"
    tflite_op = None
    access = "row"
    n_inputs = (2, 4)
    const_inputs = (1, 2, 3)


# ------------------------------------------------------------------------------------------- kernel parameters

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
    # (packed twice, both int16 halves: SSUB16 and SMUAD make 2 d^2 of d = t - b in two instructions; |t| <= 2^14)
    sq = (mbqm((xs - s[0]) << squared_difference.LEFT_SHIFT, s[2], s[3]) if out["square_form"] == 0
          else np.zeros(256, np.int64))
    out["square_table"] = (sq & 0xFFFF) * 0x10001
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
    out["affine_table"] = affine_table(c, nodes, out)
    out["arm_round"] = round_free(nodes, final, out)
    return out


def _no_sign_fix(v2: np.ndarray, stage: list[int], want: np.ndarray) -> bool:
    """Whether the Cortex-M kernel's 32-bit requantization of the doubled, left-shifted v2 (SMMLAR(v2, M, k) >> e,
    k = 2^(e-1) + zp 2^e) gives `want` (the stage's reference output) without its sign correction (k - 1 for a
    negative v2: the half-away-from-zero rounding of the shift) for every v2: true where no v2 lands on a tie."""
    mult, shift, zp = stage[6], stage[7], stage[8]
    e = max(-shift, 0)
    if e == 0:
        return False
    t = ((np.asarray(v2, np.int64) * mult + (1 << 31)) >> 32) + (1 << (e - 1)) + (zp << e)
    return bool(np.array_equal(np.clip(t >> e, -128, 127), np.asarray(want, np.int64)))


def round_free(nodes: dict[str, OpCall], final: dict[str, str | None], q: dict[str, Any]) -> int:
    """Bits of the Cortex-M kernel's requantizations that need no sign correction, checked on every input pair:
    1 SUB(x, m) (all x and m), 2 MUL(c, r) (all c and r), 4 MUL(n, gamma) (all n, every channel); 0 where a
    stage's 32-bit form does not apply (the kernel then keeps the correction or takes another path)."""
    grid = np.arange(-128, 128, dtype=np.int64)
    bits = 0
    cst, nst = q["centered"], q["normalized"]
    if cst[3] <= 0 and cst[5] <= 0 and cst[7] < 0:
        b2 = 2 * mbqm((grid - cst[1]) << add.LEFT_SHIFT, cst[4], cst[5])
        v = np.asarray(q["centered_table"], np.int64)[None, :] - b2[:, None]
        want = probe(nodes["centered"], {0: np.broadcast_to(grid.astype(np.int8)[None, :], (256, 256)),
                                         1: grid.astype(np.int8)[:, None]})
        bits |= _no_sign_fix(v, cst, want)
    left = max(nst[7], 0)
    if q["gamma_form"] == 0 and left <= 14:
        v = ((grid[None, :] - nst[0]) * (grid[:, None] - nst[1])) << (left + 1)
        want = probe(nodes[final["normalized"]], {0: np.broadcast_to(grid.astype(np.int8)[None, :], (256, 256)),
                                                  1: grid.astype(np.int8)[:, None]})
        bits |= 2 * _no_sign_fix(v, nst, want)
    if q["gamma_table"] is not None and q["gamma_form"] == 0:
        gst = q["scaled"]
        g = np.broadcast_to(np.asarray(q["gamma_table"], np.int64), (q["channels"],))
        v = (grid[:, None] - gst[0]) * g[None, :]
        want = probe(nodes[final["scaled"]], {0: np.broadcast_to(grid.astype(np.int8)[:, None], (256, q["channels"]))})
        bits |= 4 * _no_sign_fix(v, gst, np.asarray(want).reshape(256, -1))
    return bits


#: The Cortex-M tail's input scale: ADD(., beta) as ssat8(hi32((v << AFFINE_SHIFT) * A + B)) of its int8 input v.
AFFINE_SHIFT = 8


_PAIRS = np.triu_indices(256, 1)  # (j, i), j < i: the pairs of inputs that bound A


def affine_fits(want: np.ndarray, chunk: int = 16) -> list[tuple[int, int] | None]:
    """Per column of `want` ([256, C] int8 outputs for the inputs -128..127): (A, B), an int32 and an int64, with
    ssat8(floor(((k << AFFINE_SHIFT) A + B) / 2^32)) == want[k + 128] for every int8 k, or None where no such pair
    exists. The feasible A form an interval (bounded by every pair of points); its middle is taken, then the lowest
    feasible B; each result is checked on all 256 inputs. Columns in chunks (numpy over pairs x columns)."""
    k = np.arange(-128, 128, dtype=np.int64) << AFFINE_SHIFT
    want = np.asarray(want, np.int64)
    inf = np.int64(1) << 60
    j, i = _PAIRS
    d = (k[i] - k[j])[:, None]
    out: list[tuple[int, int] | None] = []
    for c0 in range(0, want.shape[1], chunk):
        t = want[:, c0:c0 + chunk]
        lo = np.where(t == -128, -inf, t << 32)  # bounds of k A + B: [t 2^32, (t + 1) 2^32), open at saturation
        hi = np.where(t == 127, inf, ((t + 1) << 32) - 1)
        low = (lo[i] > -inf) & (hi[j] < inf)
        high = (hi[i] < inf) & (lo[j] > -inf)
        a_lo = np.where(low, -((hi[j] - lo[i]) // d), -(2**31)).max(axis=0, initial=-(2**31))
        a_hi = np.where(high, (hi[i] - lo[j]) // d, 2**31 - 1).min(axis=0, initial=2**31 - 1)
        for col in range(t.shape[1]):
            if a_lo[col] > a_hi[col]:
                out.append(None)
                continue
            a = (int(a_lo[col]) + int(a_hi[col])) // 2
            b_lo, b_hi = int((lo[:, col] - k * a).max()), int((hi[:, col] - k * a).min())
            b = b_lo if b_lo > -inf else b_hi
            ok = b_lo <= b_hi and np.array_equal(np.clip((k * a + b) >> 32, -128, 127), t[:, col])
            out.append((a, b) if ok else None)
    return out


def affine_table(c: OpCall, nodes: dict[str, OpCall], q: dict[str, Any]) -> np.ndarray | None:
    """The Cortex-M kernel's per-channel tail (gamma_form 0): for MUL(n, gamma) the gamma table's (gamma_i - zp) <<
    (left + 1) and -zp_n times it (one MLA: (n - zp_n) (gamma_i - zp) << (left + 1), then MUL's own 32-bit
    requantization); for ADD(., beta), as a function of its int8 input s, the pair of affine_fits (A, B), checked
    exact on all 256 values of s against ADD's reference kernel. int32 [channels][8] with both ({g, k, then MUL's
    requantization constants k_s, M, e (the same for every channel: the fused asm loads them with the channel's),
    then A, B low, B high}), {g, k} or {A, B low, B high} alone; None when there is no tail, gamma is on the
    reciprocal root, the gamma table could overflow or some channel has no exact (A, B)."""
    ch = q["channels"]
    if (not q["gamma_count"] and not q["beta_count"]) or q["gamma_form"] != 0:
        return None
    cols = []
    if q["gamma_count"]:
        if q["gamma_table"] is None:
            return None
        g = np.broadcast_to(np.asarray(q["gamma_table"], np.int64), (ch,))
        cols += [g, -q["scaled"][0] * g]
        if q["beta_count"]:  # MUL's 32-bit requantization per channel too: {k, M, e} (efm_lnc_prepare's)
            mult, shift, zp = q["scaled"][6:9]
            e = max(-shift, 0)
            k = ((1 << (e - 1)) if e else 0) + (zp << e)
            cols += [np.full(ch, k, np.int64), np.full(ch, mult, np.int64), np.full(ch, e, np.int64)]
    if q["beta_count"]:
        add_c = nodes["y"]
        v = np.broadcast_to(np.arange(-128, 128, dtype=np.int8)[:, None], (256, ch))
        want = np.asarray(probe(add_c, {0: v})).reshape(256, ch)
        fits = affine_fits(want)
        if any(f is None for f in fits):
            return None
        bs = np.array([f[1] for f in fits], np.int64)
        cols += [np.array([f[0] for f in fits], np.int64), bs & 0xFFFFFFFF, bs >> 32]
    out = np.stack(cols, axis=1)
    return ((out + 2**31) % 2**32 - 2**31).astype(np.int64)


#: chain_params fields the portable kernel reads (the others are the Cortex-M kernel's tables).
PORTABLE_FIELDS = ("rows", "channels", "square_form", "gamma_form", "mean", "centered", "square", "variance", "rsqrt",
                   "normalized", "gamma_count", "scaled", "beta_count", "shifted", "residual")


def kernel_params(c: OpCall) -> dict[str, Any]:
    """The portable kernel's parameters (kernels/layer_norm_chain.h): chain_params without the Cortex-M tables,
    the RSQRT(ADD(v, eps)) table as an int8 array."""
    q = chain_params(c)
    out = {k: q[k] for k in PORTABLE_FIELDS}
    out["rsqrt"] = np.asarray(q["rsqrt"]).astype(np.int8)
    return out
