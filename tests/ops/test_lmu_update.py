import copy

import numpy as np
import pytest
import torch

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, Node, Quant, Tensor, run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.nas.models.lmu import LMUMemory, legendre_zoh
from edgefmr.ops.fixedpoint import quantize_multiplier
from edgefmr.ops.lmu_update import lmu_constants
from edgefmr.ops.registry import call
from edgefmr.tflite import to_tflite


def lmu_graph(u_shape, u_q, a, b, y_q, a_frac_bits=24, state_frac_bits=16, m0=False, m_dtype="int32",
              m0_shape=None):
    """u -> LMU_UPDATE -> (int8 states, final int32 state); the two-output node is added by hand."""
    gb = GraphBuilder()
    u = gb.input("u", u_shape, scale=u_q[0], zero_point=u_q[1])
    inputs = [u, gb.const("A", a), gb.const("B", b)]
    if m0:
        inputs.append(gb.input("m0", (*u_shape[1:], len(b)) if m0_shape is None else m0_shape, dtype="int32"))
    g = gb.g
    g.tensors["y"] = Tensor("y", (), "int8", Quant([y_q[0]], [y_q[1]]))
    g.tensors["m"] = Tensor("m", (), m_dtype)
    node = Node("LMU_UPDATE", inputs, ["y", "m"], {"a_frac_bits": a_frac_bits, "state_frac_bits": state_frac_bits},
                "lmu")
    c = call(node, g)
    for name, shp in zip(node.outputs, c.opdef.infer(c), strict=True):
        g.tensors[name].shape = tuple(shp)
    c.opdef.check(c)
    g.nodes.append(node)
    gb.output("y", "m")
    return gb.build()


def run_and_round_trip(g, feeds):
    out = run(g, feeds)
    doc, arrays = to_json(g)
    again = run(from_json(doc, arrays), feeds)
    for k in g.outputs:
        np.testing.assert_array_equal(again[k], out[k])
    return [out[k] for k in g.outputs]


def python_loop(u, a, b, m0, zp, fa, fm, u_scale, y_q):
    """The definition, one channel and one step at a time, in Python integers."""
    d = len(b)
    mult, e = quantize_multiplier(float(np.float32(u_scale)) * 2.0**-fm / float(np.float32(y_q[0])))
    states = np.zeros((*u.shape, d), np.int64)
    ys = np.zeros((*u.shape, d), np.int64)
    for idx in np.ndindex(*u.shape[1:]):
        m = [0] * d if m0 is None else [int(v) for v in m0[idx]]
        for t in range(u.shape[0]):
            ut = int(u[(t, *idx)]) - zp
            new = []
            for i in range(d):
                acc = sum(int(a[i, j]) * m[j] for j in range(d))
                new.append(min(2**31 - 1, max(-(2**31), ((acc + (1 << (fa - 1))) >> fa) + int(b[i]) * ut)))
            m = new
            for i in range(d):
                states[(t, *idx, i)] = m[i]
                ys[(t, *idx, i)] = min(127, max(-128, ((m[i] * mult + (1 << (30 - e))) >> (31 - e)) + y_q[1]))
    return states, ys


def state_scale_out(a_bar, b_bar, u_range, fm, steps):
    """An output quantization covering the states: max over the float recurrence of |m| for |u'| <= u_range."""
    m, worst = np.zeros(len(b_bar)), 0.0
    for _ in range(steps):
        m = np.abs(a_bar) @ m + np.abs(b_bar) * u_range
        worst = max(worst, m.max())
    return worst / 127


@pytest.mark.parametrize("seed", range(10))
def test_lmu_update_exact_and_close_to_float(seed):
    rng = np.random.default_rng(seed)
    d = [1, 4, 8, 16, 32][seed % 5]
    steps = [5, 12, 28][seed % 3]
    chans = [(3,), (2, 2), ()][seed % 3]
    theta = float([steps, 8, 30][seed % 3])
    fa, fm = [(24, 16), (20, 12), (28, 8), (16, 20)][seed % 4]
    a_bar, b_bar = legendre_zoh(d, theta)
    a, b = lmu_constants(a_bar, b_bar, fa, fm)
    u_q = (float(rng.uniform(0.01, 0.05)), int(rng.integers(-30, 30)))
    s_y = state_scale_out(a_bar, b_bar, 255, 0, steps) * u_q[0] / 4
    y_q = (s_y, int(rng.integers(-10, 10)))
    with_m0 = seed % 2 == 1
    g = lmu_graph((steps, *chans), u_q, a, b, y_q, fa, fm, m0=with_m0)
    u = rng.integers(-128, 128, (steps, *chans)).astype(np.int8)
    feeds = [u]
    m0 = None
    if with_m0:
        m0 = rng.integers(-(1 << (fm + 6)), 1 << (fm + 6), (*chans, d)).astype(np.int32)
        feeds.append(m0)
    y, m_last = run_and_round_trip(g, feeds)
    assert y.dtype == np.int8 and y.shape == (steps, *chans, d) and m_last.shape == (*chans, d)
    states, ys = python_loop(u, a, b, m0, u_q[1], fa, fm, u_q[0], y_q)
    np.testing.assert_array_equal(y.astype(np.int64), ys)
    np.testing.assert_array_equal(m_last.astype(np.int64), states[-1])
    # the exact recurrence with the fixed-point constants, in state units: the integer state differs by e_t with
    # e_t = A_hat e_{t-1} + r_t, |r_t| <= 1/2, so |e_t| <= 1/2 sum_{k<=t} |A_hat^k| 1 (small: A_hat is stable)
    a_hat, b_hat = a.astype(np.float64) * 2.0**-fa, b.astype(np.float64) * 2.0**-fm
    assert np.abs(a_hat - a_bar).max() <= 2.0 ** -(fa + 1) and np.abs(b_hat - b_bar).max() <= 2.0 ** -(fm + 1)
    powers = [np.eye(d)]
    for _ in range(steps):
        powers.append(powers[-1] @ a_hat)
    abs_powers = [np.abs(p) for p in powers]
    m_hat = np.zeros((*chans, d)) if m0 is None else m0.astype(np.float64)
    for t in range(steps):
        m_hat = m_hat @ a_hat.T + b.astype(np.float64) * (u[t].astype(np.float64) - u_q[1])[..., None]
        rounding = 0.5 * sum(abs_powers[k] for k in range(t + 1)).sum(axis=1)
        assert np.all(np.abs(states[t] - m_hat) <= rounding + 1e-6)
    assert rounding.max() < 100  # not vacuous
    # the model's float64 LMU (sequential form) in real units: the same rounding bound plus the propagated error of
    # the constants, c_t = sum_s |A_hat^(t-s)| (|A_bar - A_hat| |m_{s-1}| + |B_bar - B_hat| |u_s|)
    mem = LMUMemory(1, d, theta)
    s_m = float(np.float32(u_q[0])) * 2.0**-fm
    ur = torch.from_numpy(float(np.float32(u_q[0])) * (u.astype(np.float64) - u_q[1])).reshape(steps, -1)
    mf = None if m0 is None else torch.from_numpy(m0.astype(np.float64) * s_m).reshape(1, -1, d)
    sources = []
    for t in range(steps):
        prev = np.zeros(d) if mf is None else mf[0].abs().max(dim=0).values.numpy()
        sources.append(np.abs(a_bar - a_hat) @ prev + np.abs(b_bar - b_hat) * float(ur[t].abs().max()))
        mf = mem.step(ur[t].reshape(1, -1), mf)
        const = sum(abs_powers[t - k] @ sources[k] for k in range(t + 1))
        rounding = 0.5 * sum(abs_powers[k] for k in range(t + 1)).sum(axis=1)
        got = states[t].reshape(-1, d) * s_m
        assert np.all(np.abs(got - mf[0].numpy()) <= rounding * s_m + const + 1e-9)
    if fm >= 12:
        assert const.max() < 0.05 * float(mf.abs().max())  # not vacuous


@pytest.mark.parametrize("chunks", [(1,) * 12, (5, 7), (2, 3, 7), (12,)])
def test_lmu_streaming_in_chunks_equals_whole_sequence(chunks):
    rng = np.random.default_rng(len(chunks))
    a, b = lmu_constants(*legendre_zoh(8, 12.0))
    u = rng.integers(-128, 128, (12, 4)).astype(np.int8)
    u_q, y_q = (0.03, 2), (0.01, 0)
    y_all, m_all = run_and_round_trip(lmu_graph((12, 4), u_q, a, b, y_q), [u])
    m = np.zeros((4, 8), np.int32)
    parts, t = [], 0
    for n in chunks:
        y, m = run_and_round_trip(lmu_graph((n, 4), u_q, a, b, y_q, m0=True), [u[t:t + n], m])
        parts.append(y)
        t += n
    np.testing.assert_array_equal(np.concatenate(parts), y_all)
    np.testing.assert_array_equal(m, m_all)
    assert np.abs(y_all.astype(int)).max() > 20  # the states are not trivially zero


def test_lmu_saturates_instead_of_wrapping():
    a = np.array([[1 << 30]], np.int32)  # A = 2 in Q30: the state doubles every step
    b = np.array([1 << 16], np.int32)
    g = lmu_graph((40,), (1.0, 0), a, b, (1e6, 0), a_frac_bits=29, state_frac_bits=16)
    y, m = run_and_round_trip(g, [np.full(40, 100, np.int8)])
    assert m[0] == 2**31 - 1


def test_lmu_constants_and_errors():
    a, b = lmu_constants(np.array([[0.5, -0.25], [1.0, 0.0]]), np.array([0.75, -1.0]), 4, 2)
    np.testing.assert_array_equal(a, [[8, -4], [16, 0]])
    np.testing.assert_array_equal(b, [3, -4])
    with pytest.raises(EdgefmrError, match="A_bar does not fit int32"):
        lmu_constants(np.array([[4.0]]), np.array([1.0]), 30, 2)
    g = lmu_graph((6, 3), (0.02, 0), a, b, (0.05, 0), 4, 2)
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 18 * (4 + 2)
    assert c.opdef.op_counts(c) == {"mults": 18 * 6, "adds": 18 * 4, "requant": 36}
    with pytest.raises(IRError, match=r"A must be \[d, d\] and B \[d\]"):
        lmu_graph((6, 3), (0.02, 0), a[:1], b, (0.05, 0))
    with pytest.raises(IRError, match=r"initial state must be \[3, 2\]"):
        lmu_graph((6, 3), (0.02, 0), a, b, (0.05, 0), m0=True, m0_shape=(3, 3))
    with pytest.raises(IRError, match="below 2\\^32"):
        lmu_graph((6, 3), (0.02, 0), np.full((2, 2), -(2**31), np.int32), b, (0.05, 0))
    with pytest.raises(IRError, match="a_frac_bits must be an integer in 1..30"):
        lmu_graph((6, 3), (0.02, 0), a, b, (0.05, 0), a_frac_bits=0)
    with pytest.raises(IRError, match="state_frac_bits must be an integer in 0..24"):
        lmu_graph((6, 3), (0.02, 0), a, b, (0.05, 0), state_frac_bits=30)
    with pytest.raises(IRError, match="final state .* must be int32"):
        lmu_graph((6, 3), (0.02, 0), a, b, (0.05, 0), m_dtype="int8")
    with pytest.raises(IRError, match="A and B must be int32"):
        lmu_graph((6, 3), (0.02, 0), a.astype(np.int16), b, (0.05, 0))
    with pytest.raises(EdgefmrError, match="without a TFLite builtin: LMU_UPDATE"):
        to_tflite(g)


def test_malformed_graphs_fail_cleanly():
    """Random shapes on any tensor of a valid graph: validation raises IRError or passes, never anything else."""
    g0 = lmu_graph((5, 3), (0.02, 0), *lmu_constants(np.eye(2) * 0.9, np.ones(2)), (0.05, 0), m0=True)
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
