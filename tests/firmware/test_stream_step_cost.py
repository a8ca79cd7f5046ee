"""What a spiking transformer's step costs on a Cortex-M against its whole inference (issue 22, item 4): the step
program (one time step per frame, bench/streaming.py's model) runs its ADDs in row blocks (MCUFormer's tricks
shrink its arena) and each block reads the ADD's rescale table from flash instead of rebuilding it; on QEMU M4 the
steps are bit-exact with the interpreter's streaming program and cost at most 1.1x the whole inference / T."""

from __future__ import annotations

import functools
import re
import shutil

import numpy as np
import pytest
import torch

from edgefmr.firmware.build import generate_firmware
from edgefmr.ir import Graph

BOARD = "qemu-mps2-an386"
qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                          reason="needs qemu-system-arm and arm-none-eabi-gcc")


@functools.cache
def _sdt() -> tuple[Graph, Graph, int]:
    """(whole graph, step program, T) of bench/streaming.py's Spike-driven Transformer (random weights, SDSA, T = 4,
    embed 32, 25 tokens of the kws-synth features)."""
    from edgefmr.nas.tasks import load_task
    from edgefmr.nas.train import build_model
    from edgefmr.quant import spiking
    from edgefmr.quant.quantizer import QuantOptions, quantize

    torch.set_num_threads(1)
    task = load_task("kws-synth")
    torch.manual_seed(0)
    m = build_model("spiking", {"T": 4, "embed_dim": 32, "depth": 1, "stem_dim": 16, "mlp_ratio": 2.0,
                                "threshold": 0.5}, task.input_shape, task.n_classes).eval()
    qm = quantize(m, "spiking", task.x_train[:64], QuantOptions(calib_samples=64))
    return qm.graph(), spiking.stream_graph(qm), qm.model.cfg.T


def test_row_block_adds_read_their_table_from_flash():
    """Every ADD a fused row-block step calls (on the Cortex-M kernels) has its rescale table in its parameters."""
    _, step, _ = _sdt()
    code = generate_firmware(step, BOARD, streaming=True).generated.files["model.c"]
    params = dict(re.findall(r"static const efm_binary_params (\w+) = \{(.*?)\};", code, re.S))
    fused = re.findall(r"/\* \d+: fused rows: [^*]*\*/\nstatic void \w+\(void\) \{(.*?)\n\}", code, re.S)
    calls = [p for body in fused for p in re.findall(r"efm_add_s8\(&(\w+),", body)]
    assert len(calls) >= 2, "the step program's ADDs are no longer in row blocks: the test checks nothing"
    assert all(".ew_table = " in params[p] for p in calls), [p for p in calls if ".ew_table = " not in params[p]]


@pytest.mark.emulator
@qemu
def test_step_costs_at_most_1_1x_the_whole_inference_per_time_step(tmp_path):
    """Eight steps (two inputs, each presented for its T steps) bit-exact on QEMU M4; the mean step <= 1.1x one
    whole inference / T, with steps within 5 % of each other."""
    from edgefmr.device.semihost import graph_instructions
    from edgefmr.device.streaming import stream_semihost

    whole, step, T = _sdt()
    rng = np.random.default_rng(5)
    t = whole.tensor(whole.inputs[0])
    xs = rng.integers(-128, 128, (2, *t.shape[1:])).astype(np.int8)
    r = stream_semihost(step, BOARD, np.repeat(xs, T, axis=0), tmp_path / "step")
    assert r["bit_exact"], f"first mismatch at step {r['first_mismatch']}"
    w = graph_instructions(whole, BOARD, [[x[None]] for x in xs], tmp_path / "whole")
    assert w["bit_exact"]
    ins = np.asarray(r["instructions"])
    assert ins.max() / ins.min() <= 1.05, (ins.min(), ins.max())
    assert ins.mean() <= 1.1 * w["instructions"] / T, (ins.mean(), w["instructions"] / T)
