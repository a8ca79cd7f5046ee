import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call

CASES = [
    # x shape, axes, keep_dims, same quantization in and out
    ((1, 7, 5, 8), [1, 2], True, False),
    ((2, 6, 6, 3), [2, 1], True, True),
    ((1, 4, 9, 16), [1, 2], False, False),
    ((1, 4, 9, 16), [1, 2], False, True),
    ((3, 10, 24), [-1], True, False),
    ((3, 10, 24), [-1], False, True),
    ((2, 5, 7), [0, 2], False, False),
    ((2, 5, 7, 3), [3], True, True),
    ((6, 40), [1], False, False),
    ((2, 3, 4, 5), [0, 1, 2, 3], False, False),
    ((2, 13, 17, 3), [1, 2], True, False),
    ((4, 33), [0], True, False),
]


def mean_graph(rng, shape, axes, keep_dims, same_q):
    b = GraphBuilder()
    s, zp = rng.uniform(0.002, 0.1), int(rng.integers(-128, 128))
    x = b.input("x", shape, scale=s, zero_point=zp)
    ax = b.const("axis", np.array(axes, np.int32))
    if not same_q:
        s, zp = s * rng.uniform(0.2, 1.5), int(rng.integers(-128, 128))
    y = b.op("MEAN", [x, ax], scale=s, zero_point=zp, keep_dims=keep_dims)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("seed", range(len(CASES)))
def test_mean_bit_exact(seed):
    rng = np.random.default_rng(600 + seed)
    g = mean_graph(rng, *CASES[seed])
    assert_bit_exact(g, random_input(rng, g))
