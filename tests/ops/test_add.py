import numpy as np
import pytest
from op_graphs import ACTIVATIONS, SHAPES, binary_graph
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


@pytest.mark.parametrize("seed", range(16))
def test_add_bit_exact(seed):
    rng = np.random.default_rng(seed)
    sa, sb = SHAPES[seed % len(SHAPES)]
    if seed % 3 == 1:
        sa, sb = sb, sa
    g = binary_graph("ADD", rng, sa, sb, rng.uniform(0.005, 0.4), ACTIVATIONS[seed % 4])
    assert_bit_exact(g, random_input(rng, g))


def test_add_all_input_pairs():
    """Every (x1, x2) int8 pair at once, with a constant second operand as well."""
    rng = np.random.default_rng(99)
    g = binary_graph("ADD", rng, (256, 256), (256, 256), 0.05)
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))
    assert_bit_exact(g, [a.astype(np.int8), b.astype(np.int8)])
    bld = GraphBuilder()
    x = bld.input("x", (4, 8), scale=0.03, zero_point=5)
    k = bld.const("k", rng.integers(-128, 128, (8,)).astype(np.int8), scale=0.01, zero_point=-3)
    bld.output(bld.op("ADD", [x, k], scale=0.04, zero_point=-7, activation="RELU"))
    g = bld.build()
    assert_bit_exact(g, random_input(rng, g))


def test_add_shape_and_macs():
    g = binary_graph("ADD", np.random.default_rng(0), (2, 1, 3), (1, 5, 3), 0.1)
    c = call(g.nodes[0], g)
    assert g.tensors[g.outputs[0]].shape == (2, 5, 3)
    assert c.opdef.macs(c) == 0


@pytest.mark.parametrize(("sa", "sb", "msg"), [
    ((2, 3), (4, 3), "do not broadcast"),
    ((2, 1, 1, 1, 1, 1, 3), (1, 4, 1, 1, 1, 1, 1), "up to 6 dimensions"),
])
def test_add_rejects_bad_shapes(sa, sb, msg):
    with pytest.raises(IRError, match=msg):
        binary_graph("ADD", np.random.default_rng(0), sa, sb, 0.1)


def test_add_rejects_bad_types_and_scales():
    rng = np.random.default_rng(0)
    with pytest.raises(IRError, match="must be int8"):
        binary_graph("ADD", rng, (2,), (2,), 0.1, dtype="int16")
    with pytest.raises(IRError, match="output multiplier"):  # TFLite aborts on an output multiplier >= 1
        binary_graph("ADD", rng, (2,), (2,), 1e-8)
    b = GraphBuilder()
    x1 = b.input("a", (2,), dtype="float32")
    x2 = b.input("b", (2,), dtype="float32")
    with pytest.raises(IRError, match="must be int8"):
        b.op("ADD", [x1, x2], dtype="float32")
    b = GraphBuilder()
    x1 = b.input("a", (2,), scale=0.1)
    x2 = b.input("b", (2,), scale=0.1)
    with pytest.raises(IRError, match="not one of"):
        b.op("ADD", [x1, x2], scale=0.1, activation="TANH")
