"""Model families: accuracy, size and cost of the acceptance models (issue 3).

``python -m bench families`` writes ``bench/results/families.{json,md}``.
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from typing import Any

import torch
from torch import nn

from edgefmr.nas.models.attention import ATTENTIONS, attention_op_counts
from edgefmr.nas.models.config import FamilyConfig
from edgefmr.nas.models.lif import snn_record_fields
from edgefmr.nas.models.lmu import LMUConfig, LMUFormer, stream_agreement
from edgefmr.nas.models.macs import macs, params
from edgefmr.nas.models.spiking import SpikingConfig
from edgefmr.nas.models.vit import ViTConfig
from edgefmr.nas.tasks import Task, load_task
from edgefmr.nas.train import train

NOTE = """What is measured (one record per trained model, plus op-count records):

* **ViT rows** (`family` vit): the same MCUFormer-style ViT (patch 2 on the 8x8 digits = 16 tokens, embed 64,
  4 heads, depth 2, MLP ratio 2, mean pooling, GELU) with each attention variant in every layer, trained by the
  common trainer (AdamW, cosine schedule, label smoothing 0.1, random 1-pixel shifts) on the fixed digits split
  (1438 train / 359 test). `float_accuracy` is the mean test accuracy over the seeds in `seeds`
  (`seed_accuracies` lists each; `train_accuracy` is the mean on the training set); `delta_vs_softmax_pp` is
  the difference to the softmax row in percentage points;
  `train_seconds` is the mean wall time of one training run on one thread of a shared 2-core machine.
  `params` and `macs` (multiply-accumulates of one inference: linears plus the attention core's multiplications,
  see `edgefmr.nas.models.macs`) describe one model.
* **Hash op-count rows** (`kind` op-count): multiplications and additions of the attention core (the "Q.K path":
  from Q, K, V to the weighted values, per layer, all heads; the Q/K/V and output linears are the same for all
  variants and excluded) at 16, 64 and 256 tokens, for the ViT's heads and head width and the hash's bits and
  anchors, counted by `edgefmr.nas.models.attention.attention_op_counts`. `hash_mults` includes the hash encoding, which
  is linear in tokens; the similarities and the weighting of V by +-1 codes need additions only (`hash_qk_mults`
  is 0). The ViT's hash uses binarized anchors (`sign(a)/sqrt(d)`, unit vectors) and projection (`sign(A)`),
  learned through a straight-through sign (`hash_binary`), so the anchor dot products and the projection to bits
  are additions too; per token and head the encoding keeps d squares for the L2 norm (the RBF kernel
  `exp((x.a/|x| - 1)/sigma)` needs unit x), one multiply of the rsqrt by `1/(sigma sqrt(d))` and one scale per
  anchor, i.e. d + 1 + m multiplications, plus d per query to divide by the normaliser. `mult_cut` = 1 -
  hash/softmax; `hash_real_mults` / `real_mult_cut` count the same attention with real-valued anchors and
  projection (d + m d + m + m b per token and head), which at 16 tokens costs more than softmax. Those are the float
  model's arithmetic; what the deployed integer graph executes is beside them: `*_executed_mults` / `*_executed_adds`
  (the attention block as `edgefmr.quant` lowers it, from the Q, K, V linears to the merged output, counted by the IR
  ops with the Cortex-M kernels' forms: HASH_ENCODE's anchor and projection products are sign selections, the
  popcount form of HASH_ATTENTION multiplies similarities by values; see bench/attention_scaling.py),
  `executed_mult_cut`, and the executed instructions measured on the Cortex-M4 (`*_instructions`,
  `instructions_ratio` = hash / softmax, from bench/results/attention_scaling.json, which `make bench` writes first).
* **Spiking and LMU rows**: the acceptance spiking transformer (digits) and LMUFormers (`SPIKING_ACCEPTANCE`,
  `LMU_ACCEPTANCE` below) trained by the common trainer, with firing rates and op counts for the spiking ones and the
  LMU's parallel/sequential agreement.
"""

VIT_CONFIG: dict[str, Any] = {
    "patch_size": 2,
    "embed_dim": 64,
    "heads": 4,
    "depth": 2,
    "mlp_ratio": 2.0,
    "pooling": "mean",
    "activation": "gelu",
    "hash_bits": 16,
    "hash_anchors": 8,
    "hash_binary": True,
}
VIT_TRAIN: dict[str, Any] = {"epochs": 100, "lr": 3e-3, "batch_size": 64, "label_smoothing": 0.1}
SEEDS = (0, 1, 2, 3, 4)
TOKENS = (16, 64, 256)


def vit_records(seeds: tuple[int, ...] = SEEDS, progress: bool = False) -> list[dict[str, Any]]:
    """Train the ViT with every attention variant on digits; one record per variant (mean over seeds)."""

    task = load_task("digits")
    records: list[dict[str, Any]] = []
    for variant in ATTENTIONS:
        cfg = ViTConfig.from_dict({**VIT_CONFIG, "attention": variant})
        accs, train_accs, seconds = [], [], []
        model = None
        for seed in seeds:
            t0 = time.perf_counter()
            model, metrics = train("vit", task, cfg, seed=seed, progress=progress, **VIT_TRAIN)
            seconds.append(time.perf_counter() - t0)
            accs.append(metrics["accuracy"])
            train_accs.append(metrics["train_accuracy"])
        assert model is not None
        records.append({
            "family": "vit",
            "attention": variant,
            "task": task.name,
            "params": params(model),
            "macs": macs(model, task.input_shape),
            "float_accuracy": round(statistics.mean(accs), 4),
            "seed_accuracies": [round(a, 4) for a in accs],
            "seeds": list(seeds),
            "train_accuracy": round(statistics.mean(train_accs), 4),
            "train_seconds": round(statistics.mean(seconds), 1),
            "epochs": VIT_TRAIN["epochs"],
            "tokens": model.n_tokens,
            "config": cfg.to_dict(),
        })
    soft = next(r for r in records if r["attention"] == "softmax")["float_accuracy"]
    for r in records:
        r["delta_vs_softmax_pp"] = round(100 * (r["float_accuracy"] - soft), 2)
    return records


def hash_cost_records() -> list[dict[str, Any]]:
    """Multiplications/additions of softmax vs hash attention (one layer of the ViT) at 16, 64, 256 tokens."""


    heads, d = VIT_CONFIG["heads"], VIT_CONFIG["embed_dim"] // VIT_CONFIG["heads"]
    bits, anchors = VIT_CONFIG["hash_bits"], VIT_CONFIG["hash_anchors"]
    rows = []
    for n in TOKENS:
        s = attention_op_counts("softmax", n, d, heads)
        h = attention_op_counts("hash", n, d, heads, hash_bits=bits, hash_anchors=anchors,
                                hash_binary=VIT_CONFIG["hash_binary"])
        r = attention_op_counts("hash", n, d, heads, hash_bits=bits, hash_anchors=anchors, hash_binary=False)
        rows.append({
            "family": "vit",
            "attention": "hash",
            "kind": "op-count",
            "tokens": n,
            "heads": heads,
            "head_dim": d,
            "hash_bits": bits,
            "hash_anchors": anchors,
            "hash_binary": VIT_CONFIG["hash_binary"],
            "softmax_mults": s["mults"],
            "softmax_qk_mults": s["qk_mults"],
            "softmax_adds": s["adds"],
            "hash_mults": h["mults"],
            "hash_qk_mults": h["qk_mults"],
            "hash_adds": h["adds"],
            "mult_cut": round(1 - h["mults"] / s["mults"], 4),
            "hash_real_mults": r["mults"],
            "real_mult_cut": round(1 - r["mults"] / s["mults"], 4),
            "hash_mults_per_token": round(h["mults"] / n, 1),
            "softmax_mults_per_token": round(s["mults"] / n, 1),
            **deployed_counts(n),
        })
    return rows


def deployed_counts(n: int) -> dict[str, Any]:
    """What the deployed integer graphs of one attention layer execute at n tokens (the blocks of
    bench/attention_scaling.py: IR op counts with the Cortex-M kernels' forms) and, when
    bench/results/attention_scaling.json holds them, their measured Cortex-M4 instructions."""
    from bench.attention_scaling import RESULTS, block_graph, graph_counts

    out: dict[str, Any] = {}
    for variant in ("softmax", "hash"):
        counts = graph_counts(block_graph(variant, n)[0])
        out[f"{variant}_executed_mults"] = counts["mults"]
        out[f"{variant}_executed_adds"] = counts["adds"]
    out["executed_mult_cut"] = round(1 - out["hash_executed_mults"] / out["softmax_executed_mults"], 4)
    path = RESULTS / "attention_scaling.json"
    measured = json.loads(path.read_text()) if path.is_file() else []
    inst = {r["attention"]: r["instructions"] for r in measured if r.get("kind") == "block" and r["tokens"] == n}
    out["softmax_instructions"] = inst.get("softmax")
    out["hash_instructions"] = inst.get("hash")
    out["instructions_ratio"] = round(inst["hash"] / inst["softmax"], 3) if len(inst) >= 2 else None
    return out


# ------------------------------------------------------------------------------ spiking and LMU families

def train_and_record(family: str, cfg: FamilyConfig, spec: dict[str, Any], progress: bool = False
                     ) -> tuple[nn.Module, Task, dict[str, Any]]:
    """Train ``cfg`` on ``spec["task"]`` with the common trainer and return (model, task, record).

    ``spec`` holds ``task``, ``epochs``, ``lr``, ``batch_size``, ``seed``. The record has the fields of
    ``bench/results/families.json``: family, attention, task, params, macs, float_accuracy,
    train_seconds, plus epochs, seed, config and train_accuracy.
    """
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    task = load_task(spec["task"])
    t0 = time.perf_counter()
    model, metrics = train(family, task, cfg, epochs=spec["epochs"], lr=spec["lr"],
                           batch_size=spec["batch_size"], seed=spec["seed"], progress=progress)
    seconds = time.perf_counter() - t0
    record = {
        "family": family,
        "attention": getattr(cfg, "attention", "none") if isinstance(getattr(cfg, "attention", "none"), str)
        else ",".join(cfg.attention),  # type: ignore[attr-defined]
        "task": task.name,
        "params": params(model),
        "macs": macs(model, task.input_shape),
        "float_accuracy": round(metrics["accuracy"], 4),
        "train_accuracy": round(metrics["train_accuracy"], 4),
        "train_seconds": round(seconds, 1),
        "epochs": spec["epochs"],
        "seed": spec["seed"],
        "config": cfg.to_dict(),
    }
    return model, task, record


SPIKING_ACCEPTANCE = {
    "task": "digits",
    "config": {"T": 4, "embed_dim": 64, "depth": 1, "patch_size": 2, "stem_dim": 32, "mlp_ratio": 4.0},
    "epochs": 25,
    "lr": 3e-3,
    "batch_size": 64,
    "seed": 0,
}


def spiking_records(progress: bool = False, specs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Train the acceptance spiking transformer (digits) and return its bench record(s)."""

    records = []
    for spec in specs or [SPIKING_ACCEPTANCE]:
        cfg = SpikingConfig.from_dict(spec["config"])
        model, task, rec = train_and_record("spiking", cfg, spec, progress)
        rec.update(snn_record_fields(model, task.x_test))
        records.append(rec)
    return records


_BASE = {"order": 32, "hidden": 64, "memory_size": 16, "depth": 1, "patch": 2, "kernel": 4}
_SPIKING = {"order": 16, "hidden": 64, "memory_size": 8, "depth": 1, "patch": 1, "kernel": 3, "spiking": True,
            "pool": "mean", "threshold": 0.5}
_TRAIN = {"lr": 3e-3, "batch_size": 64, "seed": 0}
LMU_ACCEPTANCE: list[dict[str, Any]] = [
    {"task": "seq-digits", "config": _BASE, "epochs": 15, **_TRAIN},
    {"task": "pseq-digits", "config": _BASE, "epochs": 15, **_TRAIN},
    {"task": "kws-synth", "config": _BASE, "epochs": 15, **_TRAIN},
    {"task": "seq-digits", "config": _SPIKING, "epochs": 20, **_TRAIN},
]


def lmu_records(progress: bool = False, specs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Train the acceptance LMUFormers and return one record each, with the parallel/sequential agreement
    (the trained model in float32 and as a float64 copy) and, for the spiking one, firing rates and op
    counts."""
    records = []
    for spec in specs or LMU_ACCEPTANCE:
        cfg = LMUConfig.from_dict(spec["config"])
        model, task, rec = train_and_record("lmu", cfg, spec, progress)
        assert isinstance(model, LMUFormer)
        rec["spiking"] = cfg.spiking
        x = torch.as_tensor(task.x_test)
        a32 = stream_agreement(model, x)
        a64 = stream_agreement(copy.deepcopy(model).double(), x.double())
        rec["parallel_vs_sequential_max_abs_diff"] = a32["parallel_vs_sequential"]
        rec["parallel_vs_sequential_max_abs_diff_float64"] = a64["parallel_vs_sequential"]
        rec["memory_parallel_vs_sequential_max_abs_diff"] = a32["memory_parallel_vs_sequential"]
        rec["memory_parallel_vs_sequential_max_abs_diff_float64"] = a64["memory_parallel_vs_sequential"]
        rec["stream_vs_whole_max_abs_diff"] = a32["stream_vs_whole"]
        rec["stream_prediction_agreement"] = a32["prediction_agreement"]
        if cfg.spiking:
            rec.update(snn_record_fields(model, task.x_test))
        records.append(rec)
    return records


def run() -> list[dict[str, Any]]:

    torch.set_num_threads(1)
    return vit_records() + hash_cost_records() + spiking_records() + lmu_records()
