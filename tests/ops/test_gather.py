import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, run
from edgefmr.ops.registry import call


def gather_graph(shape, indices, axis=0, batch_dims=0, const=True, dtype="int8"):
    b = GraphBuilder()
    q = {} if dtype == "int32" else {"scale": 0.02, "zero_point": -9}
    x = b.input("x", shape, dtype=dtype, **q)
    idx = np.asarray(indices)
    i = b.const("idx", idx) if const else b.input("idx", idx.shape, dtype=str(idx.dtype))
    y = b.op("GATHER", [x, i], dtype=dtype, axis=axis, batch_dims=batch_dims, **q)
    b.output(y)
    return b.build()


def _reference(x, idx, axis, bd):
    """numpy definition: out[b, o, i, r] = x[b, o, idx[b, i], r]."""
    if bd == 0:
        return np.take(x, idx, axis=axis)
    return np.stack([_reference(x[k], idx[k], axis - 1, bd - 1) for k in range(x.shape[0])])


@pytest.mark.parametrize("seed", range(12))
def test_gather_bit_exact(seed):
    rng = np.random.default_rng(seed)
    rank = 1 + seed % 4
    shape = [int(d) for d in rng.integers(1, 6, rank)]
    axis = int(rng.integers(-rank, rank))
    ax = axis % rank
    bd = int(rng.integers(0, ax + 1)) if seed % 3 == 0 else 0
    const = seed % 2 == 0
    # A 0-d index is a runtime input here: 0-d constants do not survive the .efm round trip yet.
    irank = int(rng.integers(bd + const, bd + 3))
    ishape = shape[:bd] + [int(d) for d in rng.integers(1, 4, irank - bd)]
    idx = rng.integers(0, shape[ax], ishape).astype(["int32", "int64", "int16"][seed % 3])
    batch_dims = bd - irank if (bd and seed % 4 == 0) else bd  # negative: counts from the indices rank
    g = gather_graph(shape, idx, axis, batch_dims, const)
    feeds = random_input(rng, g)
    if not const:
        feeds[1] = idx
    (y,) = assert_bit_exact(g, feeds)
    np.testing.assert_array_equal(y, _reference(feeds[0], idx, ax, bd))


def test_gather_embedding_lookup():
    """The transformer case: token ids (runtime int32) into an int8 embedding table."""
    rng = np.random.default_rng(3)
    b = GraphBuilder()
    ids = b.input("ids", (1, 7), dtype="int32")
    table = b.const("table", rng.integers(-128, 128, (50, 16)).astype(np.int8), scale=0.01, zero_point=0)
    y = b.op("GATHER", [table, ids], scale=0.01, zero_point=0)
    b.output(y)
    g = b.build()
    assert g.tensors[y].shape == (1, 7, 16)
    assert_bit_exact(g, [rng.integers(0, 50, (1, 7)).astype(np.int32)])


def test_gather_macs_and_shape():
    g = gather_graph((4, 5, 6), np.zeros((2, 3), np.int32), axis=1)
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0
    assert g.tensors[g.outputs[0]].shape == (4, 2, 3, 6)


def test_gather_errors():
    with pytest.raises(IRError, match="index 5 is out of range"):
        gather_graph((5, 2), np.array([0, 5], np.int32))
    with pytest.raises(IRError, match="index -1 is out of range"):
        gather_graph((5, 2), np.array([-1], np.int32))
    with pytest.raises(IRError, match="axis 2 is out of range"):
        gather_graph((5, 2), np.array([0], np.int32), axis=2)
    with pytest.raises(IRError, match="batch_dims"):
        gather_graph((2, 5), np.zeros((2, 1), np.int32), axis=0, batch_dims=1)
    with pytest.raises(IRError, match="batch"):
        gather_graph((2, 5), np.zeros((3, 1), np.int32), axis=1, batch_dims=1)
    with pytest.raises(IRError, match="indices dtype"):
        gather_graph((5, 2), np.array([0], np.int8))
    g = gather_graph((5, 2), np.array([0, 1], np.int32), const=False)
    with pytest.raises(EdgefmrError, match="index 7 is out of range; valid: 0..4"):
        run(g, [np.zeros((5, 2), np.int8), np.array([1, 7], np.int32)])


def test_gather_scalar_index_drops_the_axis():
    rng = np.random.default_rng(4)
    g = gather_graph((3, 4, 2), np.array(2, np.int32), axis=1, const=False)
    assert g.tensors[g.outputs[0]].shape == (3, 2)
    x = random_input(rng, g)[0]
    (y,) = assert_bit_exact(g, [x, np.array(2, np.int32)])
    np.testing.assert_array_equal(y, x[:, 2])
