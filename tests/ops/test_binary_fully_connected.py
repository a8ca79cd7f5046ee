import copy

import numpy as np
import pytest

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ops.binary_fully_connected import binarize_weights, pack_bits, unpack_bits
from edgefmr.ops.fixedpoint import quantize_multiplier
from edgefmr.ops.registry import call
from edgefmr.tflite import to_tflite

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def bfc_graph(x_shape, x_q, signs, alpha, bias, y_q, activation="NONE", fc_too=False, packed=None):
    """BINARY_FULLY_CONNECTED of +-1 `signs` [out, in]; with fc_too, also FULLY_CONNECTED with int8 +-1 weights."""
    b = GraphBuilder()
    x = b.input("x", x_shape, scale=x_q[0], zero_point=x_q[1])
    w = b.const("w", pack_bits(signs > 0) if packed is None else packed, scale=alpha, zero_point=0)
    bscale = np.float32(x_q[0]) * np.asarray(alpha, np.float32)
    bb = b.const("b", bias, scale=bscale, zero_point=0) if bias is not None else None
    b.output(b.op("BINARY_FULLY_CONNECTED", [x, w, bb], scale=y_q[0], zero_point=y_q[1], activation=activation))
    if fc_too:
        wf = b.const("w_int8", signs.astype(np.int8), scale=alpha, zero_point=0)
        b.output(b.op("FULLY_CONNECTED", [x, wf, bb], scale=y_q[0], zero_point=y_q[1], activation=activation,
                      keep_num_dims=True))
    return b.build()


def run_and_round_trip(g, feeds):
    out = run(g, feeds)
    doc, arrays = to_json(g)
    again = run(from_json(doc, arrays), feeds)
    for k in g.outputs:
        np.testing.assert_array_equal(again[k], out[k])
    return [out[k] for k in g.outputs]


def additions_only(x, signs, bias, x_q, alpha, y_q):
    """Per output: add or subtract each centered input (Python ints), then the single-rounding requantization."""
    s_x, s_y = float(np.float32(x_q[0])), float(np.float32(y_q[0]))
    alpha = np.broadcast_to(np.asarray(alpha, np.float32), (signs.shape[0],))
    rows = x.reshape(-1, x.shape[-1])
    out = np.empty((rows.shape[0], signs.shape[0]), np.int64)
    for r, row in enumerate(rows):
        for o in range(signs.shape[0]):
            acc = 0 if bias is None else int(bias[o])
            for i, v in enumerate(row):
                acc = acc + (int(v) - x_q[1]) if signs[o, i] > 0 else acc - (int(v) - x_q[1])
            m, e = quantize_multiplier(s_x * float(alpha[o]) / s_y)
            out[r, o] = min(127, max(-128, ((acc * m + (1 << (30 - e))) >> (31 - e)) + y_q[1]))
    return out.reshape(*x.shape[:-1], signs.shape[0])


@pytest.mark.parametrize("seed", range(12))
def test_binary_fc_equals_fc_with_pm1_weights_and_additions(seed):
    rng = np.random.default_rng(seed)
    n_in, n_out = [(1, 1), (7, 3), (8, 5), (9, 16), (33, 10), (100, 7)][seed % 6]
    x_shape = [(4, n_in), (2, 3, n_in), (n_in,)][seed % 3]
    x_q = (float(np.exp(rng.uniform(np.log(0.005), np.log(0.1)))), int(rng.integers(-128, 128)))
    signs = rng.choice([-1, 1], (n_out, n_in))
    alpha = rng.uniform(0.002, 0.05, n_out).astype(np.float32) if seed % 2 else np.float32(0.01)
    bias = rng.integers(-3000, 3000, n_out).astype(np.int32) if seed % 4 != 3 else None
    y_q = (float(rng.uniform(0.05, 0.5)), int(rng.integers(-100, 100)))
    act = ACTS[seed % 4]
    g = bfc_graph(x_shape, x_q, signs, alpha, bias, y_q, act, fc_too=True)
    x = rng.integers(-128, 128, x_shape).astype(np.int8)
    y, y_fc = run_and_round_trip(g, [x])
    assert y.dtype == np.int8 and y.shape == (*x_shape[:-1], n_out)
    np.testing.assert_array_equal(y, y_fc)
    if act == "NONE":
        np.testing.assert_array_equal(y.astype(np.int64), additions_only(x, signs, bias, x_q, alpha, y_q))
        # the float layer with weights alpha * sign: within half an LSB (+ rounding of the multiplier)
        xr = float(np.float32(x_q[0])) * (x.astype(np.float64) - x_q[1])
        wr = signs * np.broadcast_to(np.asarray(alpha, np.float64), (n_out,))[:, None]
        br = 0 if bias is None else bias * float(np.float32(x_q[0])) * np.asarray(alpha, np.float64)
        yf = (xr @ wr.T + br) / float(np.float32(y_q[0])) + y_q[1]
        assert np.abs(y - np.clip(yf, -128, 127)).max() <= 0.5 + 1e-6


def test_padding_bits_are_ignored():
    rng = np.random.default_rng(0)
    signs = rng.choice([-1, 1], (4, 11))
    x = rng.integers(-128, 128, (3, 11)).astype(np.int8)
    clean = bfc_graph((3, 11), (0.02, 1), signs, np.float32(0.01), None, (0.1, 0))
    dirty_w = pack_bits(signs > 0)
    dirty_w[:, 1] |= 0b11111000  # bits 11..15 do not exist
    dirty = bfc_graph((3, 11), (0.02, 1), signs, np.float32(0.01), None, (0.1, 0), packed=dirty_w)
    np.testing.assert_array_equal(run_and_round_trip(clean, [x])[0], run_and_round_trip(dirty, [x])[0])


def test_pack_unpack_and_binarize():
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, (5, 19))
    packed = pack_bits(bits)
    assert packed.dtype == np.uint8 and packed.shape == (5, 3)
    np.testing.assert_array_equal(unpack_bits(packed, 19), bits)
    assert pack_bits(np.array([1, 0, 0, 0, 0, 0, 0, 0, 1]))[0] == 1  # bit 0 is the least significant
    w = np.array([[0.5, -0.25, 0.0, -1.0], [-0.1, -0.1, -0.1, -0.1]])
    p, alpha = binarize_weights(w)
    np.testing.assert_array_equal(unpack_bits(p, 4), [[1, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_allclose(alpha, [0.4375, 0.1])


def test_binary_fc_counts_and_errors():
    signs = np.array([[1, 1, -1, 1, -1], [-1, -1, -1, -1, -1], [1] * 5])
    g = bfc_graph((6, 5), (0.02, 0), signs, np.float32(0.01), np.zeros(3, np.int32), (0.1, 0))
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 6 * 5 * 3
    assert c.opdef.op_counts(c) == {"mults": 0, "adds": 6 * ((3 + 0 + 5) + 5 + 6), "requant": 18}
    assert g.tensors[g.outputs[0]].shape == (6, 3)
    with pytest.raises(IRError, match=r"needs weights \[out, 1\]"):
        bfc_graph((6, 5), (0.02, 0), signs, np.float32(0.01), None, (0.1, 0), packed=np.zeros((3, 2), np.uint8))
    with pytest.raises(IRError, match="packed sign bits"):
        bfc_graph((6, 5), (0.02, 0), signs, np.float32(0.01), None, (0.1, 0), packed=np.zeros((3, 1), np.int8))
    with pytest.raises(IRError, match="one scale per output channel"):
        b = GraphBuilder()
        x = b.input("x", (6, 9), scale=0.02)
        w = b.const("w", np.zeros((4, 2), np.uint8), scale=[0.1, 0.2], zero_point=0, axis=1)
        b.op("BINARY_FULLY_CONNECTED", [x, w], scale=0.1)
    with pytest.raises(IRError, match=r"bias must be int32\[3\]"):
        bfc_graph((6, 5), (0.02, 0), signs, np.float32(0.01), np.zeros(2, np.int32), (0.1, 0))
    with pytest.raises(IRError, match="zero point 0"):
        b = GraphBuilder()
        x = b.input("x", (6, 5), scale=0.02)
        w = b.const("w", np.zeros((3, 1), np.uint8), scale=0.1, zero_point=4)
        b.op("BINARY_FULLY_CONNECTED", [x, w], scale=0.1)
    with pytest.raises(IRError, match="activation=.*TANH"):
        bfc_graph((6, 5), (0.02, 0), signs, np.float32(0.01), None, (0.1, 0), activation="TANH")
    with pytest.raises(EdgefmrError, match="without a TFLite builtin: BINARY_FULLY_CONNECTED"):
        to_tflite(g)


def test_malformed_graphs_fail_cleanly():
    """Random shapes on any tensor of a valid graph: validation raises IRError or passes, never anything else."""
    g0 = bfc_graph((3, 9), (0.02, 0), np.ones((4, 9)), np.float32(0.01), np.zeros(4, np.int32), (0.1, 0))
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
