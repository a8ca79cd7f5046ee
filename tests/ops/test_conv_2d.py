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
]


@pytest.mark.parametrize("seed", range(len(CASES)))
def test_conv_2d_bit_exact(seed):
    rng = np.random.default_rng(100 + seed)
    x_shape, o, k, groups, padding, stride, dilation = CASES[seed]
    g = conv_graph(rng, x_shape, o, k, seed % 3 != 1, groups, padding, stride, dilation, ACTS[seed % 4])
    assert_bit_exact(g, random_input(rng, g))
