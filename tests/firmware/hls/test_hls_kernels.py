"""Randomized per-op checks of the HLS kernels: the C simulation (g++, the generated dataflow top function) ==
the reference interpreter, bit for bit, for every IR op, with random pe x simd parallelism on the MAC-array layers.
Many ops share one compile (each compile must stay within the 30 s budget)."""

from __future__ import annotations

import numpy as np
import pytest
from op_cases import CASES, make_case, merge_graphs, reference, same_bits
from paths import ROOT

from edgefmr.firmware.hls.codegen import generate, node_key
from edgefmr.firmware.hls.emitters import Folding, all_emitters, mac_array
from edgefmr.firmware.hls.project import COMPILE_LIMIT_S, check_csim, compile_csim, run_csim, write_project
from edgefmr.ir import Graph
from edgefmr.ops.registry import all_ops, call

#: The ops in three compile groups (about a third of the kernels each).
ALL = sorted(CASES)
GROUPS = [ALL[0::3], ALL[1::3], ALL[2::3]]
SEEDS = range(3)


def random_folding(g: Graph, rng: np.random.Generator) -> dict[str, Folding]:
    """A random divisor pe of cols and simd of depth for every MAC-array layer."""
    out = {}
    for node in g.nodes:
        m = mac_array(call(node, g))
        if m is None:
            continue
        pes = [d for d in range(1, m.cols + 1) if m.cols % d == 0]
        simds = [d for d in range(1, m.depth + 1) if m.depth % d == 0] if m.kind != "mac32" else [1]
        out[node_key(node)] = Folding(int(rng.choice(pes)), int(rng.choice(simds)))
    return out


def test_every_op_has_an_hls_emitter_and_kernel():
    """The HLS backend covers every op of the IR, each with kernels/<op>.h."""
    missing = sorted(set(all_ops()) - set(all_emitters()))
    assert not missing, f"ops without an HLS emitter: {missing}"
    kdir = ROOT / "firmware" / "hls" / "kernels"
    assert not [op for op in all_ops() if not (kdir / f"{op.lower()}.h").is_file()]


@pytest.mark.parametrize("group", range(len(GROUPS)))
def test_csim_matches_interpreter(group, tmp_path):
    """Three random instances of each op of the group in one design, three input records each, random folding:
    C simulation == interpreter for every output, and the compile stays within budget."""
    ops = GROUPS[group]
    cases = [make_case(op, 100 + s) for op in ops for s in SEEDS]
    g = merge_graphs([c[0] for c in cases])
    records = [[x for _, recs in cases for x in recs[r]] for r in range(3)]
    fold = random_folding(g, np.random.default_rng(group))
    assert any(f.pe > 1 or f.simd > 1 for f in fold.values()) or not fold
    write_project(tmp_path, g, generate(g, fold), records, "xc7z020clg400-1", 100_000_000)
    seconds = compile_csim(tmp_path)
    assert seconds <= COMPILE_LIMIT_S, f"compile took {seconds:.1f} s"
    assert "0 mismatches" in check_csim(tmp_path)  # the testbench's own records (interpreter outputs inside)
    got = run_csim(tmp_path, g, records)
    want = reference(g, records)
    for r, (gr, wr) in enumerate(zip(got, want, strict=True)):
        for name, a, b in zip(g.outputs, gr, wr, strict=True):
            assert same_bits(a, b), f"record {r} output {name}: C simulation differs from the interpreter"
