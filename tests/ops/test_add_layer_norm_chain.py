"""ADD_LAYER_NORM_CHAIN: the fused node computes exactly what the unfused residual ADD + int8 LayerNorm chain
computes, both outputs."""

import numpy as np
import pytest
from op_cases import layer_norm_chain_inputs, layer_norm_chain_unfused

from edgefmr.errors import IRError
from edgefmr.ir import run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ir.passes import fuse_layer_norm
from edgefmr.ops.registry import call


def _pair(seed: int):
    rng = np.random.default_rng(seed)
    while True:
        try:
            chain = layer_norm_chain_unfused(rng, residual=True)
            break
        except IRError:
            continue
    return rng, chain, fuse_layer_norm(chain)


@pytest.mark.parametrize("seed", range(30))
def test_reference_equals_the_unfused_chain(seed):
    """Random residual ADD (b an input or a constant, with or without a leading 1) and chain: both outputs equal
    the unfused graph's for eight random inputs; the node survives the IR file."""
    rng, chain, fused = _pair(seed)
    assert [n.op for n in fused.nodes] == ["ADD_LAYER_NORM_CHAIN"]
    validate(fused)
    doc, arrays = to_json(fused)
    loaded = from_json(doc, arrays)
    make = layer_norm_chain_inputs(fused)
    for _ in range(8):
        feeds = make(rng)
        want = run(chain, feeds)
        for g in (fused, loaded):
            got = run(g, feeds)
            assert list(got) == chain.outputs
            assert all(np.array_equal(got[o], want[o]) for o in chain.outputs)


def test_shapes_counts_and_checks():
    _, chain, fused = _pair(3)
    node = fused.nodes[0]
    c = call(node, fused)
    shape = fused.tensors[node.outputs[0]].shape
    assert c.opdef.infer(c) == [shape, shape]
    assert c.opdef.macs(c) == 0
    add = [n for n in chain.nodes if n.op == "ADD"][0]
    a = fused.tensors[node.inputs[0]]
    assert set(node.inputs[:2]) == set(add.inputs[:2]) and not a.is_const
    node.outputs = node.outputs[:1]
    with pytest.raises(IRError, match="outputs"):
        call(node, fused)


def test_residual_operand_sizes_must_match():
    """A b that broadcasts (fewer elements than the sum) is not an ADD_LAYER_NORM_CHAIN operand."""
    _, _, fused = _pair(5)
    node = fused.nodes[0]
    b = fused.tensors[node.inputs[1]]
    ch = b.shape[-1]
    b.shape = (ch,)
    b.data = None if b.data is None else np.zeros(ch, np.int8)
    if fused.tensors[node.outputs[0]].size == ch:
        pytest.skip("one row: every b has the sum's size")
    with pytest.raises(IRError, match="same number of elements"):
        c = call(node, fused)
        c.opdef.check(c)
