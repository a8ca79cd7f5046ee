import copy
import math

import numpy as np
import pytest

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ops.fixedpoint import quantize_multiplier
from edgefmr.ops.layer_norm import bit_length, isqrt, quantize_affine
from edgefmr.ops.registry import call
from edgefmr.tflite import to_tflite


def ln_graph(shape, x_q, y_q, gamma_q, gamma_scale, beta_q=None, epsilon=1e-5):
    b = GraphBuilder()
    x = b.input("x", shape, scale=x_q[0], zero_point=x_q[1])
    g = b.const("gamma", gamma_q, scale=gamma_scale, zero_point=0)
    bb = b.const("beta", beta_q) if beta_q is not None else None
    b.output(b.op("LAYER_NORM", [x, g, bb], scale=y_q[0], zero_point=y_q[1], epsilon=epsilon))
    return b.build()


def run_and_round_trip(g, feeds):
    out = run(g, feeds)[g.outputs[0]]
    doc, arrays = to_json(g)
    np.testing.assert_array_equal(run(from_json(doc, arrays), feeds)[g.outputs[0]], out)
    return out


def python_int_layer_norm(x, gamma_q, gamma_scale, beta_q, epsilon, s_x, s_y, zp_y):
    """The definition of docs/ops/LAYER_NORM.md, one row at a time in Python integers (math.isqrt)."""
    s_x, s_y = float(np.float32(s_x)), float(np.float32(s_y))
    ch = x.shape[-1]
    gs = np.broadcast_to(np.asarray(gamma_scale, np.float32).astype(np.float64), (ch,))
    e_val = epsilon * ch * ch / (s_x * s_x)
    e_int = int(math.copysign(math.floor(abs(e_val) + 0.5), e_val))
    mults = [quantize_multiplier(float(s) * 2.0**-16 / s_y) for s in gs]
    out = np.empty(x.shape, np.int64)
    for idx in np.ndindex(*x.shape[:-1]):
        row = [int(v) for v in x[idx]]
        s1, s2 = sum(row), sum(v * v for v in row)
        q = ch * s2 - s1 * s1 + e_int
        if q == 0:
            n = [0] * ch
        else:
            k = (62 - q.bit_length()) // 2
            r = math.isqrt(q << (2 * k))
            recip = (1 << 60) // r
            t = 44 - k
            n = [((ch * v - s1) * recip + (1 << (t - 1))) >> t for v in row]
        for i in range(ch):
            m, e = mults[i]
            acc = int(gamma_q[i]) * n[i]
            shift = 31 - e
            y = ((acc * m + (1 << (shift - 1))) >> shift) + zp_y + (int(beta_q[i]) if beta_q is not None else 0)
            out[idx + (i,)] = min(127, max(-128, y))
    return out


def float_layer_norm(x, x_q, gamma, beta, epsilon):
    xr = float(np.float32(x_q[0])) * (x.astype(np.float64) - x_q[1])
    mu = xr.mean(axis=-1, keepdims=True)
    var = ((xr - mu) ** 2).mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return gamma * (xr - mu) / np.sqrt(var + epsilon) + beta


def random_rows(rng, shape):
    """int8 rows of several kinds: uniform, narrow (1-2 LSB spread), constant, one outlier."""
    x = rng.integers(-128, 128, shape)
    flat = x.reshape(-1, shape[-1])
    for r in range(flat.shape[0]):
        kind = r % 4
        base = int(rng.integers(-120, 120))
        if kind == 1:
            flat[r] = base + rng.integers(0, 2, shape[-1])
        elif kind == 2:
            flat[r] = base
        elif kind == 3:
            flat[r] = base + rng.integers(-2, 3, shape[-1])
            flat[r, rng.integers(shape[-1])] = 127 if base < 0 else -128
    return x.astype(np.int8)


@pytest.mark.parametrize("seed", range(16))
def test_layer_norm_exact_and_close_to_float(seed):
    rng = np.random.default_rng(seed)
    ch = [1, 2, 3, 8, 17, 64, 200, 768][seed % 8]
    shape = [(4, ch), (2, 3, ch), (5, ch)][seed % 3]
    x_q = (float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5)))), int(rng.integers(-128, 128)))
    y_q = (float(np.exp(rng.uniform(np.log(0.01), np.log(0.1)))), int(rng.integers(-50, 50)))
    epsilon = [1e-5, 0.0, 1e-12, 1e-2][seed % 4]
    gamma = rng.uniform(0.2, 1.5, ch) * rng.choice([-1, 1], ch)
    beta = rng.uniform(-1.0, 1.0, ch)
    per_channel = seed % 5 != 0
    if per_channel:
        gamma_q, gamma_scale, beta_q = quantize_affine(gamma, beta, y_q[0])
    else:
        gamma_scale = np.float32(np.abs(gamma).max() / 127)
        gamma_q = np.round(gamma / gamma_scale).astype(np.int8)
        beta_q = np.round(beta / np.float32(y_q[0])).astype(np.int32)
    g = ln_graph(shape, x_q, y_q, gamma_q, gamma_scale, beta_q, epsilon)
    x = random_rows(rng, shape)
    y = run_and_round_trip(g, [x])
    assert y.dtype == np.int8 and y.shape == tuple(shape)
    ref = python_int_layer_norm(x, gamma_q, gamma_scale, beta_q, epsilon, x_q[0], y_q[0], y_q[1])
    np.testing.assert_array_equal(y.astype(np.int64), ref)
    # float LayerNorm with the int8-represented gamma and the float beta: within 1 LSB (docs: accuracy)
    gq = gamma_q.astype(np.float64) * np.asarray(gamma_scale, np.float32).astype(np.float64)
    yf = float_layer_norm(x, x_q, gq, beta, epsilon) / float(np.float32(y_q[0])) + y_q[1]
    if epsilon == 0.0:  # constant rows are 0/0 in float; the kernel gives beta
        yf = np.where(np.isnan(yf), beta / float(np.float32(y_q[0])) + y_q[1], yf)
    err = np.abs(y - np.clip(yf, -128, 127))
    assert err.max() <= 1.0 + 1e-6, err.max()


def test_layer_norm_largest_rows_do_not_overflow():
    """C = 16384 with one outlier (|z| = sqrt(C - 1), the largest possible) and full-range rows."""
    rng = np.random.default_rng(1)
    ch = 16384
    x = np.full((3, ch), -128, np.int8)
    x[0, 5] = 127
    x[1] = rng.integers(-128, 128, ch)
    x[2, ::2] = 127
    gamma_q = np.full(ch, -127, np.int8)
    gamma_scale = np.full(ch, 1.0 / 127 / 64, np.float32)
    beta_q = rng.integers(-100, 100, ch).astype(np.int32)
    g = ln_graph(x.shape, (0.02, 3), (1 / 64, 0), gamma_q, gamma_scale, beta_q, 0.0)
    y = run(g, [x])[g.outputs[0]]
    ref = python_int_layer_norm(x, gamma_q, gamma_scale, beta_q, 0.0, 0.02, 1 / 64, 0)
    np.testing.assert_array_equal(y.astype(np.int64), ref)
    assert y[0, 5] == max(-128, -128 + beta_q[5])  # z = sqrt(C-1) ~ 128: -128 output LSBs saturate


def test_layer_norm_no_beta_is_zero_beta():
    rng = np.random.default_rng(3)
    gamma_q, gamma_scale, _ = quantize_affine(rng.uniform(0.5, 1, 16), None, 0.05)
    x = random_rows(rng, (6, 16))
    a = run(ln_graph((6, 16), (0.1, 0), (0.05, 0), gamma_q, gamma_scale), [x])
    b = run(ln_graph((6, 16), (0.1, 0), (0.05, 0), gamma_q, gamma_scale, np.zeros(16, np.int32)), [x])
    np.testing.assert_array_equal(list(a.values())[0], list(b.values())[0])


def test_isqrt_exact():
    n = np.arange(1 << 20, dtype=np.int64)
    np.testing.assert_array_equal(isqrt(n), np.array([math.isqrt(int(v)) for v in n]))
    rng = np.random.default_rng(0)
    big = [int(v) for v in rng.integers(0, 1 << 62, 2000, dtype=np.int64)]
    roots = [math.isqrt(v) for v in big[:500]]
    big += [r * r for r in roots] + [r * r - 1 for r in roots if r] + [(1 << 62) - 1, (1 << 60), (1 << 60) - 1]
    np.testing.assert_array_equal(isqrt(np.array(big, np.int64)), [math.isqrt(v) for v in big])


def test_bit_length():
    vals = [0, 1, 2, 3, 4, 255, 256, (1 << 40) - 1, 1 << 40, (1 << 62) - 1, (1 << 62), (1 << 63) - 1]
    np.testing.assert_array_equal(bit_length(np.array(vals, np.int64)), [v.bit_length() for v in vals])


def test_quantize_affine():
    gamma = np.array([0.5, -2.0, 0.0, 1e-3])
    gq, gs, bq = quantize_affine(gamma, np.array([0.1, -0.26, 3.0, 0.0]), 0.1)
    np.testing.assert_array_equal(gq, [127, -127, 0, 127])
    assert np.allclose(gq * gs.astype(np.float64), gamma, rtol=1e-6)
    np.testing.assert_array_equal(bq, [1, -3, 30, 0])


def test_layer_norm_counts_and_shape():
    gq, gs, bq = quantize_affine(np.ones(32), np.zeros(32), 0.05)
    g = ln_graph((7, 32), (0.1, 0), (0.05, 0), gq, gs, bq)
    c = call(g.nodes[0], g)
    assert g.tensors[g.outputs[0]].shape == (7, 32)
    assert c.opdef.macs(c) == 4 * 7 * 32
    assert c.opdef.op_counts(c) == {"mults": 4 * 224 + 14, "adds": 4 * 224, "divs": 7, "sqrts": 7, "requant": 224}


def test_layer_norm_errors():
    gq, gs, bq = quantize_affine(np.ones(8), np.zeros(8), 0.05)
    with pytest.raises(IRError, match=r"gamma \(input 1\) must be int8\[8\]"):
        ln_graph((2, 8), (0.1, 0), (0.05, 0), gq[:4], gs[:4], bq[:4])
    with pytest.raises(IRError, match=r"beta \(input 2\) must be int32\[8\]"):
        ln_graph((2, 8), (0.1, 0), (0.05, 0), gq, gs, bq.astype(np.int16))
    with pytest.raises(IRError, match="symmetrically"):
        b = GraphBuilder()
        x = b.input("x", (2, 8), scale=0.1)
        b.op("LAYER_NORM", [x, b.const("g", gq, scale=gs, zero_point=3)], scale=0.05)
    with pytest.raises(IRError, match="1..16384"):
        g2, s2, _ = quantize_affine(np.ones(16385), None, 0.05)
        ln_graph((1, 16385), (0.1, 0), (0.05, 0), g2, s2)
    with pytest.raises(IRError, match="epsilon must be"):
        ln_graph((2, 8), (0.1, 0), (0.05, 0), gq, gs, bq, epsilon=-1.0)
    with pytest.raises(IRError, match="too large"):
        ln_graph((2, 8), (1e-6, 0), (0.05, 0), gq, gs, bq, epsilon=1e6)
    with pytest.raises(IRError, match="below 2\\^16"):
        ln_graph((2, 8), (0.1, 0), (1e-7, 0), gq, gs, bq)
    with pytest.raises(IRError, match="below 2\\^29"):
        ln_graph((2, 8), (0.1, 0), (0.05, 0), gq, gs, np.full(8, 1 << 29, np.int32))
    with pytest.raises(IRError, match="input must be int8"):
        b = GraphBuilder()
        x = b.input("x", (2, 8), dtype="int16", scale=0.1)
        b.op("LAYER_NORM", [x, b.const("g", gq, scale=gs, zero_point=0)], scale=0.05)
    with pytest.raises(EdgefmrError, match="without a TFLite builtin: LAYER_NORM"):
        to_tflite(ln_graph((2, 8), (0.1, 0), (0.05, 0), gq, gs, bq))


def test_malformed_graphs_fail_cleanly():
    """Random shapes on any tensor of a valid graph: validation raises IRError or passes, never anything else."""
    g0 = ln_graph((2, 8), (0.1, 0), (0.05, 0), *quantize_affine(np.ones(8), np.zeros(8), 0.05))
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
