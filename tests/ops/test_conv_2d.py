import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def conv_graph(rng, x_shape, o, k, per_channel, groups=1, padding="SAME", stride=(1, 1), dilation=(1, 1),
               activation="NONE"):
    b = GraphBuilder()
    x = b.input("x", x_shape, scale=rng.uniform(0.002, 0.1), zero_point=int(rng.integers(-128, 128)))
    ci = x_shape[3] // groups
    w_scale = rng.uniform(0.0005, 0.02, o if per_channel else 1)
    w = b.const("w", rng.integers(-127, 128, (o, *k, ci)).astype(np.int8), scale=w_scale, zero_point=0)
    bias = b.const("b", rng.integers(-20000, 20000, o).astype(np.int32))
    y = b.op("CONV_2D", [x, w, bias], scale=rng.uniform(0.02, 0.6), zero_point=int(rng.integers(-128, 128)),
             padding=padding, stride_h=stride[0], stride_w=stride[1], dilation_h=dilation[0],
             dilation_w=dilation[1], activation=activation)
    b.output(y)
    return b.build()


CASES = [
    # x_shape, out channels, kernel, groups, padding, stride, dilation
    ((1, 8, 8, 3), 4, (3, 3), 1, "SAME", (1, 1), (1, 1)),
    ((1, 9, 7, 4), 6, (3, 3), 1, "VALID", (2, 2), (1, 1)),
    ((2, 10, 11, 5), 3, (5, 2), 1, "SAME", (2, 3), (1, 1)),
    ((1, 12, 12, 2), 8, (3, 3), 1, "SAME", (1, 1), (2, 2)),
    ((1, 13, 9, 3), 5, (2, 3), 1, "VALID", (1, 2), (3, 1)),
    ((1, 6, 6, 8), 4, (1, 1), 1, "VALID", (1, 1), (1, 1)),
    ((1, 7, 7, 6), 6, (3, 3), 2, "SAME", (1, 1), (1, 1)),
    ((1, 5, 5, 4), 8, (3, 3), 4, "VALID", (2, 1), (1, 1)),
    ((1, 4, 3, 7), 9, (4, 4), 1, "SAME", (3, 3), (1, 1)),
    ((3, 1, 16, 6), 7, (1, 5), 1, "SAME", (1, 2), (1, 2)),
    ((1, 3, 3, 16), 2, (3, 3), 1, "VALID", (1, 1), (1, 1)),
    ((1, 20, 20, 1), 3, (7, 7), 1, "SAME", (4, 4), (1, 1)),
    ((1, 16, 16, 8), 16, (1, 1), 1, "SAME", (1, 1), (1, 1)),
]


@pytest.mark.parametrize("seed", range(len(CASES)))
def test_conv_2d_bit_exact(seed):
    rng = np.random.default_rng(100 + seed)
    x_shape, o, k, groups, padding, stride, dilation = CASES[seed]
    g = conv_graph(rng, x_shape, o, k, seed % 3 != 1, groups, padding, stride, dilation, ACTS[seed % 4])
    assert_bit_exact(g, random_input(rng, g))


def test_conv_2d_multiplier_above_one():
    """A tiny output scale gives real multipliers > 1 (left shifts in the requantization)."""
    rng = np.random.default_rng(7)
    b = GraphBuilder()
    x = b.input("x", (1, 6, 6, 4), scale=0.05, zero_point=3)
    w = b.const("w", rng.integers(-3, 4, (8, 1, 1, 4)).astype(np.int8), scale=rng.uniform(0.01, 0.5, 8))
    bias = b.const("b", rng.integers(-20, 20, 8).astype(np.int32))
    y = b.op("CONV_2D", [x, w, bias], scale=5e-4, zero_point=0)
    b.output(y)
    g = b.build()
    assert_bit_exact(g, [rng.integers(-6, 10, (1, 6, 6, 4)).astype(np.int8)])


def test_conv_2d_macs_and_shape():
    g = conv_graph(np.random.default_rng(0), (2, 9, 7, 6), 4, (3, 2), True, groups=2, padding="SAME", stride=(2, 2))
    c = call(g.nodes[0], g)
    assert g.tensors[g.outputs[0]].shape == (2, 5, 4, 4)
    assert c.opdef.macs(c) == 2 * 5 * 4 * 4 * 3 * 2 * 3
    g = conv_graph(np.random.default_rng(0), (1, 10, 10, 3), 5, (3, 3), False, padding="VALID", dilation=(2, 3))
    assert g.tensors[g.outputs[0]].shape == (1, 6, 4, 5)


def _conv(x_dtype="int8", w_zp=0, w_axis=0, w_shape=(4, 3, 3, 3), bias=True, out_scale=0.1, **attrs):
    b = GraphBuilder()
    x = b.input("x", (1, 5, 5, 3), dtype=x_dtype, scale=None if x_dtype == "float32" else 0.05)
    n_scales = w_shape[w_axis]
    w = b.const("w", np.ones(w_shape, np.int8), scale=[0.01] * n_scales, zero_point=w_zp, axis=w_axis)
    bb = b.const("b", np.zeros(w_shape[0], np.int32)) if bias else None
    return b.op("CONV_2D", [x, w, bb], dtype=x_dtype, scale=out_scale, **attrs)


@pytest.mark.parametrize("kwargs, msg", [
    ({"x_dtype": "float32", "out_scale": None}, "int8"),
    ({"w_zp": 3}, "symmetric"),
    ({"w_axis": 3, "w_shape": (4, 3, 3, 3)}, "axis 0"),
    ({"bias": False}, "bias"),
    ({"w_shape": (4, 3, 3, 2)}, "multiple"),
    ({"w_shape": (4, 7, 3, 3), "padding": "VALID"}, "does not fit"),
    ({"stride_h": 0}, "stride_h"),
    ({"dilation_w": -1}, "dilation_w"),
    ({"padding": "FULL"}, "padding"),
    ({"activation": "GELU"}, "activation"),
])
def test_conv_2d_rejects(kwargs, msg):
    with pytest.raises(IRError, match=msg):
        _conv(**kwargs)
