import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def dw_graph(rng, x_shape, dm, k, per_channel, padding="SAME", stride=(1, 1), dilation=(1, 1), activation="NONE",
             bias=True):
    b = GraphBuilder()
    x = b.input("x", x_shape, scale=rng.uniform(0.002, 0.1), zero_point=int(rng.integers(-128, 128)))
    o = x_shape[3] * dm
    w_scale = rng.uniform(0.0005, 0.05, o if per_channel else 1)
    w = b.const("w", rng.integers(-127, 128, (1, *k, o)).astype(np.int8), scale=w_scale, zero_point=0, axis=3)
    # Without bias the node has two inputs (LiteRT rejects an absent third input for this op).
    inputs = [x, w, b.const("b", rng.integers(-20000, 20000, o).astype(np.int32))] if bias else [x, w]
    y = b.op("DEPTHWISE_CONV_2D", inputs, scale=rng.uniform(0.02, 0.6), zero_point=int(rng.integers(-128, 128)),
             padding=padding, stride_h=stride[0], stride_w=stride[1], dilation_h=dilation[0],
             dilation_w=dilation[1], activation=activation, depth_multiplier=dm)
    b.output(y)
    return b.build()


CASES = [
    # x_shape, depth multiplier, kernel, padding, stride, dilation
    ((1, 8, 8, 3), 1, (3, 3), "SAME", (1, 1), (1, 1)),
    ((1, 9, 7, 4), 2, (3, 3), "VALID", (2, 2), (1, 1)),
    ((2, 10, 11, 5), 1, (5, 2), "SAME", (2, 3), (1, 1)),
    ((1, 12, 12, 2), 3, (3, 3), "SAME", (1, 1), (2, 2)),
    ((1, 13, 9, 3), 1, (2, 3), "VALID", (1, 2), (3, 1)),
    ((1, 6, 6, 8), 1, (1, 1), "VALID", (1, 1), (1, 1)),
    ((1, 4, 3, 7), 2, (4, 4), "SAME", (3, 3), (1, 1)),
    ((3, 1, 16, 6), 1, (1, 5), "SAME", (1, 2), (1, 2)),
    ((1, 3, 3, 16), 1, (3, 3), "VALID", (1, 1), (1, 1)),
    ((1, 20, 20, 1), 4, (7, 7), "SAME", (4, 4), (1, 1)),
    ((1, 16, 16, 16), 1, (3, 3), "SAME", (1, 1), (1, 1)),
]


@pytest.mark.parametrize("seed", range(len(CASES)))
def test_depthwise_conv_2d_bit_exact(seed):
    rng = np.random.default_rng(200 + seed)
    x_shape, dm, k, padding, stride, dilation = CASES[seed]
    g = dw_graph(rng, x_shape, dm, k, seed % 3 != 1, padding, stride, dilation, ACTS[seed % 4], bias=seed != 4)
    assert_bit_exact(g, random_input(rng, g))


def test_depthwise_conv_2d_macs_and_shape():
    g = dw_graph(np.random.default_rng(0), (2, 9, 7, 3), 2, (3, 2), True, padding="SAME", stride=(2, 2))
    c = call(g.nodes[0], g)
    assert g.tensors[g.outputs[0]].shape == (2, 5, 4, 6)
    assert c.opdef.macs(c) == 2 * 5 * 4 * 6 * 3 * 2
    g = dw_graph(np.random.default_rng(0), (1, 10, 10, 3), 1, (3, 3), False, padding="VALID", dilation=(2, 3))
    assert g.tensors[g.outputs[0]].shape == (1, 6, 4, 3)


def _dw(w_shape=(1, 3, 3, 6), w_axis=3, dm=2, w_zp=0, x_dtype="int8", **attrs):
    b = GraphBuilder()
    x = b.input("x", (1, 5, 5, 3), dtype=x_dtype, scale=0.05)
    w = b.const("w", np.ones(w_shape, np.int8), scale=[0.01] * w_shape[w_axis], zero_point=w_zp, axis=w_axis)
    bb = b.const("b", np.zeros(w_shape[3], np.int32))
    return b.op("DEPTHWISE_CONV_2D", [x, w, bb], dtype=x_dtype, scale=0.1, depth_multiplier=dm, **attrs)


def test_depthwise_conv_2d_valid_call():
    assert _dw()


@pytest.mark.parametrize("kwargs, msg", [
    ({"dm": 1}, "depth_multiplier"),
    ({"w_shape": (1, 3, 3, 4)}, "multiple"),
    ({"w_shape": (2, 3, 3, 6), "w_axis": 0}, r"\[1, KH, KW, O\]"),
    ({"w_shape": (1, 3, 3, 6), "w_axis": 1}, "axis 3"),
    ({"w_zp": 1}, "symmetric"),
    ({"x_dtype": "int16"}, "int8"),
    ({"stride_w": 0}, "stride_w"),
    ({"w_shape": (1, 6, 3, 6), "padding": "VALID"}, "does not fit"),
])
def test_depthwise_conv_2d_rejects(kwargs, msg):
    with pytest.raises(IRError, match=msg):
        _dw(**kwargs)
