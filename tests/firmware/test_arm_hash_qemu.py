"""The Cortex-M hash attention kernels on the QEMU boards == interpreter: HASH_ATTENTION on packed codes in each of
its forms (lists, popcount, bit pairs: forced per node, whatever the cost model would pick) and HASH_ENCODE on its
word path and its portable fallback, at the shapes around their blocks (odd key counts, bits around the 16-bit
lanes and pairs, depths around words, anchors around groups of four, the Q = 0 token)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from op_cases import hash_encode_inputs, hash_encode_tables, merge_graphs, reference, same_bits

import edgefmr.firmware.c.emitters.hash_attention as ha_emitter
from edgefmr.device.semihost import run_semihost
from edgefmr.firmware.build import build
from edgefmr.ir import Graph, GraphBuilder

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

BOARDS = ["qemu-netduinoplus2", "qemu-mps2-an500"]


def _attention(batch: tuple[int, ...], nq: int, nk: int, d: int, bits: int, v_zp: int = -5,
               y_scale: float = 0.04) -> Graph:
    b = GraphBuilder()
    width = -(-bits // 8)
    hq = b.input("hq", (*batch, nq, width), dtype="uint8")
    hk = b.input("hk", (*batch, nk, width), dtype="uint8")
    v = b.input("v", (*batch, nk, d), scale=0.04, zero_point=v_zp)
    b.output(b.op("HASH_ATTENTION", [hq, hk, v], scale=y_scale, zero_point=3, bits=bits))
    return b.build()


def attention_cases() -> list[tuple[Graph, int]]:
    """(graph, forced form): popcount (code bytes <= 2, depth % 4 == 0) at odd and even key counts and bits
    1..16; pairs at odd and even bits (a last single bit), depths with a tail; lists as before; nibbles (keys <= 64,
    depth % 4 == 0) with last nibbles of 1..4 bits and 64 keys (the int16 tables' bound)."""
    P, B, L, N = ha_emitter.POPCOUNT, ha_emitter.PAIRS, ha_emitter.LISTS, ha_emitter.NIBBLES
    out = []
    for nk, bits, d in ((1, 1, 4), (5, 16, 8), (16, 16, 16), (15, 16, 16), (7, 9, 4), (2, 3, 12)):
        out.append((_attention((2,), 3, nk, d, bits), P))
    out.append((_attention((), 4, 6, 8, 12, y_scale=1e-7), P))  # 64-bit output requantization
    out.append((_attention((), 4, 13, 8, 12, y_scale=1e-7), P))  # 8 key pairs (the unrolled sums), 64-bit output
    for nk, bits, d in ((1, 1, 3), (5, 16, 8), (7, 17, 5), (4, 33, 16), (3, 2, 1), (9, 100, 6)):
        out.append((_attention((2,), 3, nk, d, bits), B))
    out.append((_attention((), 3, 5, 7, 7, y_scale=1e-7), B))
    out.append((_attention((2,), 3, 5, 6, 20), L))
    for nk, bits, d in ((1, 1, 4), (5, 16, 8), (16, 16, 16), (7, 13, 4), (64, 16, 16), (3, 30, 8), (4, 6, 4)):
        out.append((_attention((2,), 3, nk, d, bits), N))
    return out


def encode_cases(rng) -> list[Graph]:
    """HASH_ENCODE with depth 4, 8, 16, 32 (the word path) and 6 (the fallback), anchors 1..13 (groups of four and a
    partial group; one and two groups take the unrolled bit loops, d = 16 with two groups the straight-line sums),
    bits 1..17, radius 1..300; int16 feature tables
    (the subset-sum projection) and byte tables (the USADA8 projection; d = 16 with 5..8 anchors and 16 bits the
    straight-line per-head pass, with 5 and 7 anchors its dropped padding features)."""
    graphs = []
    for d, m, bits, radius, zp in ((16, 8, 16, 127, 3), (4, 1, 1, 1, -128), (8, 3, 8, 7, 127), (32, 9, 17, 300, -7),
                                   (16, 4, 12, 127, 0), (6, 5, 9, 63, 10), (8, 13, 8, 127, -2), (16, 8, 16, 127, 5),
                                   (12, 6, 9, 31, -3), (8, 3, 5, 7, 1), (16, 6, 11, 127, -4), (16, 5, 16, 127, -9),
                                   (16, 7, 16, 250, 2)):
        b = GraphBuilder()
        heads = int(rng.integers(1, 4))
        x = b.input("x", (int(rng.integers(1, 3)), 5, heads * d), scale=0.05, zero_point=zp)
        a, table, p, off = hash_encode_tables(rng, heads, m, d, bits, radius, byte=len(graphs) >= 6)
        ins = [x, b.const("anchors", a), b.const("table", table), b.const("proj", p), b.const("offset", off)]
        b.output(b.op("HASH_ENCODE", ins, dtype="uint8"))
        graphs.append(b.build())
    return graphs


def _codes(rng, g: Graph) -> list[np.ndarray]:
    hq, hk, v = (g.tensors[n] for n in g.inputs)
    return [rng.integers(0, 256, hq.shape).astype(np.uint8), rng.integers(0, 256, hk.shape).astype(np.uint8),
            rng.integers(-128, 128, v.shape).astype(np.int8)]


@pytest.mark.parametrize("board", BOARDS)
def test_hash_attention_forms_and_encode(board, tmp_path, monkeypatch):
    rng = np.random.default_rng(21)
    att = attention_cases()
    enc = encode_cases(rng)
    graphs = [g for g, _ in att] + enc
    g = merge_graphs(graphs)
    forms = {node.name: form for node, (_, form) in zip(g.nodes, att, strict=False)}
    monkeypatch.setattr(ha_emitter, "arm_form", lambda c: forms[c.node.name])
    records = [[x for gi, _ in att for x in _codes(rng, gi)] + [x for gi in enc for x in hash_encode_inputs(gi)(rng)]
               for _ in range(2)]
    m = build(g, board, tmp_path, tricks=False, test_inputs=records)
    assert {"hash_attention", "hash_encode"} <= set(m["arm_kernels"])
    src = (tmp_path / "src" / "model.c").read_text()
    for form in (ha_emitter.LISTS, ha_emitter.POPCOUNT, ha_emitter.PAIRS, ha_emitter.NIBBLES):
        assert f".form = {form}," in src
    res = run_semihost(tmp_path, g)
    want = reference(g, records)
    bad = [f"{g.outputs[k]} record {r}" for r in range(2) for k in range(len(g.outputs))
           if not same_bits(res.outputs[r][k], want[r][k])]
    assert not bad, f"{board}: {bad}"
