import numpy as np
import pytest
from op_graphs import every_int8, lut, unary_graph
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError


@pytest.mark.parametrize("seed", range(12))
def test_tanh_bit_exact(seed):
    rng = np.random.default_rng(50 + seed)
    in_scale = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5))))
    g = unary_graph("TANH", (2, 128), in_scale, int(rng.integers(-128, 128)), 1 / 128, 0)
    assert_bit_exact(g, [every_int8()])


def test_tanh_shapes_and_table():
    g = unary_graph("TANH", (3, 5, 2), 0.02, -20, 1 / 128, 0)
    assert_bit_exact(g, random_input(np.random.default_rng(0), g))
    t = lut(unary_graph("TANH", (1,), 0.05, 0, 1 / 128, 0))
    assert np.all(np.diff(t) >= 0) and t[128] == 0
    assert t[0] == -128 and t[-1] == 127  # tanh(+-6.4) rounds to +-128, clamped


def test_tanh_errors():
    with pytest.raises(IRError, match="scale 0.0078125 and zero point 0"):
        unary_graph("TANH", (4,), 0.1, 0, 1 / 256, -128)
    with pytest.raises(IRError, match="per-tensor"):
        unary_graph("TANH", (4,), [0.1, 0.2], 0, 1 / 128, 0)
