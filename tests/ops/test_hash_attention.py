import copy
from fractions import Fraction

import numpy as np
import pytest
import torch

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.nas.models.attention import hash_attention_quadratic
from edgefmr.ops.binary_fully_connected import pack_bits
from edgefmr.ops.fixedpoint import quantize_multiplier
from edgefmr.ops.registry import call
from edgefmr.tflite import to_tflite


def ha_graph(q_shape, k_shape, v_shape, v_q, y_q, bits=0, code_dtype="uint8", code_q=(None, 0)):
    b = GraphBuilder()
    hq = b.input("hq", q_shape, dtype=code_dtype, scale=code_q[0], zero_point=code_q[1])
    hk = b.input("hk", k_shape, dtype=code_dtype, scale=code_q[0], zero_point=code_q[1])
    v = b.input("v", v_shape, scale=v_q[0], zero_point=v_q[1])
    b.output(b.op("HASH_ATTENTION", [hq, hk, v], scale=y_q[0], zero_point=y_q[1], bits=bits))
    return b.build()


def run_and_round_trip(g, feeds):
    out = run(g, feeds)[g.outputs[0]]
    doc, arrays = to_json(g)
    np.testing.assert_array_equal(run(from_json(doc, arrays), feeds)[g.outputs[0]], out)
    return out


def quadratic_python(hq_packed, hk_packed, v, bits, v_q, y_q):
    """XOR + popcount per (query, key) pair on the packed codes (Python ints), num/den exactly, then the
    normalization of the definition; returns (y, exact rational y before rounding and clamping)."""
    mask = (1 << bits) - 1
    m, e = quantize_multiplier(float(np.float32(v_q[0])) * 2.0**-15 / float(np.float32(y_q[0])))
    ratio = Fraction(float(np.float32(v_q[0]))) / Fraction(float(np.float32(y_q[0])))
    batch = hq_packed.shape[:-2]
    nq, d = hq_packed.shape[-2], v.shape[-1]
    y = np.empty((*batch, nq, d), np.int64)
    exact = np.empty((*batch, nq, d), object)
    for bidx in np.ndindex(*batch):
        kcodes = [int.from_bytes(bytes(row), "little") & mask for row in hk_packed[bidx]]
        vals = [[int(t) - v_q[1] for t in row] for row in v[bidx]]
        for i in range(nq):
            qc = int.from_bytes(bytes(hq_packed[bidx + (i,)]), "little") & mask
            s = [bits - bin(qc ^ kc).count("1") for kc in kcodes]
            den = sum(s)
            for ch in range(d):
                num = sum(sj * vals[j][ch] for j, sj in enumerate(s))
                if den == 0:
                    w, exact[bidx + (i, ch)] = 0, Fraction(y_q[1])
                else:
                    ln = den.bit_length()
                    w = (num * ((1 << (29 + ln)) // den) + (1 << (13 + ln))) >> (14 + ln)
                    exact[bidx + (i, ch)] = ratio * Fraction(num, den) + y_q[1]
                y[bidx + (i, ch)] = min(127, max(-128, ((w * m + (1 << (30 - e))) >> (31 - e)) + y_q[1]))
    return y, exact


@pytest.mark.parametrize("seed", range(12))
def test_hash_attention_equals_quadratic_xor_popcount(seed):
    rng = np.random.default_rng(seed)
    bits = [1, 8, 5, 16, 12, 32][seed % 6]
    batch = [(), (4,), (2, 3)][seed % 3]
    nq, nk = [(5, 5), (17, 17), (3, 9), (9, 1)][seed % 4]
    d = int(rng.integers(1, 12))
    v_q = (float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128)))
    y_q = v_q if seed % 2 else (v_q[0] * float(rng.uniform(0.5, 2.0)), int(rng.integers(-50, 50)))
    w = -(-bits // 8)
    g = ha_graph((*batch, nq, w), (*batch, nk, w), (*batch, nk, d), v_q, y_q, bits=bits)
    hq = rng.integers(0, 256, (*batch, nq, w)).astype(np.uint8)
    hk = rng.integers(0, 256, (*batch, nk, w)).astype(np.uint8)
    if seed % 3 == 0:  # correlated codes: keys are noisy copies of the queries
        hk[..., :min(nq, nk), :] = hq[..., :min(nq, nk), :] ^ (rng.random(hq[..., :min(nq, nk), :].shape) < 0.1)
    v = rng.integers(-128, 128, (*batch, nk, d)).astype(np.int8)
    y = run_and_round_trip(g, [hq, hk, v])
    assert y.dtype == np.int8 and y.shape == (*batch, nq, d)
    ref, exact = quadratic_python(hq, hk, v, bits, v_q, y_q)
    np.testing.assert_array_equal(y.astype(np.int64), ref)
    bound = Fraction(1, 2) + Fraction(float(np.float32(v_q[0])) / float(np.float32(y_q[0]))) / 8192
    for yi, ex in zip(y.ravel(), exact.ravel(), strict=True):
        assert abs(int(yi) - min(Fraction(127), max(Fraction(-128), ex))) <= bound


def test_int8_codes_equal_packed_codes():
    rng = np.random.default_rng(7)
    pre_q = rng.integers(-128, 128, (2, 6, 10)).astype(np.int8)
    pre_k = rng.integers(-128, 128, (2, 8, 10)).astype(np.int8)
    pre_k[0, 0] = 5  # exactly the zero point: real 0 counts as +1
    v = rng.integers(-128, 128, (2, 8, 4)).astype(np.int8)
    g8 = ha_graph((2, 6, 10), (2, 8, 10), (2, 8, 4), (0.05, 3), (0.05, 3), code_dtype="int8", code_q=(0.1, 5))
    gp = ha_graph((2, 6, 2), (2, 8, 2), (2, 8, 4), (0.05, 3), (0.05, 3), bits=10)
    y8 = run_and_round_trip(g8, [pre_q, pre_k, v])
    yp = run_and_round_trip(gp, [pack_bits(pre_q >= 5), pack_bits(pre_k >= 5), v])
    np.testing.assert_array_equal(y8, yp)
    g8b = ha_graph((2, 6, 10), (2, 8, 10), (2, 8, 4), (0.05, 3), (0.05, 3), bits=10, code_dtype="int8",
                   code_q=(0.1, 5))
    np.testing.assert_array_equal(run(g8b, [pre_q, pre_k, v])[g8b.outputs[0]], y8)


def test_matches_the_model_hash_attention():
    """edgefmr.nas.models.attention's float hash attention on the same +-1 codes and dequantized values."""
    rng = np.random.default_rng(3)
    heads, n, d, bits = 4, 17, 16, 8
    pre_q = rng.integers(-128, 128, (heads, n, bits)).astype(np.int8)
    pre_k = rng.integers(-128, 128, (heads, n, bits)).astype(np.int8)
    v = rng.integers(-128, 128, (heads, n, d)).astype(np.int8)
    v_q = (0.04, -7)
    g = ha_graph((heads, n, bits), (heads, n, bits), (heads, n, d), v_q, v_q, code_dtype="int8", code_q=(0.1, 0))
    y = run_and_round_trip(g, [pre_q, pre_k, v])
    to_pm1 = lambda a: torch.from_numpy(np.where(a >= 0, 1.0, -1.0))  # noqa: E731
    vr = torch.from_numpy(float(np.float32(v_q[0])) * (v.astype(np.float64) - v_q[1]))
    ref = hash_attention_quadratic(to_pm1(pre_q), to_pm1(pre_k), vr).numpy()
    got = float(np.float32(v_q[0])) * (y.astype(np.float64) - v_q[1])
    assert np.abs(got - ref).max() <= float(np.float32(v_q[0])) * (0.5 + 1 / 8192) + 1e-9


def test_all_similarities_zero_gives_output_zero_point():
    """Every key is the complement of the query: s_ij = 0 for all j, den = 0, output = real 0."""
    hq = np.array([[0b10110010]], np.uint8)
    hk = np.array([[0b01001101]] * 3, np.uint8)
    v = np.array([[10, -20], [30, 40], [-128, 127]], np.int8)
    g = ha_graph((1, 1), (3, 1), (3, 2), (0.1, 2), (0.1, -9), bits=8)
    np.testing.assert_array_equal(run_and_round_trip(g, [hq, hk, v]), [[-9, -9]])
    # with 7 bits only the lowest 7 are compared: still complements
    g7 = ha_graph((1, 1), (3, 1), (3, 2), (0.1, 2), (0.1, -9), bits=7)
    np.testing.assert_array_equal(run_and_round_trip(g7, [hq, hk | 0x80, v]), [[-9, -9]])


def test_hash_attention_counts_zero_qk_mults():
    g = ha_graph((4, 17, 1), (4, 17, 1), (4, 17, 16), (0.05, 0), (0.05, 0), bits=8)
    c = call(g.nodes[0], g)
    counts = c.opdef.op_counts(c)
    assert counts["qk_mults"] == 0 and c.opdef.macs(c) == 0
    n, b, d = 17, 8, 16
    assert counts["adds"] == 4 * (n * b * d + n * d + b * d + n * b + n * (b - 1) * (d + 1))
    assert counts["mults"] == 4 * n * d and counts["divs"] == 4 * n and counts["requant"] == 4 * n * d


def test_hash_attention_errors():
    with pytest.raises(IRError, match="need bits in 9..16, got bits=8"):
        ha_graph((5, 2), (5, 2), (5, 4), (0.1, 0), (0.1, 0), bits=8)
    with pytest.raises(IRError, match="bits must be 0 or 6"):
        ha_graph((5, 6), (5, 6), (5, 4), (0.1, 0), (0.1, 0), bits=8, code_dtype="int8")
    with pytest.raises(IRError, match="both be uint8 .* or both int8"):
        b = GraphBuilder()
        ins = [b.input("q", (5, 1), dtype="uint8"), b.input("k", (5, 1), dtype="int8"), b.input("v", (5, 4),
                                                                                                 scale=0.1)]
        b.op("HASH_ATTENTION", ins, scale=0.1, bits=8)
    with pytest.raises(IRError, match="3 keys but 5 values"):
        ha_graph((5, 1), (3, 1), (5, 4), (0.1, 0), (0.1, 0), bits=8)
    with pytest.raises(IRError, match="batch axes differ"):
        ha_graph((2, 5, 1), (3, 5, 1), (3, 5, 4), (0.1, 0), (0.1, 0), bits=8)
    with pytest.raises(IRError, match="differ in width"):
        ha_graph((5, 1), (5, 2), (5, 4), (0.1, 0), (0.1, 0), bits=8)
    with pytest.raises(IRError, match="below 2\\^23"):
        ha_graph((1, 8), (1 << 17, 8), (1 << 17, 1), (0.1, 0), (0.1, 0), bits=64)
    with pytest.raises(EdgefmrError, match="without a TFLite builtin: HASH_ATTENTION"):
        to_tflite(ha_graph((5, 1), (5, 1), (5, 4), (0.1, 0), (0.1, 0), bits=8))


def test_malformed_graphs_fail_cleanly():
    """Random shapes on any tensor of a valid graph: validation raises IRError or passes, never anything else."""
    g0 = ha_graph((2, 5, 1), (2, 6, 1), (2, 6, 3), (0.1, 0), (0.1, 0), bits=8)
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
