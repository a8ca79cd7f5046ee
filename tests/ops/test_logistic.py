import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


def unary_graph(op, shape, in_scale, in_zp, out_scale, out_zp, dtype="int8"):
    b = GraphBuilder()
    x = b.input("x", shape, dtype=dtype, scale=in_scale, zero_point=in_zp)
    b.output(b.op(op, [x], dtype=dtype, scale=out_scale, zero_point=out_zp))
    return b.build()


def every_int8(shape=(2, 128)):
    return np.arange(-128, 128).reshape(shape).astype(np.int8)


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


def lut(g):
    """The 256-entry table of the graph's only node (looked up through the registry)."""
    c = call(g.nodes[0], g)
    return c.opdef.table(c).astype(int)


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
