import numpy as np
import pytest
from op_graphs import every_int8, lut, unary_graph
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ops.registry import call


@pytest.mark.parametrize("seed", range(12))
def test_logistic_bit_exact(seed):
    """All 256 inputs for input scales from 1e-3 to 0.5 (the table is float-built: exp of each value)."""
    rng = np.random.default_rng(seed)
    in_scale = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5))))
    g = unary_graph("LOGISTIC", (2, 128), in_scale, int(rng.integers(-128, 128)), 1 / 256, -128)
    assert_bit_exact(g, [every_int8()])


@pytest.mark.parametrize("shape", [(7,), (2, 3, 5), (1, 4, 4, 3)])
def test_logistic_shapes(shape):
    rng = np.random.default_rng(len(shape))
    g = unary_graph("LOGISTIC", shape, 0.06, 10, 1 / 256, -128)
    assert_bit_exact(g, random_input(rng, g))
    c = call(g.nodes[0], g)
    assert g.tensors[g.outputs[0]].shape == shape and c.opdef.macs(c) == 0




def test_logistic_table_is_monotone_and_centered():
    t = lut(unary_graph("LOGISTIC", (1,), 0.05, 0, 1 / 256, -128))
    assert np.all(np.diff(t) >= 0)
    assert t[128] == 0  # sigmoid(0) = 0.5 -> 128 / 256 -> 128 - 128
    assert t[0] == -128 + round(256 / (1 + np.exp(6.4)))


def test_logistic_errors():
    with pytest.raises(IRError, match="scale 0.00390625 and zero point -128"):
        unary_graph("LOGISTIC", (4,), 0.1, 0, 1 / 128, -128)
    with pytest.raises(IRError, match="zero point -128"):
        unary_graph("LOGISTIC", (4,), 0.1, 0, 1 / 256, 0)
    with pytest.raises(IRError, match="must be int8"):
        unary_graph("LOGISTIC", (4,), 0.1, 0, 1 / 256, -128, dtype="int16")
