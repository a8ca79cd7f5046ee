import copy
import math

import numpy as np
import pytest

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, Node, Quant, Tensor, run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ops.fixedpoint import quantize_multiplier
from edgefmr.ops.registry import call
from edgefmr.tflite import to_tflite


def lif_graph(shape, x_q, tau=2.0, threshold=1.0, membrane_bits=12, v0=False, x_dtype="int8", s_dtype="int8",
              s_quant=(1.0, 0), v_dtype="int32", v0_dtype="int32", v0_shape=None):
    """x -> LIF -> (spikes, final membrane); GraphBuilder makes one-output nodes, so the node is added here."""
    b = GraphBuilder()
    x = b.input("x", shape, dtype=x_dtype, scale=x_q[0], zero_point=x_q[1])
    inputs = [x]
    if v0:
        inputs.append(b.input("v0", shape[1:] if v0_shape is None else v0_shape, dtype=v0_dtype))
    g = b.g
    g.tensors["s"] = Tensor("s", (), s_dtype, Quant([s_quant[0]], [s_quant[1]]) if s_quant else None)
    g.tensors["v"] = Tensor("v", (), v_dtype)
    node = Node("LIF", inputs, ["s", "v"], {"tau": tau, "threshold": threshold, "membrane_bits": membrane_bits},
                "lif")
    c = call(node, g)
    for name, shp in zip(node.outputs, c.opdef.infer(c), strict=True):
        g.tensors[name].shape = tuple(shp)
    c.opdef.check(c)
    g.nodes.append(node)
    b.output("s", "v")
    return b.build()


def run_and_round_trip(g, feeds):
    out = run(g, feeds)
    doc, arrays = to_json(g)
    again = run(from_json(doc, arrays), feeds)
    for k in g.outputs:
        np.testing.assert_array_equal(again[k], out[k])
    return [out[k] for k in g.outputs]


def python_loop(x, v0, x_q, tau, threshold, bits):
    """The definition, one neuron and one step at a time, in Python integers."""
    d = math.floor((1 - 1 / tau) * 32768 + 0.5)
    m, e = quantize_multiplier(float(np.float32(x_q[0])) * 2**bits / (tau * threshold))
    spikes = np.zeros(x.shape, np.int64)
    vs = np.zeros(x.shape[1:], np.int64)
    hs = np.zeros(x.shape, np.int64)
    for idx in np.ndindex(*x.shape[1:]):
        v = int(v0[idx]) if v0 is not None else 0
        for t in range(x.shape[0]):
            i = ((int(x[(t, *idx)]) - x_q[1]) * m + (1 << (30 - e))) >> (31 - e)
            h = min(2**31 - 1, max(-(2**31), ((v * d + (1 << 14)) >> 15) + i))
            hs[(t, *idx)] = h
            spikes[(t, *idx)] = int(h >= 1 << bits)
            v = 0 if h >= 1 << bits else h
        vs[idx] = v
    return spikes, vs, hs


CASES = [  # (tau, threshold, membrane_bits, x dtype)
    (2.0, 1.0, 12, "int8"), (1.0, 1.0, 8, "int8"), (4 / 3, 0.5, 16, "int8"), (3.7, 2.0, 12, "int16"),
    (2.0, 0.25, 0, "int8"), (10.0, 1.0, 20, "int16"),
]


@pytest.mark.parametrize("seed", range(12))
def test_lif_equals_python_loop_and_float_lif(seed):
    rng = np.random.default_rng(seed)
    tau, th, bits, dt = CASES[seed % len(CASES)]
    shape = [(6, 5), (4, 2, 3), (1, 7), (16, 2, 2, 2)][seed % 4]
    info = np.iinfo(dt)
    x_q = (th * float(rng.uniform(2.0, 4.0)) / info.max, int(rng.integers(-20, 20)))  # inputs up to 2-4 V_th
    with_v0 = seed % 2 == 1
    g = lif_graph(shape, x_q, tau, th, bits, v0=with_v0, x_dtype=dt, s_dtype=["int8", "uint8"][seed % 2])
    x = rng.integers(info.min // 2, info.max, shape).astype(dt)  # positive bias: the neurons fire
    feeds = [x]
    v0 = None
    if with_v0:
        v0 = rng.integers(-(1 << bits), 1 << bits, shape[1:]).astype(np.int32)
        feeds.append(v0)
    s, v = run_and_round_trip(g, feeds)
    assert s.dtype == np.dtype(["int8", "uint8"][seed % 2]) and s.shape == shape and v.shape == shape[1:]
    ref_s, ref_v, ref_h = python_loop(x, v0, x_q, tau, th, bits)
    np.testing.assert_array_equal(s.astype(np.int64), ref_s)
    np.testing.assert_array_equal(v.astype(np.int64), ref_v)
    # float LIF (nas.lif dynamics) on the dequantized input, forced to the integer spikes: the membranes stay close,
    # and the spike decisions agree wherever the float membrane is clear of the threshold
    unit = th / 2**bits
    xr = float(np.float32(x_q[0])) * (x.astype(np.float64) - x_q[1])
    vf = np.zeros(shape[1:]) if v0 is None else v0 * unit
    delta_d = abs(math.floor((1 - 1 / tau) * 32768 + 0.5) / 32768 - (1 - 1 / tau))  # Q15 leak error
    bound = (tau * (1 + np.abs(ref_h).max() * delta_d) + 0.5) * unit
    for t in range(shape[0]):
        hf = vf + (xr[t] - vf) / tau
        assert np.abs(ref_h[t] * unit - hf).max() <= bound
        clear = np.abs(hf - th) > bound
        np.testing.assert_array_equal(s[t][clear], (hf >= th)[clear])
        vf = np.where(s[t] == 1, 0.0, hf)
    if shape[0] > 1:
        assert 0 < s.mean() < 1  # the case is exercised: some spikes, some silence


@pytest.mark.parametrize("chunks", [(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), (5, 7), (3, 4, 5), (12,)])
def test_lif_streaming_in_chunks_equals_whole_sequence(chunks):
    rng = np.random.default_rng(sum(chunks) + len(chunks))
    x = rng.integers(-60, 128, (12, 3, 4)).astype(np.int8)
    whole = lif_graph((12, 3, 4), (0.02, 0), 2.0, 1.0, 12)
    s_all, v_all = run_and_round_trip(whole, [x])
    v = np.zeros((3, 4), np.int32)
    parts, t = [], 0
    for n in chunks:
        g = lif_graph((n, 3, 4), (0.02, 0), 2.0, 1.0, 12, v0=True)
        s, v = run_and_round_trip(g, [x[t:t + n], v])
        parts.append(s)
        t += n
    np.testing.assert_array_equal(np.concatenate(parts), s_all)
    np.testing.assert_array_equal(v, v_all)
    assert 0 < s_all.mean() < 1


def test_lif_constant_input_fires_periodically():
    """tau = 2, input 1.5 V_th: H = V/2 + 0.75 -> 0.75, 1.125 (spike), 0.75, 1.125, ..."""
    g = lif_graph((6, 1), (1.5 / 100, 0), 2.0, 1.0, 12)
    s, v = run_and_round_trip(g, [np.full((6, 1), 100, np.int8)])
    np.testing.assert_array_equal(s[:, 0], [0, 1, 0, 1, 0, 1])
    assert v[0] == 0
    s, v = run_and_round_trip(g, [np.full((6, 1), 60, np.int8)])  # 0.9 V_th: H -> 0.9, never fires
    assert s.sum() == 0 and abs(v[0] - 0.9 * (1 - 2**-6) * 4096) <= 2


def test_lif_counts_and_errors():
    g = lif_graph((4, 10), (0.02, 0))
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 40 and c.opdef.op_counts(c) == {"mults": 40, "adds": 40, "requant": 40}
    with pytest.raises(IRError, match="tau must be >= 1"):
        lif_graph((4, 10), (0.02, 0), tau=0.5)
    with pytest.raises(IRError, match="threshold must be > 0"):
        lif_graph((4, 10), (0.02, 0), threshold=0.0)
    with pytest.raises(IRError, match="membrane_bits must be an integer in 0..24"):
        lif_graph((4, 10), (0.02, 0), membrane_bits=25)
    with pytest.raises(IRError, match="below 2\\^20"):
        lif_graph((4, 10), (100.0, 0), membrane_bits=24)
    with pytest.raises(IRError, match=r"initial membrane must be \[10\]"):
        lif_graph((4, 10), (0.02, 0), v0=True, v0_shape=(4, 10))
    with pytest.raises(IRError, match="initial membrane .* must be int32"):
        lif_graph((4, 10), (0.02, 0), v0=True, v0_dtype="int16")
    with pytest.raises(IRError, match="spikes .* int8 or uint8"):
        lif_graph((4, 10), (0.02, 0), s_dtype="int16")
    with pytest.raises(IRError, match="zero point 0"):
        lif_graph((4, 10), (0.02, 0), s_quant=(1.0, 3))
    with pytest.raises(IRError, match="final membrane .* must be int32"):
        lif_graph((4, 10), (0.02, 0), v_dtype="int8")
    with pytest.raises(IRError, match="input must be int8 or int16"):
        lif_graph((4, 10), (0.02, 0), x_dtype="int32")
    with pytest.raises(EdgefmrError, match="without a TFLite builtin: LIF"):
        to_tflite(g)


def test_malformed_graphs_fail_cleanly():
    """Random shapes on any tensor of a valid graph: validation raises IRError or passes, never anything else."""
    g0 = lif_graph((4, 3), (0.02, 0), v0=True)
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
