"""`build --streaming`: the planner's persistent state region, efm_model_step/efm_model_reset, and every step bit for
bit equal to the interpreter's streaming program on the host build, QEMU M4 and QEMU M7, over more steps than the
model was trained on."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from stream_cases import SPIKING_CASES, STREAM_CASES, frames, step_graph, training_steps

from edgefmr.errors import EdgefmrError
from edgefmr.firmware.build import build, run_host
from edgefmr.firmware.cost import make_plan, memory_report
from edgefmr.firmware.planner import STATE_REGION, plan
from edgefmr.ir.streaming import io_view, run_stream, state_pairs, without_states

qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                          reason="needs qemu-system-arm and arm-none-eabi-gcc")


def test_planner_keeps_the_state_out_of_the_arena():
    g = step_graph("lmu-spiking")
    p = plan(g, None, tricks=False)
    p.verify()
    ins = [i for i, _ in state_pairs(g)]
    assert set(ins) <= set(p.state) and not set(ins) & set(p.tensors)
    assert all(a.region == STATE_REGION and a.offset % 16 == 0 for a in p.state.values())
    for i, o in state_pairs(g):  # LMU_UPDATE and LIF write their next state over the slot; the window is copied
        op = g.nodes[g.producers()[o]].op
        if op in ("LMU_UPDATE", "LIF"):
            assert p.state[o].offset == p.state[i].offset and p.state[o].view_of == i and o not in p.tensors
        else:
            assert o not in p.state and o in p.tensors
    assert p.state_bytes == sum((g.tensor(i).nbytes + 15) // 16 * 16 for i in ins)
    plain = plan(without_states(g), None, tricks=False)  # the same graph with the states as ordinary inputs
    assert not plain.state and set(ins) <= set(plain.tensors)
    assert p.arena_size < plain.arena_size
    d = p.to_dict(steps=False)
    assert d["state_bytes"] == p.state_bytes and len(d["state"]) == len(p.state)
    assert memory_report(g)["state_bytes"] == make_plan(g, None, True).state_bytes == p.state_bytes


@pytest.mark.parametrize("case", STREAM_CASES + SPIKING_CASES)
def test_host_build_steps_bit_exact(case, tmp_path):
    """Three times the training length, from a reset state: every step's output == run_stream."""
    g = step_graph(case)
    x = frames(g, 3 * training_steps(case), seed=1)
    m = build(g, None, tmp_path, streaming=True)
    st = m["streaming"]
    assert st["state_bytes"] == plan(g, None, tricks=m["tricks"]).state_bytes
    assert [s["input"] for s in st["states"]] == [i for i, _ in state_pairs(g)]
    h = (tmp_path / "src" / "model.h").read_text()
    assert "#define EFM_STREAMING 1" in h and "efm_model_step" in h and "efm_model_reset" in h
    assert "#define EFM_NUM_INPUTS 1" in h and "#define EFM_NUM_OUTPUTS 1" in h
    view = io_view(g)
    got = run_host(tmp_path, view, [[f[None]] for f in x])
    want, _ = run_stream(g, x)
    bad = [k for k, (a, b) in enumerate(zip(got, want, strict=True)) if not np.array_equal(a[0], b[0])]
    assert not bad, f"{case}: steps {bad[:5]} differ"


def test_streaming_needs_marks(tmp_path):
    g = without_states(step_graph("lmu-gelu"))
    with pytest.raises(EdgefmrError, match="--streaming needs a step program"):
        build(g, None, tmp_path, streaming=True, run_make=False)


@pytest.mark.emulator
@qemu
@pytest.mark.parametrize("board", ["qemu-mps2-an386", "qemu-mps2-an500"])
def test_qemu_steps_bit_exact(board, tmp_path):
    """QEMU Cortex-M4 and M7 (semihosting image, exact instruction counts): a spiking LMU with a running-mean
    readout, a GELU LMU and a spiking transformer (softmax attention), three times the training length; the
    persistent state the planner predicts is the efm_state symbol in the ELF; a non-spiking model's steps cost the
    same (max/min <= 1.05)."""
    from edgefmr.device.streaming import stream_semihost

    for case in ("lmu-spiking", "lmu-gelu", "spiking-softmax-sequence"):
        g = step_graph(case)
        r = stream_semihost(g, board, frames(g, 3 * training_steps(case), seed=2), tmp_path / case)
        assert r["bit_exact"], f"{board} {case}: first mismatch at step {r['first_mismatch']}"
        assert r["state_bytes_predicted"] == r["state_bytes_elf"] > 0
        ins = np.asarray(r["instructions"])
        assert ins.min() > 0
        if case == "lmu-gelu":
            assert ins.max() / ins.min() <= 1.05, (ins.min(), ins.max())
