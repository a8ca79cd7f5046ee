import numpy as np
import pytest
from op_graphs import POOL_ACTS, POOL_CASES, POOL_REJECTS, pool_graph, pool_node
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


@pytest.mark.parametrize("seed", range(len(POOL_CASES)))
def test_max_pool_2d_bit_exact(seed):
    rng = np.random.default_rng(400 + seed)
    x_shape, filt, stride, padding = POOL_CASES[seed]
    g = pool_graph("MAX_POOL_2D", rng, x_shape, filt, stride, padding, POOL_ACTS[seed % 4],
                   "int16" if seed % 5 == 2 else "int8")
    assert_bit_exact(g, random_input(rng, g))


def test_max_pool_2d_all_lowest_and_padding():
    """Windows holding only the lowest value give it; SAME padding (1 here) places the windows at -1 and 1."""
    b = GraphBuilder()
    x = b.input("x", (1, 3, 3, 1), scale=0.1, zero_point=0)
    y = b.op("MAX_POOL_2D", [x], scale=0.1, zero_point=0, padding="SAME", filter_h=3, filter_w=3, stride_h=2,
             stride_w=2)
    b.output(y)
    g = b.build()
    feed = np.full((1, 3, 3, 1), -128, np.int8)
    feed[0, 2, 2, 0] = 5  # windows start at -1 and 1 (pad_top = pad_left = 1)
    out = assert_bit_exact(g, [feed])[0]
    np.testing.assert_array_equal(out.ravel(), [-128, -128, -128, 5])  # pad 1: only the last window sees [2, 2]


def test_max_pool_2d_macs_and_shape():
    g = pool_graph("MAX_POOL_2D", np.random.default_rng(0), (2, 9, 7, 3), (3, 2), (2, 2), "SAME", "NONE")
    c = call(g.nodes[0], g)
    assert g.tensors[g.outputs[0]].shape == (2, 5, 4, 3)
    assert c.opdef.macs(c) == 0


@pytest.mark.parametrize("kwargs, msg", POOL_REJECTS)
def test_max_pool_2d_rejects(kwargs, msg):
    with pytest.raises(IRError, match=msg):
        pool_node("MAX_POOL_2D", **kwargs)
