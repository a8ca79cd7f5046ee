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
