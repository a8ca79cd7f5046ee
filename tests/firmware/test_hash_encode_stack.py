"""HASH_ENCODE's work arrays live in the kernel scratch the planner reserves (emitters/hash_encode.py `scratch`, sized
per node and kernel path), not on the stack: a firmware with large HASH_ENCODE nodes (every path: the portable loop,
the Cortex-M fallback for depths off words, its subset-sum path, its USADA8 byte path and its d = 16 straight-line
pass, which needs none) keeps its static stack estimate under the 2 KiB a tight search reserve allows, and runs bit for
bit equal to the interpreter with exactly that scratch (portable and Cortex-M kernels on QEMU)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from op_cases import hash_encode_inputs, hash_encode_tables, merge_graphs, reference, same_bits

from edgefmr.device.semihost import run_semihost
from edgefmr.firmware.build import build
from edgefmr.firmware.c.emitters import kernel_scratch, node_key
from edgefmr.ir import Graph, GraphBuilder
from edgefmr.nas.search.cost import DEFAULT_STACK_BYTES

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

#: the stack reserve the firmware must fit (a search run with --stack-bytes 2048; the search's default is larger)
STACK_RESERVE = min(2048, DEFAULT_STACK_BYTES)

#: (depth d, anchors m, bits, byte table, Cortex-M scratch bytes, portable scratch bytes)
CASES = [(64, 64, 32, False, 4 * (16 * 16 + 16), 4 * 64),  # subset sums [16G] + x words [d/4]
         (64, 60, 24, True, 4 * (4 * 15 + 16 + 15), 4 * 60),  # sums [4G] + x words + feature words [G]
         (16, 7, 16, True, 0, 4 * 7),  # the d = 16 straight-line pass: no scratch
         (6, 100, 9, False, 4 * 100, 4 * 100)]  # depth off words: the portable loop's features [m]


def _graphs(rng: np.random.Generator) -> list[Graph]:
    graphs = []
    for d, m, bits, byte, _, _ in CASES:
        b = GraphBuilder()
        x = b.input("x", (6, 2 * d), scale=0.05, zero_point=int(rng.integers(-20, 20)))
        a, table, p, off = hash_encode_tables(rng, 2, m, d, bits, 127, byte=byte)
        ins = [x, b.const("anchors", a), b.const("table", table), b.const("proj", p), b.const("offset", off)]
        b.output(b.op("HASH_ENCODE", ins, dtype="uint8"))
        graphs.append(b.build())
    return graphs


@pytest.mark.parametrize("optimized", [False, True], ids=["portable", "cortex-m"])
def test_hash_encode_stack_and_scratch(optimized, tmp_path):
    rng = np.random.default_rng(5)
    parts = _graphs(rng)
    g = merge_graphs(parts)
    want_scratch = [arm if optimized else portable for *_, arm, portable in CASES]
    got = kernel_scratch(g, frozenset({"hash_encode"}) if optimized else frozenset())
    assert [got.get(node_key(n), 0) for n in g.nodes] == want_scratch
    records = [[x for gi in parts for x in hash_encode_inputs(gi)(rng)] for _ in range(2)]
    m = build(g, "qemu-netduinoplus2", tmp_path, tricks=False, optimized=optimized, test_inputs=records)
    assert ("hash_encode" in m["arm_kernels"]) == optimized
    stack = m["predicted"]["stack"]
    assert stack < STACK_RESERVE, f"HASH_ENCODE firmware needs {stack} B of stack: {m['predicted']['stack_chain']}"
    src = (tmp_path / "src" / "model.c").read_text()
    calls = [ln for ln in src.splitlines() if "efm_hash_encode(" in ln or "efm_hash_encode_portable(" in ln]
    assert len(calls) == len(CASES) and sum(c.rstrip().endswith("NULL);") for c in calls) == want_scratch.count(0)
    # the Cortex-M build calls the portable loop directly where d is not a multiple of 4 (decided at build time)
    portable = ["efm_hash_encode_portable(" in c for c in calls]
    assert portable == [optimized and d % 4 != 0 for d, *_ in CASES]
    res = run_semihost(tmp_path, g)
    want = reference(g, records)
    bad = [f"{g.outputs[k]} record {r}" for r in range(2) for k in range(len(g.outputs))
           if not same_bits(res.outputs[r][k], want[r][k])]
    assert not bad, bad
