"""Graph builders and value sets shared by the op tests of tests/ops (binary, unary table, ReLU and pooling
ops)."""

from __future__ import annotations

import numpy as np
from opcheck import assert_bit_exact

from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call

ACTIVATIONS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


SHAPES = [((1, 4, 8), (8,)), ((2, 1, 3), (1, 5, 3)), ((3, 4), (3, 4)), ((2, 3), ()), ((4, 1), (1, 4)),
          ((2, 3, 1, 4, 1), (3, 5, 1, 2)), ((2, 1, 2, 1, 2, 3), (2, 1, 2, 1, 3)), ((1,), (2, 3, 2))]


def binary_graph(op, rng, sa, sb, out_scale, activation=None, dtype="int8"):
    b = GraphBuilder()
    x1 = b.input("a", sa, dtype=dtype, scale=rng.uniform(0.002, 0.2), zero_point=int(rng.integers(-128, 128)))
    x2 = b.input("b", sb, dtype=dtype, scale=rng.uniform(0.002, 0.2), zero_point=int(rng.integers(-128, 128)))
    kw = {} if activation is None else {"activation": activation}
    y = b.op(op, [x1, x2], scale=out_scale, zero_point=int(rng.integers(-128, 128)), **kw)
    b.output(y)
    return b.build()


QMIN = {"int8": -128, "uint8": 0, "int16": -32768}


QMAX = {"int8": 127, "uint8": 255, "int16": 32767}


def relu_graph(op, shape, in_q, out_q, dtype="int8"):
    b = GraphBuilder()
    x = b.input("x", shape, dtype=dtype, scale=in_q[0], zero_point=in_q[1])
    y = b.op(op, [x], dtype=dtype, scale=out_q[0], zero_point=out_q[1])
    b.output(y)
    return b.build()


def every_value(dtype, shape_len=None):
    """All values of an 8-bit type (or an evenly spread sample of int16)."""
    if dtype == "int16":
        return np.linspace(-32768, 32767, 4099).round().astype(np.int16)
    return np.arange(QMIN[dtype], QMAX[dtype] + 1).astype(dtype)


def random_quants(rng, dtype, same_scale):
    """(input, output) quantization; scales within ±40% or far apart, random zero points (0 for int16)."""
    s_in = float(rng.uniform(0.002, 0.2)) if dtype != "int16" else float(rng.uniform(1e-5, 1e-3))
    s_out = s_in if same_scale else s_in * float(np.exp(rng.uniform(-1.5, 1.5)))

    def zp():
        return 0 if dtype == "int16" else int(rng.integers(QMIN[dtype], QMAX[dtype] + 1))

    return (s_in, zp()), (s_out, zp())


def run_case(op, seed):
    rng = np.random.default_rng(seed)
    dtype = ["int8", "int8", "uint8", "int16"][seed % 4]
    in_q, out_q = random_quants(rng, dtype, same_scale=seed % 5 == 0)
    x = every_value(dtype)
    g = relu_graph(op, x.shape, in_q, out_q, dtype)
    (y,) = assert_bit_exact(g, [x])
    # Real-valued sanity: the output is never below real 0 (its zero point) and tracks the input above it.
    assert (y.astype(np.int64) >= min(max(out_q[1], QMIN[dtype]), QMAX[dtype])).all()
    real_in = (x.astype(np.float64) - in_q[1]) * in_q[0]
    real_out = (y.astype(np.float64) - out_q[1]) * out_q[0]
    hi = 6.0 if op == "RELU6" else np.inf
    want = np.clip(real_in, 0, hi)
    ok = (want > 0) & (want < (QMAX[dtype] - out_q[1]) * out_q[0]) & (want < hi)
    # Double rounding can land up to 0.75 LSB away; never a whole LSB.
    assert np.all(np.abs(real_out - want)[ok] < out_q[0] * 0.76)


def unary_graph(op, shape, in_scale, in_zp, out_scale, out_zp, dtype="int8"):
    b = GraphBuilder()
    x = b.input("x", shape, dtype=dtype, scale=in_scale, zero_point=in_zp)
    b.output(b.op(op, [x], dtype=dtype, scale=out_scale, zero_point=out_zp))
    return b.build()


def every_int8(shape=(2, 128)):
    return np.arange(-128, 128).reshape(shape).astype(np.int8)


def lut(g):
    """The 256-entry table of the graph's only node (looked up through the registry)."""
    c = call(g.nodes[0], g)
    return c.opdef.table(c).astype(int)


POOL_ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


POOL_CASES = [
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


def pool_node(op, dtype="int8", out_scale=0.05, out_zp=3, **attrs):
    b = GraphBuilder()
    x = b.input("x", (1, 6, 6, 2), dtype=dtype, scale=None if dtype == "float32" else 0.05, zero_point=3)
    attrs = {"filter_h": 2, "filter_w": 2, **attrs}
    return b.op(op, [x], dtype=dtype, scale=out_scale, zero_point=out_zp, **attrs)


POOL_REJECTS = [
    ({"out_scale": 0.07}, "must equal the input"),
    ({"out_zp": 4}, "must equal the input"),
    ({"dtype": "float32", "out_scale": None}, "int8 or int16"),
    ({"filter_h": None}, "filter_h"),
    ({"filter_w": 0}, "filter_w"),
    ({"stride_h": 0}, "stride_h"),
    ({"filter_h": 7, "padding": "VALID"}, "does not fit"),
    ({"padding": "REFLECT"}, "padding"),
]
