import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call

CASES = [
    # x shape, axes, keep_dims, same quantization in and out, dtype
    ((1, 7, 5, 8), [1, 2], True, False, "int8"),  # 4-D H,W with keep_dims (global average pooling)
    ((2, 6, 6, 3), [2, 1], True, True, "int8"),
    ((2, 9, 7, 32), [1, 2], True, True, "int8"),
    ((2, 11, 3, 32), [1, 2], True, False, "int8"),
    ((1, 4, 9, 16), [1, 2], False, False, "int8"),
    ((1, 4, 9, 16), [1, 2], False, True, "int8"),
    ((3, 10, 24), [-1], True, False, "int8"),  # LayerNorm-style mean over the last axis
    ((3, 10, 24), [-1], False, True, "int8"),
    ((2, 5, 7), [0, 2], False, False, "int8"),
    ((2, 5, 7, 3), [3], True, True, "int8"),
    ((6, 40), [1], False, False, "int8"),
    ((2, 3, 4, 5), [0, 1, 2, 3], False, False, "int8"),
    ((2, 13, 17, 3), [1, -3], True, False, "int8"),  # duplicate axis (1 == -3)
    ((4, 33), [0], True, False, "int8"),
    ((3, 12, 20), [-1], True, False, "int16"),
    ((1, 6, 5, 4), [1, 2], True, True, "int16"),
]


def mean_graph(rng, shape, axes, keep_dims, same_q, dtype="int8"):
    b = GraphBuilder()
    s = rng.uniform(0.002, 0.1)
    zp = int(rng.integers(-128, 128)) if dtype == "int8" else 0
    x = b.input("x", shape, dtype=dtype, scale=s, zero_point=zp)
    ax = b.const("axis", np.array(axes, np.int32))
    if not same_q:
        s = s * rng.uniform(0.2, 1.5)
        zp = int(rng.integers(-128, 128)) if dtype == "int8" else 0
    y = b.op("MEAN", [x, ax], dtype=dtype, scale=s, zero_point=zp, keep_dims=keep_dims)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("seed", range(len(CASES)))
def test_mean_bit_exact(seed):
    rng = np.random.default_rng(600 + seed)
    g = mean_graph(rng, *CASES[seed])
    assert_bit_exact(g, random_input(rng, g))


def test_mean_shapes():
    rng = np.random.default_rng(0)
    assert mean_graph(rng, (2, 5, 7, 3), [1, 2], True, False).tensors["mean"].shape == (2, 1, 1, 3)
    assert mean_graph(rng, (2, 5, 7, 3), [2, -3], False, False).tensors["mean"].shape == (2, 3)
    assert mean_graph(rng, (2, 5, 7), [0, 1, 2], False, False).tensors["mean"].shape == ()
    g = mean_graph(rng, (2, 5, 7), [1], False, False)
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0


def _mean(x_dtype="int8", axes=(1,), axis_dtype=np.int32, axis_const=True, zp=0, out_dtype=None):
    b = GraphBuilder()
    x = b.input("x", (2, 4, 6), dtype=x_dtype, scale=None if x_dtype == "float32" else 0.1, zero_point=zp)
    if axis_const:
        ax = b.const("axis", np.array(axes, axis_dtype))
    else:
        ax = b.input("axis", (len(axes),), dtype="int32")
    out_dtype = out_dtype or x_dtype
    return b.op("MEAN", [x, ax], dtype=out_dtype, scale=None if out_dtype == "float32" else 0.1, zero_point=zp)


@pytest.mark.parametrize("kwargs, msg", [
    ({"axes": (3,)}, "out of range"),
    ({"axes": (-4,)}, "out of range"),
    ({"axis_dtype": np.int64}, "int32"),
    ({"axis_const": False}, "constant"),
    ({"x_dtype": "float32"}, "int8 or int16"),
    ({"out_dtype": "int16"}, "int8 or int16"),
    ({"x_dtype": "int16", "zp": 2}, "zero points 0"),
])
def test_mean_rejects(kwargs, msg):
    with pytest.raises(IRError, match=msg):
        _mean(**kwargs)
