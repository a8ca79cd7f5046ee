import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]

CASES = [
    # x_shape, filter, stride, padding
    ((1, 8, 8, 3), (2, 2), (2, 2), "VALID"),
    ((1, 9, 7, 4), (3, 3), (2, 2), "SAME"),
    ((2, 10, 11, 5), (5, 2), (2, 3), "SAME"),
    ((1, 12, 12, 2), (3, 3), (1, 1), "SAME"),
    ((1, 13, 9, 3), (2, 3), (1, 2), "VALID"),
    ((1, 6, 6, 8), (6, 6), (1, 1), "VALID"),
    ((1, 4, 3, 7), (4, 4), (3, 3), "SAME"),
    ((3, 1, 16, 6), (1, 5), (1, 2), "SAME"),
    ((1, 3, 3, 16), (5, 5), (1, 1), "SAME"),
    ((1, 20, 20, 1), (7, 7), (4, 4), "SAME"),
]


def pool_graph(op, rng, x_shape, filt, stride, padding, activation, dtype="int8"):
    """One pooling node; int16 uses zero point 0 (symmetric), int8 a random one."""
    b = GraphBuilder()
    zp = int(rng.integers(-128, 128)) if dtype == "int8" else 0
    scale = rng.uniform(0.002, 0.1)
    x = b.input("x", x_shape, dtype=dtype, scale=scale, zero_point=zp)
    y = b.op(op, [x], dtype=dtype, scale=scale, zero_point=zp, padding=padding, filter_h=filt[0], filter_w=filt[1],
             stride_h=stride[0], stride_w=stride[1], activation=activation)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("seed", range(len(CASES)))
def test_average_pool_2d_bit_exact(seed):
    rng = np.random.default_rng(300 + seed)
    x_shape, filt, stride, padding = CASES[seed]
    g = pool_graph("AVERAGE_POOL_2D", rng, x_shape, filt, stride, padding, ACTS[seed % 4],
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


def pool_node(op, dtype="int8", out_scale=0.05, out_zp=3, **attrs):
    b = GraphBuilder()
    x = b.input("x", (1, 6, 6, 2), dtype=dtype, scale=None if dtype == "float32" else 0.05, zero_point=3)
    attrs = {"filter_h": 2, "filter_w": 2, **attrs}
    return b.op(op, [x], dtype=dtype, scale=out_scale, zero_point=out_zp, **attrs)


REJECTS = [
    ({"out_scale": 0.07}, "must equal the input"),
    ({"out_zp": 4}, "must equal the input"),
    ({"dtype": "float32", "out_scale": None}, "int8 or int16"),
    ({"filter_h": None}, "filter_h"),
    ({"filter_w": 0}, "filter_w"),
    ({"stride_h": 0}, "stride_h"),
    ({"filter_h": 7, "padding": "VALID"}, "does not fit"),
    ({"padding": "REFLECT"}, "padding"),
]


@pytest.mark.parametrize("kwargs, msg", REJECTS)
def test_average_pool_2d_rejects(kwargs, msg):
    with pytest.raises(IRError, match=msg):
        pool_node("AVERAGE_POOL_2D", **kwargs)
