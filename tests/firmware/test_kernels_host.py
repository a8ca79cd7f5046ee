"""Randomized per-op checks of the C kernels: the host build (gcc on this machine) == the reference interpreter,
bit for bit, for every IR op with a C emitter. The same cases (tests/support/op_cases.py) run on the QEMU boards in
test_kernels_qemu.py and in HLS C simulation in tests/firmware/hls/test_hls_kernels.py."""

from __future__ import annotations

import pytest
from op_cases import CASES, make_case, merge_graphs, reference, same_bits

from edgefmr.firmware.build import build, run_host
from edgefmr.firmware.c.emitters import all_emitters
from edgefmr.ops.registry import all_ops

HOST_SEEDS = range(6)


def test_every_op_has_a_c_emitter():
    """The C backend covers every op of the IR (a new op needs its kernel, emitter and a case here)."""
    missing = sorted(set(all_ops()) - set(all_emitters()))
    assert not missing, f"ops without a C emitter: {missing}"
    assert not sorted(set(all_ops()) - set(CASES)), "ops without a randomized firmware test case"


@pytest.mark.parametrize("op", sorted(CASES))
def test_host_c_matches_interpreter(op, tmp_path):
    """Six random instances of `op` in one host build, three input records each: host C == interpreter."""
    cases = [make_case(op, s) for s in HOST_SEEDS]
    g = merge_graphs([c[0] for c in cases])
    records = [[x for _, recs in cases for x in recs[r]] for r in range(3)]
    build(g, "host", tmp_path, tricks=False)
    got = run_host(tmp_path, g, records)
    want = reference(g, records)
    for r, (gr, wr) in enumerate(zip(got, want, strict=True)):
        for name, a, b in zip(g.outputs, gr, wr, strict=True):
            assert same_bits(a, b), f"{op} record {r} output {name}: host C differs from the interpreter"
