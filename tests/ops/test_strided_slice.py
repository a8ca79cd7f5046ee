import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


def slice_graph(shape, begin, end, strides, dtype="int8", **masks):
    b = GraphBuilder()
    q = {} if dtype == "int32" else {"scale": 0.03, "zero_point": 11}
    x = b.input("x", shape, dtype=dtype, **q)
    vecs = (("begin", begin), ("end", end), ("strides", strides))
    ins = [x] + [b.const(n, np.array(v, np.int32)) for n, v in vecs]
    y = b.op("STRIDED_SLICE", ins, dtype=dtype, **q, **masks)
    b.output(y)
    return b.build()


def _random_spec(rng):
    rank = int(rng.integers(1, 5))
    shape = [int(d) for d in rng.integers(1, 6, rank)]
    n = int(rng.integers(1, rank + 1))
    begin = [int(v) for v in rng.integers(-7, 7, n)]
    end = [int(v) for v in rng.integers(-7, 7, n)]
    strides = [int(v) for v in rng.choice([-3, -2, -1, 1, 1, 2, 3], n)]

    def mask(p):
        return int(sum(1 << i for i in range(n) if rng.random() < p))

    masks = {"begin_mask": mask(0.3), "end_mask": mask(0.3), "shrink_axis_mask": mask(0.2)}
    if rng.random() < 0.3:
        masks["new_axis_mask"] = mask(0.3)
    if rng.random() < 0.3:
        masks["ellipsis_mask"] = 1 << int(rng.integers(0, n))
    return shape, begin, end, strides, masks


@pytest.mark.parametrize("seed", range(8))
def test_strided_slice_random_specs_bit_exact(seed):
    """Random begin/end/strides (negative, out of range) and masks; the specs check() accepts match LiteRT."""
    rng = np.random.default_rng(seed)
    accepted = 0
    for _ in range(25):
        spec = _random_spec(rng)
        try:
            g = slice_graph(*spec[:4], dtype=["int8", "int16", "int32"][seed % 3], **spec[4])
        except IRError:
            continue
        assert_bit_exact(g, random_input(rng, g))
        accepted += 1
    assert accepted >= 8


@pytest.mark.parametrize("name, shape, begin, end, strides, masks, expected", [
    ("x[1:-1, ::-2]", (5, 6), [1, 0], [-1, 0], [1, -2], {"begin_mask": 2, "end_mask": 2},
     lambda x: x[1:-1, ::-2]),
    ("x[:, 2]", (3, 4), [0, 2], [0, 3], [1, 1], {"begin_mask": 1, "end_mask": 1, "shrink_axis_mask": 2},
     lambda x: x[:, 2]),
    ("x[-1]", (3, 4), [-1], [0], [1], {"shrink_axis_mask": 1}, lambda x: x[-1]),
    ("x[..., 1:3]", (2, 3, 4), [0, 1], [0, 3], [1, 1], {"ellipsis_mask": 1}, lambda x: x[..., 1:3]),
    ("x[:, None, 1:]", (3, 4), [0, 0, 1], [0, 0, 0], [1, 1, 1],
     {"begin_mask": 1, "end_mask": 5, "new_axis_mask": 2}, lambda x: x[:, None, 1:]),
    ("x[::-1, -3:]", (4, 5), [0, -3], [0, 0], [-1, 1], {"begin_mask": 1, "end_mask": 3},
     lambda x: x[::-1, -3:]),
    ("x[10:, :99]", (4, 5), [10, 0], [0, 99], [1, 1], {"end_mask": 1}, lambda x: x[10:, :99]),
    ("x[0, ..., ::2]", (2, 3, 4, 5), [0, 0, 0], [1, 0, 0], [1, 1, 2],
     {"shrink_axis_mask": 1, "ellipsis_mask": 2, "end_mask": 4}, lambda x: x[0, ..., ::2]),
])
def test_strided_slice_numpy_semantics(name, shape, begin, end, strides, masks, expected):
    rng = np.random.default_rng(0)
    g = slice_graph(shape, begin, end, strides, **masks)
    feeds = random_input(rng, g)
    (y,) = assert_bit_exact(g, feeds)
    np.testing.assert_array_equal(y, expected(feeds[0]), err_msg=name)


def test_strided_slice_offset():
    # With offset, end is a size relative to begin: x[1:1+2, 0:0+3:2].
    rng = np.random.default_rng(0)
    g = slice_graph((4, 5), [1, 0], [2, 3], [1, 2], offset=True)
    feeds = random_input(rng, g)
    (y,) = assert_bit_exact(g, feeds)
    np.testing.assert_array_equal(y, feeds[0][1:3, 0:3:2])


def test_strided_slice_macs_and_shape():
    g = slice_graph((4, 6, 8), [0, 1, 0], [4, 5, 8], [2, 1, 3], shrink_axis_mask=0)
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0
    assert g.tensors[g.outputs[0]].shape == (2, 4, 3)


@pytest.mark.parametrize("args, masks, msg", [
    (([0], [2], [0]), {}, "non-zero"),
    (([7], [8], [1]), {"shrink_axis_mask": 1}, "exactly one element"),
    (([0, 0], [1, 1], [1, 1]), {"ellipsis_mask": 3}, "more than one"),
    (([0, 0, 0], [1, 1, 1], [1, 1, 1]), {}, "3 slice entries"),
    (([0], [2, 3], [1]), {}, "one length"),
    (([3, 0], [3, 2], [1, 1]), {"offset": True}, "offset slice running past"),
    (([0], [2], [1]), {"offset": True}, "one begin/end/stride entry per input dimension"),
])
def test_strided_slice_errors(args, masks, msg):
    with pytest.raises(IRError, match=msg):
        slice_graph((4, 5), *args, **masks)


def test_strided_slice_needs_int32_constants():
    b = GraphBuilder()
    x = b.input("x", (4,), scale=0.1)
    bad = [b.const("b", np.array([0], np.int64)), b.const("e", np.array([2], np.int64)),
           b.const("s", np.array([1], np.int64))]
    with pytest.raises(IRError, match="1-D int32"):
        b.op("STRIDED_SLICE", [x, *bad], scale=0.1)
    dyn = b.input("dyn", (1,), dtype="int32")
    with pytest.raises(IRError, match="must be a constant"):
        b.op("STRIDED_SLICE", [x, dyn, bad[1], bad[2]], scale=0.1)
