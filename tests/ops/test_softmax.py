import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder, run
from edgefmr.ops import gemmlowp as gl
from edgefmr.ops.registry import call

SHAPES = [(1, 10), (4, 16), (2, 3, 7), (64,), (1, 2, 8, 33), (5, 1), (3, 300), (2, 511)]


def softmax_graph(shape, in_scale, in_zp, beta, out_scale=1 / 256, out_zp=-128, dtype="int8"):
    b = GraphBuilder()
    x = b.input("x", shape, dtype=dtype, scale=in_scale, zero_point=in_zp)
    b.output(b.op("SOFTMAX", [x], dtype=dtype, scale=out_scale, zero_point=out_zp, beta=beta))
    return b.build()


@pytest.mark.parametrize("seed", range(16))
def test_softmax_bit_exact(seed):
    rng = np.random.default_rng(seed)
    shape = SHAPES[seed % len(SHAPES)]
    beta = [1.0, float(rng.uniform(0.05, 3.0)), float(rng.uniform(3.0, 300.0))][seed % 3]
    g = softmax_graph(shape, rng.uniform(0.004, 0.5), int(rng.integers(-128, 128)), beta)
    feeds = random_input(rng, g)
    if seed % 2:  # values close to the row maximum: many terms of the sum matter
        feeds = [np.clip(rng.integers(40, 60, shape), -128, 127).astype(np.int8)]
    y = assert_bit_exact(g, feeds)[0]
    c = call(g.nodes[0], g)
    assert y.shape == shape and c.opdef.macs(c) == 0


def test_softmax_rows_are_distributions():
    g = softmax_graph((8, 40), 0.1, 0, 1.0)
    x = np.random.default_rng(1).integers(-128, 128, (8, 40)).astype(np.int8)
    p = (assert_bit_exact(g, [x])[0].astype(int) + 128) / 256
    ref = np.exp(0.1 * x) / np.exp(0.1 * x).sum(-1, keepdims=True)
    assert np.abs(p - ref).max() <= 1 / 256 + 1e-9


def test_softmax_long_uniform_rows():
    """511 equal values: the longest uniform row LiteRT's reference kernel accepts (1/511 -> 0.5009 LSB -> 1).
    At a sum of exponentials of 512 or more LiteRT aborts (exponent > 31); the same arithmetic continued here
    gives 0.4999 LSB for 512 equal values."""
    g = softmax_graph((1, 511), 0.05, 0, 1.0)
    assert np.all(assert_bit_exact(g, [np.full((1, 511), 3, np.int8)])[0] == -127)
    for n in (512, 1024):
        g = softmax_graph((1, n), 0.05, 0, 1.0)
        assert np.all(run(g, [np.full((1, n), 3, np.int8)])[g.outputs[0]] == -128)


def test_softmax_errors():
    with pytest.raises(IRError, match="scale 1/256 and zero point -128"):
        softmax_graph((2, 4), 0.1, 0, 1.0, out_scale=1 / 128)
    with pytest.raises(IRError, match="scale 1/256 and zero point -128"):
        softmax_graph((2, 4), 0.1, 0, 1.0, out_zp=0)
    with pytest.raises(IRError, match="int8"):
        softmax_graph((2, 4), 0.1, 0, 1.0, dtype="int16")
    with pytest.raises(IRError, match="too small"):  # TFLite needs beta * scale * 2^26 > 1
        softmax_graph((2, 4), 1e-9, 0, 1e-2)


def test_gemmlowp_exp_and_reciprocal_accuracy():
    x = np.linspace(-31.9, 0, 2000)
    raw = np.round(x * 2**26).astype(np.int64)  # Q5.26
    e = gl.exp_on_negative_values(raw, 5) / 2**31
    assert np.abs(e - np.exp(raw / 2**26)).max() < 2e-8 * 2**5
    a = np.linspace(0, 0.999, 500)
    r = gl.one_over_one_plus_x_for_x_in_0_1(np.round(a * 2**31).astype(np.int64)) / 2**31
    assert np.abs(r - 1 / (1 + a)).max() < 1e-8
