import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder, run
from edgefmr.ops.registry import call
from edgefmr.tflite.litert import run_litert


def _factor_shape(rng, n: int) -> list[int]:
    """A random shape whose product is n."""
    dims, rest = [], n
    for p in (2, 3, 5, 7):
        while rest % p == 0:
            dims.append(p)
            rest //= p
    if rest > 1:
        dims.append(rest)
    rng.shuffle(dims)
    out: list[int] = []
    for d in dims:
        if out and rng.random() < 0.5:
            out[-1] *= d
        else:
            out.append(d)
    if rng.random() < 0.3:
        out.insert(int(rng.integers(0, len(out) + 1)), 1)
    return out or [1]


def reshape_graph(x_shape, new_shape, dtype="int8", via="tensor", attr=None, scale=0.05, zp=3):
    b = GraphBuilder()
    q = {} if dtype == "int32" else {"scale": scale, "zero_point": zp}
    x = b.input("x", x_shape, dtype=dtype, **q)
    ins = [x, b.const("shape", np.array(new_shape, np.int32))] if via == "tensor" else [x]
    kw = {"new_shape": attr} if attr is not None else {}
    y = b.op("RESHAPE", ins, dtype=dtype, **q, **kw)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("seed", range(10))
def test_reshape_bit_exact(seed):
    rng = np.random.default_rng(seed)
    x_shape = [int(d) for d in rng.integers(1, 7, int(rng.integers(1, 5)))]
    n = int(np.prod(x_shape))
    new = _factor_shape(rng, n)
    expected = tuple(new)
    if seed % 2:
        new[int(rng.integers(0, len(new)))] = -1
    dtype = ["int8", "int16", "int32"][seed % 3]
    via = ["tensor", "attr", "both"][seed % 3]
    if via == "tensor":
        g = reshape_graph(x_shape, new, dtype)
    elif via == "attr":
        g = reshape_graph(x_shape, None, dtype, via="attr", attr=new)
    else:  # the shape input wins over the attribute, as in TFLite
        g = reshape_graph(x_shape, new, dtype, via="tensor", attr=[n])
    assert g.tensors[g.outputs[0]].shape == expected
    feeds = random_input(rng, g)
    (y,) = assert_bit_exact(g, feeds)
    np.testing.assert_array_equal(y, feeds[0].reshape(expected))


def test_reshape_legacy_scalar_attr():
    g = reshape_graph((1, 1), None, via="attr", attr=[0])
    assert g.tensors[g.outputs[0]].shape == ()
    assert_bit_exact(g, [np.array([[-7]], np.int8)])


def test_reshape_empty_shape_tensor_is_scalar():
    b = GraphBuilder()
    x = b.input("x", (1,), scale=0.1)
    y = b.op("RESHAPE", [x, b.const("s", np.zeros(0, np.int32))], scale=0.1)
    b.output(y)
    g = b.build()
    assert g.tensors[y].shape == ()
    # Interpreter vs LiteRT only: a zero-element constant does not survive the .tflite reader yet.
    ours = run(g, [np.array([5], np.int8)])[y]
    (ref,) = run_litert(g, [np.array([5], np.int8)])
    assert ours.shape == ref.shape == () and ours == ref == 5


def test_reshape_macs_and_shape():
    g = reshape_graph((2, 3, 4), [-1, 6])
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0
    assert g.tensors[g.outputs[0]].shape == (4, 6)


@pytest.mark.parametrize("new, msg", [([-1, -1], "more than one -1"), ([5, 5], "cannot reshape"),
                                       ([-1, 5], "cannot reshape"), ([-2, 12], "negative size")])
def test_reshape_bad_shapes(new, msg):
    with pytest.raises(IRError, match=msg):
        reshape_graph((2, 3, 4), new)


def test_reshape_errors():
    b = GraphBuilder()
    x = b.input("x", (2, 3), scale=0.1)
    with pytest.raises(IRError, match="needs a shape"):
        b.op("RESHAPE", [x], scale=0.1)
    s = b.input("s", (2,), dtype="int32")
    with pytest.raises(IRError, match="must be a constant"):
        b.op("RESHAPE", [x, s], scale=0.1)
    with pytest.raises(IRError, match="must equal input dtype"):
        b.op("RESHAPE", [x, b.const("s2", np.array([6], np.int32))], dtype="int16", scale=0.1)
    with pytest.raises(IRError, match="1-D int32"):
        b.op("RESHAPE", [x, b.const("s3", np.array([6], np.int64))], scale=0.1)
