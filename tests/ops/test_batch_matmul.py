import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call

CASES = [
    # lhs shape, rhs shape, adj_x, adj_y, rhs constant
    ((4, 8), (8, 5), False, False, False),
    ((2, 4, 8), (2, 8, 5), False, False, False),
    ((2, 3, 6, 16), (2, 3, 7, 16), False, True, False),
    ((3, 16, 6), (3, 16, 7), True, False, False),
    ((2, 9, 5), (2, 6, 9), True, True, False),
    ((2, 3, 6, 8), (8, 4), False, False, True),
    ((1, 3, 6, 8), (2, 1, 8, 4), False, False, False),
    ((5, 8), (3, 8, 4), False, False, False),
    ((2, 1, 2, 3, 4), (1, 2, 1, 4, 3), False, False, False),
    ((1, 5, 33), (4, 33), False, True, True),
    ((2, 4, 6, 10), (2, 4, 10, 6), False, False, False),
    ((7, 1), (1, 9), False, False, False),
]


def bmm_graph(rng, ls, rs, adj_x, adj_y, rhs_const):
    b = GraphBuilder()
    lhs = b.input("a", ls, scale=rng.uniform(0.002, 0.1), zero_point=int(rng.integers(-128, 128)))
    r_scale, r_zp = rng.uniform(0.002, 0.1), int(rng.integers(-128, 128))
    if rhs_const:
        rhs = b.const("b", rng.integers(-128, 128, rs).astype(np.int8), scale=r_scale, zero_point=r_zp)
    else:
        rhs = b.input("b", rs, scale=r_scale, zero_point=r_zp)
    y = b.op("BATCH_MATMUL", [lhs, rhs], scale=rng.uniform(0.05, 2.0), zero_point=int(rng.integers(-128, 128)),
             adj_x=adj_x, adj_y=adj_y)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("seed", range(len(CASES)))
def test_batch_matmul_bit_exact(seed):
    rng = np.random.default_rng(500 + seed)
    g = bmm_graph(rng, *CASES[seed])
    assert_bit_exact(g, random_input(rng, g))
