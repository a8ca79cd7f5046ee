import math

import numpy as np
import pytest
import torch
from op_cases import hash_encode_tables

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, run
from edgefmr.ir.efm import from_json, to_json
from edgefmr.nas.models.attention import KernelHash
from edgefmr.ops.binary_fully_connected import unpack_bits
from edgefmr.ops.hash_encode import cosine_index
from edgefmr.ops.registry import call
from edgefmr.tflite import to_tflite


def encode_graph(x_shape, zp, a, table, p, off):
    b = GraphBuilder()
    x = b.input("x", x_shape, scale=0.05, zero_point=zp)
    ins = [x, b.const("anchors", a), b.const("table", table), b.const("proj", p), b.const("offset", off)]
    b.output(b.op("HASH_ENCODE", ins, dtype="uint8"))
    return b.build()


def python_int_codes(x, zp, a, table, p, off):
    """The definition token by token in Python integers (math.isqrt, no vectorization)."""
    h, m, d = a.shape
    radius = (table.shape[1] - 1) // 2
    b = p.shape[1]
    lead = x.shape[:-2]
    out = np.zeros((*lead, h, x.shape[-2], b), np.int64)
    for idx in np.ndindex(*lead, x.shape[-2]):
        row = [int(v) - zp for v in x[idx]]
        for hh in range(h):
            xs = row[hh * d:(hh + 1) * d]
            q = sum(v * v for v in xs)
            phi = []
            for j in range(m):
                s = sum(int(a[hh, j, i]) * xs[i] for i in range(d))
                if q == 0:
                    t = 0
                else:
                    dq = d * q
                    k = (32 - dq.bit_length()) // 2
                    r = math.isqrt(dq << (2 * k))
                    t = ((s << k) * (radius * ((1 << 31) // r)) + (1 << 30)) >> 31
                    t = max(-radius, min(radius, t))
                phi.append(int(table[hh, t + radius]))
            for k in range(b):
                pre = sum(int(p[hh, k, j]) * phi[j] for j in range(m)) - int(off[hh, k])
                out[(*idx[:-1], hh, idx[-1], k)] = int(pre >= 0)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_matches_python_integers(seed):
    rng = np.random.default_rng(seed)
    h, m, d, bits, radius = [(2, 8, 16, 16, 127), (1, 3, 5, 9, 7), (3, 5, 4, 17, 300), (1, 1, 1, 1, 1)][seed]
    a, table, p, off = hash_encode_tables(rng, h, m, d, bits, radius)
    zp = int(rng.integers(-128, 128))
    x = rng.integers(-128, 128, (2, 5, h * d)).astype(np.int8)
    x[0, 0] = zp  # Q = 0
    g = encode_graph(x.shape, zp, a, table, p, off)
    got = run(g, [x])[g.outputs[0]]
    assert got.shape == (2, h, 5, -(-bits // 8)) and got.dtype == np.uint8
    np.testing.assert_array_equal(unpack_bits(got, bits), python_int_codes(x, zp, a, table, p, off))
    if bits % 8:  # padding bits stay clear
        assert not (got[..., -1] >> (bits % 8)).any()
    doc, arrays = to_json(g)
    np.testing.assert_array_equal(run(from_json(doc, arrays), [x])[g.outputs[0]], got)


def test_cosine_index_is_rounded_cosine():
    """idx = R S / sqrt(d Q) rounded (within 1/2 + 2^-12), |idx| <= R, and exactly +-R for a multiple of an anchor."""
    rng = np.random.default_rng(1)
    for d in (1, 4, 16, 64, 256):
        xs = rng.integers(-255, 256, (4000, d)).astype(np.int64)
        xs[:50] = xs[:50] // 200  # short vectors
        a = rng.choice([-1, 1], (d,))
        xs[50:60] = a * rng.integers(1, 128, (10, 1))
        s = (xs * a).sum(axis=1, keepdims=True)
        q = (xs * xs).sum(axis=1, keepdims=True)
        for radius in (1, 127, 4096):
            idx = cosine_index(s, q, d, radius)
            exact = radius * s / np.sqrt(np.maximum(d * q, 1))
            assert (np.abs(idx - exact) <= 0.5 + radius * 2.0**-14 + 1e-9).all()
            assert (np.abs(idx) <= radius).all() and (idx[q == 0] == 0).all()
            assert (idx[50:60] == radius).all()


def test_codes_agree_with_the_float_hash():
    """The integer codes of a trained-like KernelHash's tables agree with the float model's sign(A(phi - mu)) on
    the dequantized tokens, except where the pre-sign value is within the quantization error of 0."""
    torch.manual_seed(0)
    h, d, bits, m, radius = 4, 16, 16, 8, 127
    kh = KernelHash(h, d, bits, m)
    xf = torch.randn(64, h, 20, d)
    kh.init_from(xf / xf.norm(dim=-1, keepdim=True))
    scale = float(xf.abs().max()) / 127
    xq = torch.clamp(torch.round(xf / scale), -128, 127)
    a = (kh.effective_anchors().detach() * math.sqrt(d)).round().numpy().astype(np.int8)
    p = kh.effective_proj().detach().numpy().astype(np.int8)
    t = np.arange(-radius, radius + 1) / radius
    table = np.round(np.exp((t[None, :] - 1) / kh.sigma.numpy()[:, None]) * 2**11).astype(np.int16)
    off = np.round(np.einsum("hbm,hm->hb", p, kh.mu.numpy()) * 2**11).astype(np.int32)
    x = xq.permute(0, 2, 1, 3).reshape(64, 20, h * d).numpy().astype(np.int8)
    g = encode_graph(x.shape, 0, a, table, p, off)
    got = unpack_bits(run(g, [x])[g.outputs[0]], bits)
    xd = xq * scale
    pre = kh.features(xd / xd.norm(dim=-1, keepdim=True).clamp_min(1e-6), True).detach().numpy()
    want = (pre >= 0).astype(np.int64)
    clear = np.abs(pre) > 0.05
    assert (got[clear] == want[clear]).mean() > 0.995
    assert (got == want).mean() > 0.97


def test_counts_have_no_anchor_or_projection_multiplications():
    rng = np.random.default_rng(0)
    a, table, p, off = hash_encode_tables(rng, 4, 8, 16, 16, 127)
    g = encode_graph((1, 10, 64), 3, a, table, p, off)
    c = call(g.nodes[0], g)
    counts = c.opdef.op_counts(c)
    rows = 40
    assert counts["mults"] == rows * (16 + 8 + 1)  # the norm's squares and the cosine scalings only
    assert counts["adds"] == rows * (16 + 8 * 16 + 16 * 8) and c.opdef.macs(c) == 0


def test_invalid_nodes_fail_cleanly():
    rng = np.random.default_rng(0)
    a, table, p, off = hash_encode_tables(rng, 2, 4, 8, 8, 7)
    bad_a = a.copy()
    bad_a[0, 0, 0] = 0
    with pytest.raises(IRError, match="only -1 and \\+1"):
        encode_graph((1, 3, 16), 0, bad_a, table, p, off)
    with pytest.raises(IRError, match=r"\[\.\.\., N, 16\]"):
        encode_graph((1, 3, 15), 0, a, table, p, off)
    with pytest.raises(IRError, match="2R\\+1"):
        encode_graph((1, 3, 16), 0, a, table[:, :-1], p, off)
    with pytest.raises(IRError, match="int32"):
        encode_graph((1, 3, 16), 0, a, table, p, off.astype(np.int16))
    with pytest.raises(IRError, match="projection"):
        encode_graph((1, 3, 16), 0, a, table, p[:, :, :3], off)


def test_tflite_export_refuses_it():
    rng = np.random.default_rng(0)
    g = encode_graph((1, 3, 16), 0, *hash_encode_tables(rng, 2, 4, 8, 8, 7))
    with pytest.raises(EdgefmrError, match="without a TFLite builtin: HASH_ENCODE"):
        to_tflite(g)
