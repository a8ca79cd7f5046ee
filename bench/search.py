"""Architecture search (issue 7): budgets met on the built firmware, predicted vs measured memory and latency.

``python -m bench search`` writes ``bench/results/search.{json,md}``. ``EDGEFMR_SEARCH_BENCH_QUICK=1`` runs a reduced
version (fewer trials and epochs, 6 latency samples) to check the code paths.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

QUICK = os.environ.get("EDGEFMR_SEARCH_BENCH_QUICK") == "1"

NOTE = """Kind `search`: one record per family x board. `edgefmr search` (TPE, seed 0) with an SRAM budget
(`budget_sram`: planner arena + 8 KiB stack reserve) on digits (vit, spiking) or seq-digits (lmu); the chosen model is
fine-tuned from its inherited weights for 30 epochs (the baseline's budget), quantized (PTQ) and built with `edgefmr
build`. `predicted_sram` is the search's figure,
`measured_sram` the linked ELF's arena symbols plus the stack the linker reserves; `accuracy` the chosen model's
int8 test accuracy on the IR interpreter; `baseline_accuracy` that of a hand-designed ViT (patch 4, depth 2, 2 heads,
MLP ratio 2, softmax) with the widest embedding whose SRAM is <= the chosen model's, trained from scratch for 30
epochs. `predicted_latency` (s) from the board's calibration table (the core type's default), `measured_latency`
from `edgefmr profile` on QEMU (executed instructions at the core clock; none for a real board without hardware).
Kind `latency`: predicted vs profiled latency (whole-model runs, executed instructions at the core clock) of 20 ViT
architectures sampled from the default space (seed 0, seeded random weights) on qemu-netduinoplus2: mean absolute
relative error and Kendall tau. The prediction uses the cortex-m4 default table, fitted by
`scripts/default_calibration.py` on other architectures (seed 12345) of the three families; every run of this
benchmark uses a fresh, empty calibration folder, so no table profiled on this machine is read.
Kind `proxy`: rank correlation of the training-free proxies with the supernet
accuracy of sampled points."""

CASES = [("vit", "digits"), ("spiking", "digits"), ("lmu", "seq-digits")]
BOARDS = {"qemu-netduinoplus2": 48 * 1024, "stm32f746g-disco": 64 * 1024}


def _measure(model: Path, board: str, out: Path, profile: bool) -> dict[str, Any]:
    """Build the model file for ``board`` and (``profile``) profile it on QEMU: the measured memory and latency."""
    from edgefmr.firmware.build import build

    man = build(model, board, out)
    rec = {"measured_sram": sum(man["measured"]["arena_symbols"].values()) + man["predicted"]["stack_reserved"],
           "measured_flash": man["measured"]["flash"], "measured_latency": None}
    if profile:
        from edgefmr.profiling.profile import profile_artifact

        rep = profile_artifact(out, count=2, runs=2, write_calibration=False)
        lat = rep["latency"]
        count = (lat.get("whole_run") or {}).get("mean") or lat["mean"]
        rec["measured_latency"] = count / rep["core_clock_hz"]
        rec["measured_counter"] = rep["counter"]["kind"]
    return rec


def _baseline(task_name: str, board: str, sram: int, epochs: int) -> dict[str, Any]:
    from edgefmr.nas.models.vit import ViTConfig
    from edgefmr.nas.search.cost import candidate_cost, lower_for_cost
    from edgefmr.nas.tasks import load_task
    from edgefmr.nas.train import train
    from edgefmr.quant.pipeline import quantize_task
    from edgefmr.quant.quantizer import QuantOptions

    task = load_task(task_name)
    best = None
    for d in (16, 24, 32, 48, 64):
        cfg = ViTConfig(patch_size=4, embed_dim=d, depth=2, heads=2, mlp_ratio=2.0)
        if candidate_cost(lower_for_cost(cfg, task), board).sram_total <= sram:
            best = cfg
    if best is None:
        return {"baseline_accuracy": None}
    model, _ = train("vit", task, best, epochs=epochs, progress=False)
    res = quantize_task(model, "vit", task, QuantOptions())
    return {"baseline_accuracy": res.report["int_accuracy"], "baseline_embed_dim": best.embed_dim}


def _search_records(work: Path) -> list[dict[str, Any]]:
    from edgefmr.nas.search.cost import Budgets
    from edgefmr.nas.search.driver import Search, SearchSettings

    records = []
    for family, task in CASES:
        for board, budget in BOARDS.items():
            out = work / f"{family}-{board}"
            s = SearchSettings(task=task, board=board, families=(family,), budgets=Budgets(sram=budget),
                               trials=8 if QUICK else 30, supernet_epochs=6 if QUICK else None,
                               finetune_epochs=10 if QUICK else 30)
            t0 = time.perf_counter()
            rep = Search(s, out).run()
            seconds = time.perf_counter() - t0
            c = rep["chosen"]
            rec = {"kind": "search", "family": family, "task": task, "board": board, "budget_sram": budget,
                   "predicted_sram": c["sram"], "accuracy": c["test_accuracy_int"],
                   "predicted_latency": c["latency_s"], "search_seconds": round(seconds, 1), "trials": rep["trials"],
                   "feasible_trials": rep["feasible"], "arch": c["arch"]}
            rec.update(_measure(out / "model.efm", board, out / "build", profile=board.startswith("qemu-")))
            rec["sram_prediction_exact"] = rec["predicted_sram"] == rec["measured_sram"]
            rec["meets_budget"] = rec["measured_sram"] <= budget
            rec.update(_baseline(task, board, c["sram"], 3 if QUICK else 30))
            records.append(rec)
    return records


def _latency_records(work: Path, n: int) -> list[dict[str, Any]]:
    from scipy.stats import kendalltau

    from edgefmr.ir import save
    from edgefmr.nas.search.cost import candidate_cost, lower_for_cost
    from edgefmr.nas.search.space import default_space
    from edgefmr.nas.tasks import load_task

    task = load_task("digits")
    sp = default_space("vit", task.input_shape)
    rng = np.random.default_rng(0)
    pred, meas = [], []
    for i in range(n):
        cfg = sp.config(sp.sample(rng))
        g = lower_for_cost(cfg, task)
        pred.append(candidate_cost(g, "qemu-netduinoplus2").latency_seconds)
        save(g, work / f"lat{i}.efm")
        meas.append(_measure(work / f"lat{i}.efm", "qemu-netduinoplus2", work / f"lat{i}", profile=True)
                    ["measured_latency"])
    p, m = np.array(pred), np.array(meas)
    err = np.abs(p - m) / m
    return [{"kind": "latency", "board": "qemu-netduinoplus2", "architectures": n,
             "mean_abs_rel_error": float(err.mean()), "max_abs_rel_error": float(err.max()),
             "kendall_tau": float(kendalltau(p, m).statistic), "calibration": "default table of cortex-m4"}]


def _proxy_records(n: int) -> list[dict[str, Any]]:
    from edgefmr.nas.search.driver import SUPERNET_EPOCHS
    from edgefmr.nas.search.proxies import PROXIES, rank_correlation, score
    from edgefmr.nas.search.space import default_space
    from edgefmr.nas.search.supernet import Scorer, SupernetSettings, load_or_train
    from edgefmr.nas.tasks import load_task

    out = []
    for family, task_name in (("vit", "digits"), ("lmu", "seq-digits")):
        task = load_task(task_name)
        sp = default_space(family, task.input_shape)
        s = SupernetSettings(epochs=2 if QUICK else SUPERNET_EPOCHS[family])  # the search's (cached) supernet
        net, _, _, _ = load_or_train(family, task, sp, s)
        sc = Scorer(net, task, s)
        rng = np.random.default_rng(1)
        pts = [sp.sample(rng) for _ in range(n)]
        acc = [sc.accuracy(v) for v in pts]
        for name in PROXIES:
            scores = [score(name, family, sp.config(v), task) for v in pts]
            out.append({"kind": "proxy", "family": family, "proxy": name, **rank_correlation(scores, acc)})
    return out


def run() -> list[dict[str, Any]]:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="edgefmr-bench-search-") as tmp:
        work = Path(tmp)
        os.environ["EDGEFMR_CALIBRATION_DIR"] = str(work / "calibration")  # the default tables, never a local one
        records = _search_records(work)
        records += _latency_records(work, 6 if QUICK else 20)
        records += _proxy_records(8 if QUICK else 20)
    return records
