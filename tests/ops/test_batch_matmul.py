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
    ((4, 16, 32), (4, 32, 16), False, False, False),
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


def test_batch_matmul_multiplier_from_float32_product():
    """TFLite multiplies the two input scales in float32 before dividing by the output scale in double: with these
    scales that multiplier differs from the all-double one, and the accumulator 1006 lands on 99 only with it."""
    b = GraphBuilder()
    lhs = b.input("a", (1, 2), scale=0.08533387631177902, zero_point=0)
    rhs = b.input("b", (2, 1), scale=0.06536954641342163, zero_point=0)
    y = b.op("BATCH_MATMUL", [lhs, rhs], scale=0.028146488592028618, zero_point=-100)
    b.output(y)
    g = b.build()
    out = assert_bit_exact(g, [np.array([[127, 117]], np.int8), np.array([[7], [1]], np.int8)])[0]
    assert out.tolist() == [[99]]


def test_batch_matmul_macs_and_shape():
    g = bmm_graph(np.random.default_rng(0), (1, 3, 6, 8), (2, 1, 4, 8), False, True, False)
    c = call(g.nodes[0], g)
    assert g.tensors[g.outputs[0]].shape == (2, 3, 6, 4)
    assert c.opdef.macs(c) == 2 * 3 * 6 * 4 * 8
    g = bmm_graph(np.random.default_rng(0), (5, 9, 6), (9, 4), True, False, True)
    assert g.tensors[g.outputs[0]].shape == (5, 6, 4)


@pytest.mark.parametrize("ls, rs, dtype, per_axis, adj_y, msg", [
    ((2, 4, 8), (3, 8, 5), "int8", False, False, "do not broadcast"),
    ((4, 8), (7, 5), "int8", False, False, "inner dimensions"),
    ((4, 8), (8, 5), "int8", False, True, "inner dimensions"),
    ((1, 1, 1, 1, 4, 8), (8, 5), "int8", False, False, "2 to 5"),
    ((8,), (8, 5), "int8", False, False, "2 to 5"),
    ((4, 8), (8, 5), "int16", False, False, "int8"),
    ((4, 8), (8, 5), "int8", True, False, "per-tensor"),
])
def test_batch_matmul_rejects(ls, rs, dtype, per_axis, adj_y, msg):
    b = GraphBuilder()
    lhs = b.input("a", ls, dtype=dtype, scale=0.1)
    if per_axis:
        rhs = b.const("b", np.ones(rs, np.int8), scale=[0.1] * rs[-1], zero_point=0, axis=len(rs) - 1)
    else:
        rhs = b.input("b", rs, dtype=dtype, scale=0.1)
    with pytest.raises(IRError, match=msg):
        b.op("BATCH_MATMUL", [lhs, rhs], dtype=dtype, scale=0.1, adj_y=adj_y)
