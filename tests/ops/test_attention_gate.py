import copy
import math

import numpy as np
import pytest

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ops.attention_gate import gate_table
from edgefmr.ops.fixedpoint import quantize_multiplier
from edgefmr.ops.registry import call
from edgefmr.tflite import to_tflite


def gate_graph(shape, a_q, g_q, y_q, g_shape=None):
    b = GraphBuilder()
    a = b.input("attn", shape, scale=a_q[0], zero_point=a_q[1])
    g = b.input("g", shape[:-1] if g_shape is None else g_shape, scale=g_q[0], zero_point=g_q[1])
    b.output(b.op("ATTENTION_GATE", [a, g], scale=y_q[0], zero_point=y_q[1]))
    return b.build()


def run_and_round_trip(g, feeds):
    out = run(g, feeds)[g.outputs[0]]
    doc, arrays = to_json(g)
    np.testing.assert_array_equal(run(from_json(doc, arrays), feeds)[g.outputs[0]], out)
    return out


def python_int_gate(attn, gate, a_q, g_q, y_q):
    """The definition, element by element in Python integers (the sigmoid evaluated per element, no table)."""
    s_g = float(np.float32(g_q[0]))
    m, e = quantize_multiplier(float(np.float32(a_q[0])) * 2.0**-15 / float(np.float32(y_q[0])))
    out = np.empty(attn.shape, np.int64)
    for idx in np.ndindex(*attn.shape):
        x = s_g * (int(gate[idx[:-1]]) - g_q[1])
        sig = math.floor(32768 / (1 + math.exp(-x)) + 0.5)
        acc = (int(attn[idx]) - a_q[1]) * sig
        out[idx] = min(127, max(-128, ((acc * m + (1 << (30 - e))) >> (31 - e)) + y_q[1]))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_attention_gate_exact_and_float(seed):
    rng = np.random.default_rng(seed)
    shape = [(5, 4, 16), (17, 2, 8), (3, 1), (2, 3, 4, 5)][seed % 4]
    a_q = (float(np.exp(rng.uniform(np.log(0.005), np.log(0.2)))), int(rng.integers(-128, 128)))
    g_q = (float(np.exp(rng.uniform(np.log(0.01), np.log(0.3)))), int(rng.integers(-128, 128)))
    y_q = (a_q[0] * float(rng.uniform(0.3, 1.5)), int(rng.integers(-128, 128)))
    g = gate_graph(shape, a_q, g_q, y_q)
    attn = rng.integers(-128, 128, shape).astype(np.int8)
    gate = rng.integers(-128, 128, shape[:-1]).astype(np.int8)
    y = run_and_round_trip(g, [attn, gate])
    assert y.dtype == np.int8 and y.shape == shape
    np.testing.assert_array_equal(y.astype(np.int64), python_int_gate(attn, gate, a_q, g_q, y_q))
    s = [float(np.float32(v)) for v in (a_q[0], g_q[0], y_q[0])]
    sig = 1 / (1 + np.exp(-s[1] * (gate.astype(np.float64) - g_q[1])))
    yf = sig[..., None] * s[0] * (attn.astype(np.float64) - a_q[1]) / s[2] + y_q[1]
    bound = 0.5 + 255 * 2.0**-16 * s[0] / s[2] + 1e-9
    assert np.abs(y - np.clip(yf, -128, 127)).max() <= bound


def test_gate_table_is_the_quantized_sigmoid_at_every_input():
    for s, zp in ((0.05, 0), (0.2, -30), (0.01, 100), (1.0, 5)):
        t = gate_table(s, zp)
        assert t.shape == (256,) and t.min() >= 0 and t.max() <= 32768 and np.all(np.diff(t) >= 0)
        sf = float(np.float32(s))
        for q in range(-128, 128):
            v = 32768 / (1 + math.exp(-sf * (q - zp)))
            assert abs(t[q + 128] - v) <= 0.5 + 1e-9
    assert gate_table(0.05, 0)[128] == 16384  # sigmoid(0) = 1/2


def test_gate_zero_and_one():
    """A large positive gate passes attn (requantized), a large negative one gives the output zero point."""
    g = gate_graph((2, 8), (0.05, 3), (1.0, 0), (0.05, 3))
    attn = np.arange(-128, 128, 16).astype(np.int8).reshape(2, 8)
    y = run_and_round_trip(g, [attn, np.array([127, -128], np.int8)])
    np.testing.assert_array_equal(y[0], attn[0])
    np.testing.assert_array_equal(y[1], np.full(8, 3))


def test_attention_gate_counts_and_errors():
    g = gate_graph((6, 4, 8), (0.05, 0), (0.1, 0), (0.05, 0))
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 192
    assert c.opdef.op_counts(c) == {"mults": 192, "adds": 0, "exps": 24, "requant": 192}
    with pytest.raises(IRError, match=r"without its last axis: \[6, 4\], got \[6, 4, 1\]"):
        gate_graph((6, 4, 8), (0.05, 0), (0.1, 0), (0.05, 0), g_shape=(6, 4, 1))
    with pytest.raises(IRError, match="gate input must be int8"):
        b = GraphBuilder()
        a = b.input("a", (2, 3), scale=0.1)
        b.op("ATTENTION_GATE", [a, b.input("g", (2,), dtype="int16", scale=0.1)], scale=0.1)
    with pytest.raises(IRError, match="output needs per-tensor quantization"):
        b = GraphBuilder()
        b.op("ATTENTION_GATE", [b.input("a", (2, 3), scale=0.1), b.input("g", (2,), scale=0.1)])
    with pytest.raises(EdgefmrError, match="without a TFLite builtin: ATTENTION_GATE"):
        to_tflite(g)


def test_malformed_graphs_fail_cleanly():
    """Random shapes on any tensor of a valid graph: validation raises IRError or passes, never anything else."""
    g0 = gate_graph((3, 2, 4), (0.05, 0), (0.1, 0), (0.05, 0))
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
