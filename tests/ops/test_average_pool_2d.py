import numpy as np
import pytest
from op_graphs import POOL_ACTS, POOL_CASES, POOL_REJECTS, pool_graph, pool_node
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


@pytest.mark.parametrize("seed", range(len(POOL_CASES)))
def test_average_pool_2d_bit_exact(seed):
    rng = np.random.default_rng(300 + seed)
    x_shape, filt, stride, padding = POOL_CASES[seed]
    g = pool_graph("AVERAGE_POOL_2D", rng, x_shape, filt, stride, padding, POOL_ACTS[seed % 4],
                   "int16" if seed % 5 == 4 else "int8")
    assert_bit_exact(g, random_input(rng, g))


def test_average_pool_2d_rounds_half_away_from_zero():
    """Window sums that are exact halves round away from zero, on both signs; edge windows divide by fewer taps."""
    b = GraphBuilder()
    x = b.input("x", (1, 2, 2, 2), scale=0.1, zero_point=0)
    y = b.op("AVERAGE_POOL_2D", [x], scale=0.1, zero_point=0, padding="VALID", filter_h=2, filter_w=2)
    b.output(y)
    g = b.build()
    feed = np.array([1, -1, 1, -1, 0, -1, 0, 1], np.int8).reshape(1, 2, 2, 2)  # sums 2 and -2 over 4 taps
    out = assert_bit_exact(g, [feed])[0]
    np.testing.assert_array_equal(out.ravel(), [1, -1])


def test_average_pool_2d_macs_and_shape():
    g = pool_graph("AVERAGE_POOL_2D", np.random.default_rng(0), (2, 9, 7, 3), (3, 2), (2, 2), "SAME", "NONE")
    c = call(g.nodes[0], g)
    assert g.tensors[g.outputs[0]].shape == (2, 5, 4, 3)
    assert c.opdef.macs(c) == 0
    g = pool_graph("AVERAGE_POOL_2D", np.random.default_rng(0), (1, 10, 10, 3), (3, 4), (2, 3), "VALID", "NONE")
    assert g.tensors[g.outputs[0]].shape == (1, 4, 3, 3)






@pytest.mark.parametrize("kwargs, msg", POOL_REJECTS)
def test_average_pool_2d_rejects(kwargs, msg):
    with pytest.raises(IRError, match=msg):
        pool_node("AVERAGE_POOL_2D", **kwargs)
