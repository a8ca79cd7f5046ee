"""LAYER_NORM_CHAIN: the fused node computes exactly what TensorFlow's unfused int8 LayerNorm chain computes."""

import numpy as np
import pytest
from op_cases import layer_norm_chain_inputs, layer_norm_chain_unfused

from edgefmr.errors import IRError
from edgefmr.ir import run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ir.passes import fuse_layer_norm
from edgefmr.ops.registry import call


@pytest.mark.parametrize("seed", range(40))
def test_reference_equals_the_unfused_chain(seed):
    """Random chains (both square forms, with and without gamma / beta, scalar or per-channel), random quantization
    of every tensor, eight random inputs each: fused == unfused, bit for bit; the node survives the IR file."""
    rng = np.random.default_rng(seed)
    while True:
        try:
            chain = layer_norm_chain_unfused(rng)
            break
        except IRError:
            continue
    fused = fuse_layer_norm(chain)
    assert [n.op for n in fused.nodes] == ["LAYER_NORM_CHAIN"]
    validate(fused)
    doc, arrays = to_json(fused)
    loaded = from_json(doc, arrays)
    make = layer_norm_chain_inputs(fused)
    for _ in range(8):
        x = make(rng)
        want = run(chain, x)[chain.outputs[0]]
        assert np.array_equal(run(fused, x)[fused.outputs[0]], want)
        assert np.array_equal(run(loaded, x)[loaded.outputs[0]], want)


def test_every_form_is_covered():
    forms = set()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        try:
            n = fuse_layer_norm(layer_norm_chain_unfused(rng)).nodes[0]
        except IRError:
            continue
        forms.add((n.attrs["square_form"], len([i for i in n.inputs if i])))
    assert {("squared_difference", 2), ("mul", 2), ("squared_difference", 4), ("mul", 4)} <= forms


def _fused(seed=0, **kw):
    return fuse_layer_norm(layer_norm_chain_unfused(np.random.default_rng(seed), shape=(2, 3, 8), **kw))


def test_shape_macs_and_counts():
    g = _fused(gamma=True, beta=True)
    c = call(g.nodes[0], g)
    assert c.opdef.infer(c) == [(2, 3, 8)]
    assert c.opdef.macs(c) == 0  # the chain's ops are elementwise and reductions: no MACs, like the unfused graph
    assert set(c.opdef.op_counts(c)) >= {"mults", "adds"}


def test_invalid_nodes_are_rejected():
    g = _fused(gamma=True, beta=False)
    node = g.nodes[0]
    c = call(node, g)
    c.opdef.check(c)
    missing = dict(node.attrs)
    del missing["rsqrt"]
    node.attrs = missing
    with pytest.raises(IRError, match="rsqrt"):
        c = call(node, g)
        c.opdef.check(c)
    g = _fused(gamma=True, beta=False)
    gamma = g.tensors[g.nodes[0].inputs[2]]
    gamma.data = np.zeros(5, np.int8)
    gamma.shape = (5,)
    with pytest.raises(IRError, match="gamma"):
        c = call(g.nodes[0], g)
        c.opdef.check(c)
    g = _fused()
    eps = g.tensors[g.nodes[0].inputs[1]]
    eps.data, eps.shape = np.zeros(2, np.int8), (2,)
    with pytest.raises(IRError, match="eps"):
        c = call(g.nodes[0], g)
        c.opdef.check(c)
    g = _fused()
    g.nodes[0].attrs["square_form"] = "cube"
    with pytest.raises(IRError, match="square_form"):
        call(g.nodes[0], g)


@pytest.mark.parametrize("seed", range(10))
def test_gamma_on_the_reciprocal_root(seed):
    """The other converter form MUL(c, MUL(r, gamma)) [ADD beta]: fused with gamma_form 'rsqrt', bit-identical."""
    rng = np.random.default_rng(seed + 500)
    while True:
        try:
            chain = layer_norm_chain_unfused(rng, gamma=True, gamma_on_rsqrt=True, square_form="mul")
            break
        except IRError:
            continue
    fused = fuse_layer_norm(chain)
    assert [n.op for n in fused.nodes] == ["LAYER_NORM_CHAIN"]
    assert fused.nodes[0].attrs["gamma_form"] == "rsqrt"
    make = layer_norm_chain_inputs(fused)
    for _ in range(6):
        x = make(rng)
        assert np.array_equal(run(fused, x)[fused.outputs[0]], run(chain, x)[chain.outputs[0]])
    node = fused.nodes[0]
    node.inputs = node.inputs[:2] + ["", *node.inputs[3:]]  # without gamma the form is invalid
    with pytest.raises(IRError, match="needs gamma"):
        c = call(node, fused)
        c.opdef.check(c)


def test_affine_fits_exact_or_none():
    """The Cortex-M tail's fit: a clamped floor of a line is reproduced on all 256 inputs (any slope sign, with
    saturation at either end); a function that no single line gives (a step back) has no fit."""
    from edgefmr.ops.layer_norm_chain import AFFINE_SHIFT, affine_fits

    k = np.arange(-128, 128, dtype=np.int64)
    rng = np.random.default_rng(0)
    cols = [np.clip(np.floor(k * a + b), -128, 127).astype(np.int64)
            for a, b in zip(rng.uniform(-3, 3, 20), rng.uniform(-100, 100, 20), strict=True)]
    bad = cols[0].copy()
    bad[100:110] = bad[99] - 5 if bad[99] > -100 else bad[99] + 5
    fits = affine_fits(np.stack(cols + [bad], axis=1))
    for col, fit in zip(cols, fits[:-1], strict=True):
        a, b = fit
        assert -(2**31) <= a < 2**31
        assert np.array_equal(np.clip(((k << AFFINE_SHIFT) * a + b) >> 32, -128, 127), col)
    assert fits[-1] is None


def test_cortex_m_tables_of_the_gamma_beta_chain():
    """chain_params' Cortex-M tail for per-channel gamma and beta: 8 words per channel whose formula gives the
    unfused chain's MUL(n, gamma) and ADD(s, beta) for every n; the sign-correction bits only where exact."""
    from edgefmr.ops.layer_norm_chain import AFFINE_SHIFT, chain_graph, chain_params
    from edgefmr.ops.params import probe

    rng = np.random.default_rng(5)
    g = fuse_layer_norm(layer_norm_chain_unfused(rng, shape=(16, 32), square_form="squared_difference", gamma=True,
                                                 beta=True))
    c = call(g.nodes[0], g)
    q = chain_params(c)
    t = np.asarray(q["affine_table"], np.int64)
    assert t.shape == (32, 8)
    cg = chain_graph(c)
    nodes = {n.outputs[0]: call(n, cg) for n in cg.nodes}
    n = np.arange(-128, 128, dtype=np.int64)
    s_want = probe(nodes["scaled"], {0: np.broadcast_to(n.astype(np.int8)[:, None], (256, 32))}).astype(np.int64)
    y_want = probe(nodes["y"], {0: s_want.astype(np.int8)}).astype(np.int64)
    v = n[:, None] * t[:, 0] + t[:, 1]
    k_s, m, e = t[0, 2], t[0, 3], t[0, 4]
    s = np.clip((((v * m + 2**31) >> 32) + k_s - (v < 0)) >> e, -128, 127)  # the kernel's MUL, sign corrected
    assert np.array_equal(s, s_want)
    b = (t[:, 7] << 32) | (t[:, 6] & 0xFFFFFFFF)
    y = np.clip(((s << AFFINE_SHIFT) * t[:, 5] + b) >> 32, -128, 127)
    assert np.array_equal(y, y_want)
    assert q["arm_round"] in range(8)
