import copy
from fractions import Fraction

import numpy as np
import pytest

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ops.registry import call
from edgefmr.tflite import to_tflite

OUT_QUANTS = [(1 / 256, -128), (1 / 255, -128), (1 / 128, -128), (0.01, -100)]


def cs_graph(shape, x_q, y_q, beta=1.0, gamma=0.0, zeta=1.0, with_softmax=False):
    b = GraphBuilder()
    x = b.input("x", shape, scale=x_q[0], zero_point=x_q[1])
    b.output(b.op("CLIPPED_SOFTMAX", [x], scale=y_q[0], zero_point=y_q[1], beta=beta, gamma=gamma, zeta=zeta))
    if with_softmax:
        b.output(b.op("SOFTMAX", [x], scale=1 / 256, zero_point=-128, beta=beta))
    return b.build()


def run_and_round_trip(g, feeds):
    out = run(g, feeds)
    doc, arrays = to_json(g)
    again = run(from_json(doc, arrays), feeds)
    for k in g.outputs:
        np.testing.assert_array_equal(again[k], out[k])
    return [out[k] for k in g.outputs]


def exact_affine(p, gamma, zeta, y_q):
    """Step 3 of the definition on SOFTMAX's output p, with exact rationals: (value before rounding, y)."""
    s_y = Fraction(float(np.float32(y_q[0])))
    vals, ys = [], []
    for pi in np.ravel(p):
        v = Fraction(zeta - gamma) * Fraction(int(pi) + 128, 256) / s_y + Fraction(gamma) / s_y
        r = (v + Fraction(1, 2)).__floor__()
        hi = min(127, y_q[1] + int((1 / s_y + Fraction(1, 2)).__floor__()))
        vals.append(v)
        ys.append(min(hi, max(y_q[1], r + y_q[1])))
    return vals, np.array(ys).reshape(np.shape(p))


def float_clipped_softmax(x, x_q, beta, gamma, zeta):
    """(clipped softmax, the affine before the clip) in float64."""
    z = beta * float(np.float32(x_q[0])) * (x.astype(np.float64) - x_q[1])
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    a = (zeta - gamma) * e / e.sum(axis=-1, keepdims=True) + gamma
    return np.clip(a, 0.0, 1.0), a


@pytest.mark.parametrize("seed", range(16))
def test_clipped_softmax_definition_and_float(seed):
    rng = np.random.default_rng(seed)
    n = [1, 2, 5, 17, 33, 64, 100, 197][seed % 8]
    shape = [(3, n), (2, 2, n), (n,)][seed % 3]
    x_q = (float(np.exp(rng.uniform(np.log(0.02), np.log(0.3)))), int(rng.integers(-128, 128)))
    y_q = OUT_QUANTS[seed % 4]
    gamma = -float(rng.uniform(0.0, 0.1)) if seed % 5 else -0.5 / n
    zeta = 1.0 if seed % 2 else float(rng.uniform(1.0, 1.1))
    beta = [1.0, 0.5, 2.0][seed % 3]
    g = cs_graph(shape, x_q, y_q, beta, gamma, zeta, with_softmax=True)
    x = rng.integers(-128, 128, shape).astype(np.int8)
    x.reshape(-1, n)[:, 0] = 127  # one strong key per row
    y, p = run_and_round_trip(g, [x])
    assert y.dtype == np.int8 and y.shape == tuple(shape)
    # exact: equals the rational affine-and-clip of SOFTMAX's output, except within 2^-12 LSB of a rounding tie
    vals, ref = exact_affine(p, gamma, zeta, y_q)
    near_tie = np.array([abs(v - (v.__floor__() + Fraction(1, 2))) < Fraction(1, 4096) for v in vals]).reshape(y.shape)
    assert np.all((y == ref) | (near_tie & (np.abs(y.astype(int) - ref) <= 1)))
    # float clipped softmax: the integer softmax is within 1/256 (+ its own rounding), scaled by zeta - gamma,
    # plus half an output step
    s_y = float(np.float32(y_q[0]))
    got = s_y * (y.astype(np.float64) - y_q[1])
    want, unclipped = float_clipped_softmax(x, x_q, beta, gamma, zeta)
    bound = (zeta - gamma) * 1.5 / 256 + 0.5 * s_y + 1e-9
    assert np.abs(got - np.minimum(want, s_y * (127 - y_q[1]))).max() <= bound
    # exact zeros ("attend to nothing") wherever the float value is clipped to 0 by more than the bound
    zeros = unclipped + (zeta - gamma) * 1.5 / 256 <= 0.0
    assert np.all(y[zeros] == y_q[1])
    if n >= 17 and -gamma > 0.02:
        assert zeros.sum() > y.size // 4  # the case is exercised
    if y_q == (1 / 255, -128):  # 1 is exact too
        assert np.all(y[unclipped - (zeta - gamma) * 1.5 / 256 >= 1.0] == 127)


@pytest.mark.parametrize("beta", [1.0, 0.7])
def test_clipped_softmax_with_gamma_0_zeta_1_is_softmax(beta):
    rng = np.random.default_rng(0)
    g = cs_graph((6, 40), (0.1, 3), (1 / 256, -128), beta=beta, with_softmax=True)
    y, p = run_and_round_trip(g, [rng.integers(-128, 128, (6, 40)).astype(np.int8)])
    np.testing.assert_array_equal(y, p)


def test_clipped_softmax_one_dominant_key_and_uniform_rows():
    g = cs_graph((2, 8), (0.5, 0), (1 / 255, -128), gamma=-0.5 / 8, zeta=1.0)
    x = np.array([[127, -128, -128, -128, -128, -128, -128, -128], [5] * 8], np.int8)
    (y,) = run_and_round_trip(g, [x])
    # row 0: softmax ~ (1, 0, ...): the winner ~ 1, the others exactly 0
    assert y[0, 0] >= 126 and np.all(y[0, 1:] == -128)
    # row 1: uniform 1/8 -> (1 + 1/16) / 8 - 1/16 = 0.0703 -> 17.9 / 255 -> 18 - 128
    assert np.all(y[1] == -128 + 18)


def test_clipped_softmax_counts_and_errors():
    g = cs_graph((4, 10), (0.1, 0), (1 / 256, -128), gamma=-0.05)
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 40
    assert c.opdef.op_counts(c) == {"mults": 80, "adds": 116, "exps": 40, "divs": 4}
    with pytest.raises(IRError, match="zeta .* must be greater than gamma"):
        cs_graph((4, 10), (0.1, 0), (1 / 256, -128), gamma=1.0, zeta=1.0)
    with pytest.raises(IRError, match="gamma must be a finite number"):
        cs_graph((4, 10), (0.1, 0), (1 / 256, -128), gamma=float("nan"))
    with pytest.raises(IRError, match="too small: the integer softmax"):
        cs_graph((4, 10), (1e-9, 0), (1 / 256, -128))
    with pytest.raises(IRError, match="output scale .* too small"):
        cs_graph((4, 10), (0.1, 0), (1e-6, 0))
    with pytest.raises(IRError, match="input must be int8"):
        b = GraphBuilder()
        b.op("CLIPPED_SOFTMAX", [b.input("x", (3,), dtype="int16", scale=0.1)], scale=1 / 256, zero_point=-128)
    with pytest.raises(EdgefmrError, match="without a TFLite builtin: CLIPPED_SOFTMAX"):
        to_tflite(g)


def test_malformed_graphs_fail_cleanly():
    """Random shapes on any tensor of a valid graph: validation raises IRError or passes, never anything else."""
    g0 = cs_graph((2, 5), (0.1, 0), (1 / 256, -128), gamma=-0.1)
    rng = np.random.default_rng(0)
    for _ in range(60):
        g = copy.deepcopy(g0)
        t = g.tensors[list(g.tensors)[int(rng.integers(len(g.tensors)))]]
        t.shape = tuple(int(v) for v in rng.integers(0, 4, int(rng.integers(0, 4))))
        if t.data is not None:
            t.data = np.zeros(t.shape, t.data.dtype)
        try:
            validate(g)
        except IRError:
            pass
