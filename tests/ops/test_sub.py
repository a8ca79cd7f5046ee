import numpy as np
import pytest
from op_graphs import ACTIVATIONS, SHAPES, binary_graph
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError


@pytest.mark.parametrize("seed", range(16))
def test_sub_bit_exact(seed):
    rng = np.random.default_rng(100 + seed)
    sa, sb = SHAPES[seed % len(SHAPES)]
    if seed % 3 == 2:
        sa, sb = sb, sa
    g = binary_graph("SUB", rng, sa, sb, rng.uniform(0.005, 0.4), ACTIVATIONS[seed % 4])
    assert_bit_exact(g, random_input(rng, g))


def test_sub_all_input_pairs():
    g = binary_graph("SUB", np.random.default_rng(7), (256, 256), (256, 256), 0.02)
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))
    y = assert_bit_exact(g, [a.astype(np.int8), b.astype(np.int8)])[0]
    assert g.tensors[g.outputs[0]].shape == y.shape == (256, 256)


def test_sub_rejects_output_multiplier_above_one():
    # TFLite's Prepare accepts it for SUB but the int8 kernel then shifts by a negative amount.
    with pytest.raises(IRError, match="output multiplier"):
        binary_graph("SUB", np.random.default_rng(0), (2,), (2,), 1e-7)
    with pytest.raises(IRError, match="do not broadcast"):
        binary_graph("SUB", np.random.default_rng(0), (3,), (2,), 0.1)
