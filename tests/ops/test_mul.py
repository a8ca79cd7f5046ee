import numpy as np
import pytest
from op_graphs import ACTIVATIONS, SHAPES, binary_graph
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


@pytest.mark.parametrize("seed", range(16))
def test_mul_bit_exact(seed):
    rng = np.random.default_rng(200 + seed)
    sa, sb = SHAPES[seed % len(SHAPES)]
    if seed % 2:
        sa, sb = sb, sa
    # output multipliers from well below to above 1 (s1 * s2 / s_out)
    out_scale = float(np.exp(rng.uniform(np.log(1e-5), np.log(0.05))))
    g = binary_graph("MUL", rng, sa, sb, out_scale, ACTIVATIONS[seed % 4])
    assert_bit_exact(g, random_input(rng, g))


@pytest.mark.parametrize("out_scale", [1e-3, 1e-6, 1e-9])
def test_mul_all_input_pairs(out_scale):
    """Every int8 pair, including output multipliers so large that x * 2^shift wraps in int32 as in C."""
    g = binary_graph("MUL", np.random.default_rng(3), (256, 256), (256, 256), out_scale)
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))
    assert_bit_exact(g, [a.astype(np.int8), b.astype(np.int8)])


def test_mul_shape_and_errors():
    g = binary_graph("MUL", np.random.default_rng(0), (1, 4, 8), (8,), 0.01)
    c = call(g.nodes[0], g)
    assert g.tensors[g.outputs[0]].shape == (1, 4, 8) and c.opdef.macs(c) == 0
    b = GraphBuilder()
    x1 = b.input("a", (2, 2), scale=0.1)
    x2 = b.input("b", (2, 2), scale=[0.1, 0.2], zero_point=0)
    with pytest.raises(IRError, match="per-tensor"):
        b.op("MUL", [x1, x2], scale=0.1)
    with pytest.raises(IRError, match="takes 2..2 inputs"):
        b.op("MUL", [x1], scale=0.1)
