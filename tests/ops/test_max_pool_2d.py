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
    b = GraphBuilder()
    zp = int(rng.integers(-128, 128)) if dtype == "int8" else 0
    scale = rng.uniform(0.002, 0.1)
    x = b.input("x", x_shape, dtype=dtype, scale=scale, zero_point=zp)
    y = b.op(op, [x], dtype=dtype, scale=scale, zero_point=zp, padding=padding, filter_h=filt[0], filter_w=filt[1],
             stride_h=stride[0], stride_w=stride[1], activation=activation)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("seed", range(len(CASES)))
def test_max_pool_2d_bit_exact(seed):
    rng = np.random.default_rng(400 + seed)
    x_shape, filt, stride, padding = CASES[seed]
    g = pool_graph("MAX_POOL_2D", rng, x_shape, filt, stride, padding, ACTS[seed % 4],
                   "int16" if seed % 5 == 4 else "int8")
    assert_bit_exact(g, random_input(rng, g))
