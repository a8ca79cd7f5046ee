"""HASH_ATTENTION with its values' head split and its output's head merge folded into the kernels' addressing
(edgefmr.ir.passes.fold_transposes: v_perm / y_perm): token-major values [B, N, H d] -> RESHAPE -> TRANSPOSE ->
HASH_ATTENTION -> TRANSPOSE -> RESHAPE, as the hash attention block is lowered. The fold itself, the reference
interpreter on the folded graph, the portable C kernel on the host and the Cortex-M kernel in each of its forms on
QEMU (M4 and M7) == the interpreter on the unfolded graph, bit for bit."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from op_cases import merge_graphs, reference, same_bits

import edgefmr.firmware.c.emitters.hash_attention as ha_emitter
from edgefmr.device.semihost import run_semihost
from edgefmr.firmware.build import build, run_host
from edgefmr.ir import Graph, GraphBuilder, run
from edgefmr.ir.passes.fold_transpose import fold_transposes

#: (outer batch, heads, queries, keys, depth, bits, forced Cortex-M form)
SHAPES = [(1, 4, 16, 16, 16, 16, ha_emitter.POPCOUNT), (2, 3, 5, 7, 8, 9, ha_emitter.POPCOUNT),
          (1, 2, 6, 9, 8, 16, ha_emitter.NIBBLES), (2, 3, 4, 5, 4, 13, ha_emitter.NIBBLES),
          (1, 2, 5, 7, 16, 14, ha_emitter.NIBBLES),
          (1, 2, 5, 6, 6, 11, ha_emitter.PAIRS), (2, 1, 3, 4, 3, 5, ha_emitter.PAIRS),
          (1, 3, 4, 6, 5, 20, ha_emitter.LISTS)]


def heads_graph(rng: np.random.Generator, outer: int, heads: int, nq: int, nk: int, d: int, bits: int) -> Graph:
    b = GraphBuilder()
    width = -(-bits // 8)
    hq = b.input("hq", (outer, heads, nq, width), dtype="uint8")
    hk = b.input("hk", (outer, heads, nk, width), dtype="uint8")
    vq = {"scale": 0.03, "zero_point": int(rng.integers(-20, 20))}
    yq = {"scale": 0.02, "zero_point": int(rng.integers(-10, 10))}
    v = b.input("v", (outer, nk, heads * d), **vq)
    vs = b.op("RESHAPE", [v, b.const("vshape", np.array([outer, nk, heads, d], np.int32))], **vq)
    vh = b.op("TRANSPOSE", [vs, b.const("vperm", np.array([0, 2, 1, 3], np.int32))], **vq)
    y = b.op("HASH_ATTENTION", [hq, hk, vh], **yq, bits=bits)
    ym = b.op("TRANSPOSE", [y, b.const("yperm", np.array([0, 2, 1, 3], np.int32))], **yq)
    b.output(b.op("RESHAPE", [ym, b.const("yshape", np.array([outer, nq, heads * d], np.int32))], **yq))
    return b.build()


def _cases(seed: int) -> tuple[Graph, list[list[np.ndarray]], dict[str, int]]:
    rng = np.random.default_rng(seed)
    graphs = [heads_graph(rng, *s[:-1]) for s in SHAPES]
    g = merge_graphs(graphs)
    records = []
    for _ in range(2):
        rec = []
        for name in g.inputs:
            t = g.tensors[name]
            lo, hi = (0, 256) if t.dtype == "uint8" else (-128, 128)
            rec.append(rng.integers(lo, hi, t.shape).astype(t.dtype))
        records.append(rec)
    forms = {n.name: s[-1] for n, s in zip([n for n in g.nodes if n.op == "HASH_ATTENTION"], SHAPES, strict=True)}
    return g, records, forms


def test_fold_removes_the_transposes_and_keeps_the_results():
    g, records, _ = _cases(0)
    folded = fold_transposes(g)
    assert not [n for n in folded.nodes if n.op == "TRANSPOSE"]
    has = [n for n in folded.nodes if n.op == "HASH_ATTENTION"]
    assert all(n.attrs["v_perm"] == [0, 2, 1, 3] and n.attrs["y_perm"] == [0, 2, 1, 3] for n in has)
    for rec in records:
        want, got = run(g, rec), run(folded, rec)
        assert all(np.array_equal(want[o], got[o]) for o in g.outputs)


def test_host_c_matches_interpreter(tmp_path):
    g, records, _ = _cases(1)
    build(g, "host", tmp_path, tricks=False)
    got = run_host(tmp_path, g, records)
    want = reference(g, records)
    for gr, wr in zip(got, want, strict=True):
        assert all(same_bits(a, b) for a, b in zip(gr, wr, strict=True))


@pytest.mark.emulator
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
@pytest.mark.parametrize("board", ["qemu-netduinoplus2", "qemu-mps2-an500"])
def test_cortex_m_forms_match_interpreter(board, tmp_path, monkeypatch):
    g, records, forms = _cases(2)
    monkeypatch.setattr(ha_emitter, "arm_form", lambda c: forms[c.node.name])
    m = build(g, board, tmp_path, tricks=False, test_inputs=records)
    assert "hash_attention" in m["arm_kernels"]
    src = (tmp_path / "src" / "model.c").read_text()
    assert "TRANSPOSE" not in src and "efm_transpose" not in src
    res = run_semihost(tmp_path, g)
    want = reference(g, records)
    for r in range(2):
        assert all(same_bits(a, b) for a, b in zip(res.outputs[r], want[r], strict=True)), f"{board} record {r}"
