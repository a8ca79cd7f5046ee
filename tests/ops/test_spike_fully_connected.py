import copy

import numpy as np
import pytest

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, Node, Quant, Tensor, run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ops.fixedpoint import quantize_multiplier
from edgefmr.ops.registry import call
from edgefmr.ops.spike_fully_connected import spike_adds
from edgefmr.tflite import to_tflite

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def sfc_graph(s_shape, w, w_scale, bias, y_q, s_dtype="int8", amp=None, activation="NONE", fc_too=False):
    """SPIKE_FULLY_CONNECTED; with fc_too, also FULLY_CONNECTED reading the spikes as int8 at scale amp (or 1)."""
    b = GraphBuilder()
    s = b.input("s", s_shape, dtype=s_dtype, scale=amp, zero_point=0)
    wt = b.const("w", w, scale=w_scale, zero_point=0)
    a = 1.0 if amp is None else amp
    bb = b.const("b", bias, scale=np.float32(a) * np.asarray(w_scale, np.float32)) if bias is not None else None
    b.output(b.op("SPIKE_FULLY_CONNECTED", [s, wt, bb], scale=y_q[0], zero_point=y_q[1], activation=activation))
    if fc_too:
        x = b.input("x", s_shape, scale=a, zero_point=0)
        b.output(b.op("FULLY_CONNECTED", [x, wt, bb], scale=y_q[0], zero_point=y_q[1], activation=activation,
                      keep_num_dims=True))
    return b.build()


def run_and_round_trip(g, feeds):
    out = run(g, feeds)
    doc, arrays = to_json(g)
    again = run(from_json(doc, arrays), feeds)
    for k in g.outputs:
        np.testing.assert_array_equal(again[k], out[k])
    return [out[k] for k in g.outputs]


def accumulate_loop(s, w, w_scale, bias, amp, y_q):
    """For each spike add the weight column (Python ints), then the single-rounding requantization."""
    scales = np.broadcast_to(np.asarray(w_scale, np.float32), (w.shape[0],))
    rows = s.reshape(-1, s.shape[-1])
    out = np.empty((rows.shape[0], w.shape[0]), np.int64)
    for r, row in enumerate(rows):
        acc = [0] * w.shape[0] if bias is None else [int(v) for v in bias]
        for i, spike in enumerate(row):
            if spike:
                acc = [a + int(w[o, i]) for o, a in enumerate(acc)]
        for o in range(w.shape[0]):
            m, e = quantize_multiplier(float(np.float32(amp)) * float(scales[o]) / float(np.float32(y_q[0])))
            out[r, o] = min(127, max(-128, ((acc[o] * m + (1 << (30 - e))) >> (31 - e)) + y_q[1]))
    return out.reshape(*s.shape[:-1], w.shape[0])


@pytest.mark.parametrize("seed", range(12))
def test_spike_fc_equals_fc_on_spikes_and_accumulation(seed):
    rng = np.random.default_rng(seed)
    n_in, n_out = [(1, 1), (16, 8), (33, 5), (64, 64)][seed % 4]
    s_shape = [(4, n_in), (2, 3, n_in), (n_in,)][seed % 3]
    w = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    w_scale = rng.uniform(0.001, 0.02, n_out).astype(np.float32) if seed % 2 else np.float32(0.01)
    bias = rng.integers(-2000, 2000, n_out).astype(np.int32) if seed % 4 != 1 else None
    amp = None if seed % 3 else 1.0
    y_q = (float(rng.uniform(0.02, 0.3)), int(rng.integers(-100, 100)))
    act = ACTS[seed % 4]
    dt = ["int8", "uint8"][seed % 2]
    g = sfc_graph(s_shape, w, w_scale, bias, y_q, dt, amp, act, fc_too=True)
    rate = [0.05, 0.3, 0.7][seed % 3]
    s = (rng.random(s_shape) < rate).astype(dt)
    y, y_fc = run_and_round_trip(g, [s, s.astype(np.int8)])
    assert y.dtype == np.int8 and y.shape == (*s_shape[:-1], n_out)
    np.testing.assert_array_equal(y, y_fc)
    if act == "NONE":
        np.testing.assert_array_equal(y.astype(np.int64), accumulate_loop(s, w, w_scale, bias, 1.0, y_q))
    c = call(g.nodes[0], g)
    assert spike_adds(c, s) == int(s.sum()) * n_out + (0 if bias is None else (s.size // n_in) * n_out)


def test_any_nonzero_value_is_a_spike_and_amplitude_scales():
    rng = np.random.default_rng(5)
    w = rng.integers(-127, 128, (3, 10)).astype(np.int8)
    s01 = (rng.random((4, 10)) < 0.5).astype(np.uint8)
    g = sfc_graph((4, 10), w, np.float32(0.01), None, (0.05, 0), s_dtype="uint8")
    y01 = run_and_round_trip(g, [s01])[0]
    np.testing.assert_array_equal(run_and_round_trip(g, [s01 * 200])[0], y01)
    g2 = sfc_graph((4, 10), w, np.float32(0.01), None, (0.1, 0), s_dtype="uint8", amp=2.0)  # spikes worth 2
    np.testing.assert_array_equal(run_and_round_trip(g2, [s01])[0], y01)


def test_lif_to_spike_fc_chain():
    """LIF spikes feed the layer directly: the result equals accumulating W over the spikes of each step."""
    rng = np.random.default_rng(2)
    b = GraphBuilder()
    x = b.input("x", (8, 16), scale=0.02, zero_point=0)
    b.g.tensors["s"] = Tensor("s", (8, 16), "int8", Quant([1.0], [0]))
    b.g.tensors["v"] = Tensor("v", (16,), "int32")
    b.g.nodes.append(Node("LIF", [x], ["s", "v"], {}, "lif"))
    w = rng.integers(-127, 128, (4, 16)).astype(np.int8)
    y = b.op("SPIKE_FULLY_CONNECTED", ["s", b.const("w", w, scale=0.01, zero_point=0)], scale=0.05)
    b.output(y, "s")
    g = b.build()
    out, spikes = run_and_round_trip(g, [rng.integers(-20, 128, (8, 16)).astype(np.int8)])
    assert 0 < spikes.mean() < 1
    np.testing.assert_array_equal(out.astype(np.int64), accumulate_loop(spikes, w, 0.01, None, 1.0, (0.05, 0)))


def test_spike_fc_counts_and_errors():
    w = np.ones((3, 5), np.int8)
    g = sfc_graph((6, 5), w, np.float32(0.01), np.zeros(3, np.int32), (0.1, 0))
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 90
    assert c.opdef.op_counts(c) == {"mults": 0, "adds": 6 * 3 * 6, "requant": 18}
    with pytest.raises(IRError, match="do not match weights"):
        sfc_graph((6, 4), w, np.float32(0.01), None, (0.1, 0))
    with pytest.raises(IRError, match="spikes .* must be int8 or uint8"):
        sfc_graph((6, 5), w, np.float32(0.01), None, (0.1, 0), s_dtype="int16")
    with pytest.raises(IRError, match="zero point 0"):
        b = GraphBuilder()
        s = b.input("s", (6, 5), scale=1.0, zero_point=1)
        b.op("SPIKE_FULLY_CONNECTED", [s, b.const("w", w, scale=0.01, zero_point=0)], scale=0.1)
    with pytest.raises(IRError, match="symmetric"):
        b = GraphBuilder()
        s = b.input("s", (6, 5))
        b.op("SPIKE_FULLY_CONNECTED", [s, b.const("w", w, scale=0.01, zero_point=2)], scale=0.1)
    with pytest.raises(IRError, match="weights must be int8"):
        sfc_graph((6, 5), w.astype(np.int16), np.float32(0.01), None, (0.1, 0))
    with pytest.raises(IRError, match=r"bias must be int32\[3\]"):
        sfc_graph((6, 5), w, np.float32(0.01), np.zeros(4, np.int32), (0.1, 0))
    with pytest.raises(EdgefmrError, match="without a TFLite builtin: SPIKE_FULLY_CONNECTED"):
        to_tflite(g)


def test_malformed_graphs_fail_cleanly():
    """Random shapes on any tensor of a valid graph: validation raises IRError or passes, never anything else."""
    g0 = sfc_graph((3, 5), np.ones((2, 5), np.int8), np.float32(0.01), np.zeros(2, np.int32), (0.1, 0))
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
