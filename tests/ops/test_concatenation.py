import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


def concat_graph(shapes, axis, dtype="int8", quants=None, activation=None):
    """quants: one (scale, zero point) per input plus one for the output (default: all equal)."""
    b = GraphBuilder()
    quants = quants or [(0.05, 3)] * (len(shapes) + 1)
    xs = []
    for i, s in enumerate(shapes):
        q = {} if dtype == "int32" else {"scale": quants[i][0], "zero_point": quants[i][1]}
        xs.append(b.input(f"x{i}", s, dtype=dtype, **q))
    q = {} if dtype == "int32" else {"scale": quants[-1][0], "zero_point": quants[-1][1]}
    kw = {"activation": activation} if activation else {}
    y = b.op("CONCATENATION", xs, dtype=dtype, axis=axis, **q, **kw)
    b.output(y)
    return b.build()


def _shapes(rng, n, rank, axis):
    base = [int(d) for d in rng.integers(1, 5, rank)]
    out = []
    for _ in range(n):
        s = list(base)
        s[axis] = int(rng.integers(1, 5))
        out.append(s)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_concatenation_bit_exact(seed):
    rng = np.random.default_rng(seed)
    rank = 1 + seed % 4
    axis = int(rng.integers(-rank, rank))
    n = 1 + seed % 6
    shapes = _shapes(rng, n, rank, axis)
    dtype = ["int8", "int16", "int32", "uint8"][seed % 4]
    if dtype == "int8":
        q = (float(rng.uniform(0.01, 0.2)), int(rng.integers(-128, 128)))
        quants = [q] * (n + 1)
    elif dtype == "int16":
        quants = [(float(rng.uniform(1e-4, 1e-2)), 0)] * (n + 1)
    elif dtype == "uint8":  # TFLite requantizes uint8 inputs whose quantization differs from the output's
        quants = [(float(rng.uniform(0.01, 0.2)), int(rng.integers(0, 256))) for _ in range(n + 1)]
        quants[0] = quants[-1]
    else:
        quants = None
    g = concat_graph(shapes, axis, dtype, quants)
    feeds = random_input(rng, g)
    (y,) = assert_bit_exact(g, feeds)
    if dtype != "uint8":
        np.testing.assert_array_equal(y, np.concatenate(feeds, axis=axis))


def test_concatenation_many_inputs():
    rng = np.random.default_rng(1)
    g = concat_graph([[2, 1, 3]] * 40, 1)
    assert g.tensors[g.outputs[0]].shape == (2, 40, 3)
    assert_bit_exact(g, random_input(rng, g))


def test_concatenation_uint8_requantizes_half_way_values():
    # scale ratio 0.5 with odd inputs lands exactly on .5: TFLite rounds half away from zero.
    g = concat_graph([[1, 8], [1, 8]], 1, "uint8", [(0.1, 0), (0.05, 0), (0.1, 0)])
    x0 = np.arange(8, dtype=np.uint8).reshape(1, 8)
    x1 = np.array([[1, 3, 5, 7, 9, 11, 255, 0]], np.uint8)
    (y,) = assert_bit_exact(g, [x0, x1])
    np.testing.assert_array_equal(y[0, 8:], [1, 2, 3, 4, 5, 6, 128, 0])


def test_concatenation_macs_and_shape():
    g = concat_graph([[2, 3], [2, 5]], -1)
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0
    assert g.tensors[g.outputs[0]].shape == (2, 8)


def test_concatenation_errors():
    with pytest.raises(IRError, match="must have the output's quantization"):
        concat_graph([[2, 3], [2, 3]], 0, quants=[(0.1, 0), (0.2, 0), (0.1, 0)])
    with pytest.raises(IRError, match="must have the output's quantization"):
        concat_graph([[2, 3], [2, 3]], 0, quants=[(0.1, 0), (0.1, 1), (0.1, 0)])
    with pytest.raises(IRError, match="valid: NONE"):
        concat_graph([[2, 3], [2, 3]], 0, activation="RELU")
    with pytest.raises(IRError, match="zero point 0"):
        concat_graph([[2, 3], [2, 3]], 0, "int16", [(0.1, 1)] * 3)
    with pytest.raises(IRError, match="out of range"):
        concat_graph([[2, 3], [2, 3]], 2)
    with pytest.raises(IRError, match="does not match"):
        concat_graph([[2, 3], [3, 3]], 1)
    with pytest.raises(IRError, match="does not match"):
        concat_graph([[2, 3], [2, 3, 1]], 1)
    b = GraphBuilder()
    x = b.input("x", (2,), scale=0.1)
    z = b.input("z", (2,), dtype="int16", scale=0.1)
    with pytest.raises(IRError, match="one dtype"):
        b.op("CONCATENATION", [x, z], scale=0.1)
