import numpy as np
import pytest
from op_graphs import SHAPES, binary_graph
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder


@pytest.mark.parametrize("seed", range(16))
def test_squared_difference_bit_exact(seed):
    rng = np.random.default_rng(300 + seed)
    sa, sb = SHAPES[seed % len(SHAPES)]
    if seed % 2:
        sa, sb = sb, sa
    g = binary_graph("SQUARED_DIFFERENCE", rng, sa, sb, rng.uniform(0.0005, 0.1))
    assert_bit_exact(g, random_input(rng, g))


def test_squared_difference_all_input_pairs():
    g = binary_graph("SQUARED_DIFFERENCE", np.random.default_rng(11), (256, 256), (256, 256), 0.01)
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))
    assert_bit_exact(g, [a.astype(np.int8), b.astype(np.int8)])


def test_squared_difference_errors():
    with pytest.raises(IRError, match="output multiplier"):  # (2 max s)^2 / (2^14 s_out) must be below 1
        binary_graph("SQUARED_DIFFERENCE", np.random.default_rng(0), (2,), (2,), 1e-7)
    b = GraphBuilder()
    x1 = b.input("a", (2,), scale=0.1)
    x2 = b.input("b", (2,), scale=0.1)
    with pytest.raises(IRError, match="unknown attribute"):  # no fused activation in TFLite's options
        b.op("SQUARED_DIFFERENCE", [x1, x2], scale=0.01, activation="RELU")
