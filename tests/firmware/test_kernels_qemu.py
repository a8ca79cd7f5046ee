"""The randomized per-op cases of test_kernels_host.py on the QEMU boards: netduinoplus2 (Cortex-M4) and
mps2-an500 (Cortex-M7) == the reference interpreter, bit for bit. Every op is batched into one image per board
(one build, one QEMU run), which prints its outputs over semihosting."""

from __future__ import annotations

import shutil

import pytest
from test_kernels_host import CASES, make_case, merge_graphs, reference, same_bits

from edgefmr.firmware.build import build, run_semihost

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

BOARDS = ["qemu-netduinoplus2", "qemu-mps2-an500"]
QEMU_SEEDS = (100, 101)


@pytest.mark.parametrize("optimized", [True, False], ids=["arm-kernels", "reference-kernels"])
@pytest.mark.parametrize("board", BOARDS)
def test_qemu_c_matches_interpreter(board, optimized, tmp_path):
    """Every op, two random instances each, two input records: C on the board == interpreter. With
    `optimized` the Cortex-M DSP kernel variants replace the portable ones where they exist."""
    ops = sorted(CASES)
    cases = [(op, *make_case(op, s)) for op in ops for s in QEMU_SEEDS]
    g = merge_graphs([c[1] for c in cases])
    records = [[x for _, _, recs in cases for x in recs[r]] for r in range(2)]
    build(g, board, tmp_path, tricks=False, test_inputs=records, optimized=optimized)
    res = run_semihost(tmp_path, g)
    want = reference(g, records)
    outputs_per_case = [len(c[1].outputs) for c in cases]
    bad = []
    for r in range(len(records)):
        k = 0
        for (op, _, _), n in zip(cases, outputs_per_case, strict=True):
            for j in range(n):
                if not same_bits(res.outputs[r][k + j], want[r][k + j]):
                    bad.append(f"{op} ({g.outputs[k + j]}) record {r}")
            k += n
    assert not bad, f"{board}: C differs from the interpreter for: {bad}"
    assert 0 < res.stack_used <= res.stack_size


@pytest.mark.parametrize("board", BOARDS)
def test_fc_instructions_per_mac(board, tmp_path):
    """The Cortex-M FULLY_CONNECTED kernel is bit-exact with the portable one and runs about one instruction per
    MAC (16 x 256 x 256: the whole kernel, requantization included), at least five times fewer than the portable
    kernel."""
    from edgefmr.firmware.build import fc_instructions_per_mac

    arm = fc_instructions_per_mac(board, 16, 256, 256, tmp_path / "arm")
    ref = fc_instructions_per_mac(board, 16, 256, 256, tmp_path / "ref", optimized=False)
    assert arm["kernel"] == "arm" and ref["kernel"] == "portable"
    assert arm["bit_exact"] and ref["bit_exact"]
    assert arm["instructions_per_mac"] < 1.1, arm
    assert ref["instructions_per_mac"] > 5 * arm["instructions_per_mac"], (arm, ref)
