"""Streaming LMU keyword spotting on QEMU's Cortex-M4 and M7: per-step instructions, persistent state, latency."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

NOTE = """One `stream` record per model x QEMU board: the kws-synth LMU step program (`edgefmr quantize --stream-out`,
one embedded step per call) built with `edgefmr build --streaming` runs 1,000 frames (twenty test utterances of
50 frames back to back, 20x the training length) from one reset in a semihosting image; every step's output is
compared bit for bit with the interpreter's streaming program (edgefmr.ir.streaming.run_stream). Counts are
QEMU's exact executed-instruction counts per step (-icount shift=7, the step's layers and the state carry-over),
not cycles: mean/min/max over the 1,000 steps and max/min. `whole_per_step` is one whole-sequence inference of
the same model's whole graph (semihosting, -icount shift=0, resolution 40 instructions) divided by its 50 embedded
steps; `ratio` = mean per step / whole_per_step. `state_bytes` is the planner's persistent region and
`state_bytes_elf` the efm_state symbol in the ELF; `arena_step` / `arena_whole` the planner's arena of the step
program and of the whole graph. `latency_ms_l4r5` converts the mean with the calibration table of nucleo-l4r5zi
(edgefmr.profiling.calibration: cycles per instruction x instructions / the board's clock) and
`estimate_ms_l4r5` is that table's model of the step graph. `lmu` is trained for 3 epochs (int8 accuracy on the
interpreter in `int8_accuracy`); `lmu-spiking` (LIF neurons, running-mean readout) has the family's default size
with random weights quantized on 64 training samples: its per-step work depends on the spikes, so its steps vary.
`spiking-transformer` (Spike-driven Transformer, SDSA, T = 4, embed 32, 25 tokens; random weights) steps one time
step per frame: 25 utterances each presented for its T = 4 steps (100 steps), and `whole_per_step` is its whole
inference (T steps) divided by T."""

BOARDS = ["qemu-mps2-an386", "qemu-mps2-an500"]
UTTERANCES = 20
SPIKING_UTTERANCES = 25
LATENCY_BOARD = "nucleo-l4r5zi"


def _models() -> list[tuple[str, object, float | None]]:
    """(name, quantized model, int8 test accuracy) of the benchmark's models."""
    import torch

    from edgefmr.nas.tasks import load_task
    from edgefmr.nas.train import build_model, train
    from edgefmr.quant.quantizer import QuantOptions, evaluate_ir, quantize

    torch.set_num_threads(2)
    task = load_task("kws-synth")
    model, _ = train("lmu", task, {}, epochs=3, progress=False)
    qm = quantize(model, "lmu", task.x_train[:256], QuantOptions(calib_samples=256))
    acc = float(evaluate_ir(qm.graph(), task.x_test, task.y_test)["accuracy"])
    torch.manual_seed(0)
    spiking = build_model("lmu", {"spiking": True, "pool": "mean", "threshold": 0.5}, task.input_shape,
                          task.n_classes).eval()
    qs = quantize(spiking, "lmu", task.x_train[:64], QuantOptions(calib_samples=64))
    torch.manual_seed(0)
    sdt = build_model("spiking", {"T": 4, "embed_dim": 32, "depth": 1, "stem_dim": 16, "mlp_ratio": 2.0,
                                  "threshold": 0.5}, task.input_shape, task.n_classes).eval()
    qt = quantize(sdt, "spiking", task.x_train[:64], QuantOptions(calib_samples=64))
    return [("lmu", qm, acc), ("lmu-spiking", qs, None), ("spiking-transformer", qt, None)]


def run() -> list[dict]:
    from edgefmr.device.semihost import graph_instructions
    from edgefmr.device.streaming import stream_semihost
    from edgefmr.firmware.cost import make_plan
    from edgefmr.nas.tasks import load_task
    from edgefmr.ops.quantize import affine_quantize
    from edgefmr.profiling.calibration import estimate, load_calibration
    from edgefmr.quant import lmu, spiking

    task = load_task("kws-synth")
    cal = load_calibration(LATENCY_BOARD)
    out: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, qm, acc in _models():
            whole = qm.graph()
            tw = whole.tensor(whole.inputs[0])
            xw = affine_quantize(task.x_test[:2], tw.scale, tw.zero_point, "int8")
            if qm.family == "lmu":
                g = lmu.stream_graph(qm, 1)
                t = g.tensor(g.inputs[0])
                feats = task.x_test[:UTTERANCES]
                frames = affine_quantize(feats.reshape(-1, feats.shape[-1]), t.scale, t.zero_point, "int8")
                steps_whole = qm.model.steps
            else:  # one time step per frame: each utterance presented for T steps (direct encoding)
                g = spiking.stream_graph(qm)
                t = g.tensor(g.inputs[0])
                steps_whole = qm.model.cfg.T
                feats = np.repeat(task.x_test[:SPIKING_UTTERANCES], steps_whole, axis=0)
                frames = affine_quantize(feats, t.scale, t.zero_point, "int8")
            for board in BOARDS:
                r = stream_semihost(g, board, frames, Path(tmp) / f"{name}-{board}")
                w = graph_instructions(whole, board, [[xi[None]] for xi in xw], Path(tmp) / f"{name}-{board}-w")
                ins = np.asarray(r["instructions"])
                per_whole = w["instructions"] / steps_whole
                mean = float(ins.mean())
                out.append({
                    "kind": "stream", "model": name, "board": board, "steps": len(ins),
                    "bit_exact_steps": len(ins) if r["bit_exact"] else r["first_mismatch"],
                    "instructions_mean": round(mean, 1), "instructions_min": float(ins.min()),
                    "instructions_max": float(ins.max()), "max_over_min": round(float(ins.max() / ins.min()), 4),
                    "whole_per_step": round(per_whole, 1), "ratio": round(mean / per_whole, 4),
                    "state_bytes": r["state_bytes_predicted"], "state_bytes_elf": r["state_bytes_elf"],
                    "arena_step": r["arena_bytes"],
                    "arena_whole": sum(make_plan(whole, board, True).arena_bytes.values()),
                    "latency_ms_l4r5": round(mean * cal.get("cpi", 1.0) / cal["clock_hz"] * 1e3, 4),
                    "estimate_ms_l4r5": round(estimate(g, cal)["seconds"] * 1e3, 4),
                    "int8_accuracy": acc, "kernels": ",".join(r["kernels"]),
                    "instructions_per_step": [int(v) for v in ins],
                })
    return out
