import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


def transpose_graph(shape, perm, dtype="int8"):
    b = GraphBuilder()
    q = {} if dtype == "int32" else {"scale": 0.07, "zero_point": -5}
    x = b.input("x", shape, dtype=dtype, **q)
    y = b.op("TRANSPOSE", [x, b.const("perm", np.array(perm, np.int32))], dtype=dtype, **q)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("seed", range(10))
def test_transpose_bit_exact(seed):
    rng = np.random.default_rng(seed)
    rank = 1 + seed % 6
    shape = [int(d) for d in rng.integers(1, 5, rank)]
    perm = [int(p) for p in rng.permutation(rank)]
    given = [p - rank if rng.random() < 0.3 else p for p in perm]  # negative entries count from the end
    g = transpose_graph(shape, given, ["int8", "int16", "int32"][seed % 3])
    feeds = random_input(rng, g)
    (y,) = assert_bit_exact(g, feeds)
    np.testing.assert_array_equal(y, np.transpose(feeds[0], perm))


def test_transpose_rank_8():
    rng = np.random.default_rng(0)
    g = transpose_graph([2, 1, 3, 2, 1, 2, 3, 2], [7, 0, 6, 1, 5, 2, 4, 3])
    assert_bit_exact(g, random_input(rng, g))


def test_transpose_macs_and_shape():
    g = transpose_graph((2, 3, 4), [2, 0, 1])
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0
    assert g.tensors[g.outputs[0]].shape == (4, 2, 3)


@pytest.mark.parametrize("perm, msg", [([0, 0, 1], "not a permutation"), ([0, 1, 3], "outside"),
                                        ([1, 0], "length 3"), ([0, -4, 1], "outside")])
def test_transpose_bad_perm(perm, msg):
    with pytest.raises(IRError, match=msg):
        transpose_graph((2, 3, 4), perm)


def test_transpose_errors():
    with pytest.raises(IRError, match="rank 9"):
        transpose_graph([1] * 9, list(range(9)))
    b = GraphBuilder()
    x = b.input("x", (2, 3), scale=0.1)
    p = b.input("p", (2,), dtype="int32")
    with pytest.raises(IRError, match="must be a constant"):
        b.op("TRANSPOSE", [x, p], scale=0.1)
