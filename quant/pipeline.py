"""The whole quantization stage for one model and task: checks, calibration (and QAT), lowering, evaluation of the
integer model on the IR reference interpreter, and the report. Used by ``edgefmr quantize`` and the benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgefmr.errors import EdgefmrError
from edgefmr.ir import Graph, graph_hash
from edgefmr.nas.tasks import load_task
from edgefmr.nas.train import load_checkpoint
from edgefmr.quant.lowering import FLOAT, Lowering
from edgefmr.quant.quantizer import (
    QuantizedModel,
    QuantOptions,
    batches,
    check_binarize,
    evaluate_ir,
    float_logits,
    options_dict,
    program_of,
    quantize,
)
from edgefmr.quant.report import activation_stats, graph_counts, outlier_summary

#: Names accepted by ``--attention`` (``clipped`` is ``softmax`` with ``--softmax clipped``).
ATTENTION_NAMES = ("softmax", "gated", "hash", "sdsa")
#: A float accuracy below this multiple of chance (1 / classes) means an untrained or foreign model.
CHANCE_FACTOR = 1.5

Progress = Callable[[str, int, int], None]


def model_attention(family: str, model: nn.Module) -> list[str]:
    """The attention variant of every layer (empty for a model without attention)."""
    cfg = model.cfg
    if family in ("vit", "spiking"):
        return list(cfg.layer_attention())
    return []


def lowered_attention(layers: list[str], softmax: str | None) -> list[str]:
    """The variants the integer model uses after a ``--softmax`` override."""
    if softmax is None:
        return list(layers)
    return [("clipped" if softmax == "clipped" else "softmax") if a in ("softmax", "clipped") else
            (f"gated+{softmax}" if a == "gated" and softmax == "clipped" else a) for a in layers]


def check_attention(where: str, family: str, layers: list[str], attention: str | None) -> None:
    """``--attention`` must name a known variant that the model was trained with."""
    if attention is None:
        return
    if attention not in ATTENTION_NAMES:
        extra = " (clipped softmax is --attention softmax --softmax clipped)" if attention == "clipped" else ""
        raise EdgefmrError(f"unknown attention {attention!r}; valid: {', '.join(ATTENTION_NAMES)}{extra}")
    if not layers:
        raise EdgefmrError(f"{where}: the {family} model has no attention layers; --attention does not apply")
    base = ["softmax" if a == "clipped" else a for a in layers]
    if attention not in base:
        raise EdgefmrError(f"{where}: the model was trained with {', '.join(sorted(set(base)))} attention; "
                           f"--attention {attention} needs a model trained with it (its weights differ)")


def check_task(where: str, info: dict[str, Any], task: Any) -> None:
    """The task's input shape and classes must be the model's."""
    shape = tuple(info["input_shape"])
    if tuple(task.input_shape) != shape:
        raise EdgefmrError(f"task {task.name}: inputs are {list(task.input_shape)} but {where} expects "
                           f"{list(shape)} (trained on {info.get('task', '?')})")
    if int(task.n_classes) != int(info["n_classes"]):
        raise EdgefmrError(f"task {task.name}: {task.n_classes} classes but {where} has {info['n_classes']} outputs")


def check_trained(where: str, info: dict[str, Any]) -> None:
    """A checkpoint written without training metrics is untrained."""
    metrics = info.get("metrics") or {}
    if "accuracy" not in metrics or not metrics.get("epochs", 1):
        raise EdgefmrError(f"{where}: the checkpoint has no training record (untrained model); train it first "
                           "with edgefmr train")


@dataclass
class QuantResult:
    qm: QuantizedModel
    graph: Graph
    report: dict[str, Any]


def quantize_task(model: nn.Module, family: str, task: Any, options: QuantOptions, *, where: str = "model",
                  progress: Progress | None = None, eval_samples: int | None = None,
                  metadata: dict[str, Any] | None = None) -> QuantResult:
    """Quantize ``model`` for ``task`` and evaluate the integer model on the IR interpreter (the test set, or its
    first ``eval_samples``)."""
    t0 = time.perf_counter()
    x_test, y_test = task.x_test, task.y_test
    if eval_samples is not None:
        x_test, y_test = x_test[:eval_samples], y_test[:eval_samples]
    options.check()
    model.eval()
    with torch.no_grad():
        model_pred = np.concatenate([model(xb).argmax(-1).numpy() for xb in batches(x_test, 256)])
    model_acc = float((model_pred == y_test).mean())
    chance = 1.0 / task.n_classes
    if model_acc < CHANCE_FACTOR * chance:
        raise EdgefmrError(f"{where}: float accuracy {100 * model_acc:.1f}% on {task.name} is at chance level "
                           f"({100 * chance:.0f}%); the model looks untrained or trained for another task")
    # the float reference of the lowered function (with its softmax override and binarized layers), before QAT
    float_pred = float_logits(family, model, x_test, options).argmax(-1).numpy()
    float_acc = float((float_pred == y_test).mean())
    if progress:
        progress("calibrate", 0, 1)
    qm = quantize(model, family, task.x_train, options, x_train=task.x_train, y_train=task.y_train,
                  progress=progress)
    if progress:
        progress("calibrate", 1, 1)
    layers = model_attention(family, model)
    meta = {"task": task.name, "method": options.method,
            "attention": lowered_attention(layers, options.softmax), **(metadata or {})}
    g = qm.graph(metadata=meta)
    ir = evaluate_ir(g, x_test, y_test, (lambda i, n: progress("evaluate on the IR interpreter", i, n))
                     if progress else None)
    fq = qm.int_logits(x_test)
    mismatched = int((fq != ir["logits"]).any(axis=1).sum())
    counts = graph_counts(g)
    report: dict[str, Any] = {
        "model": where,
        "family": family,
        "task": task.name,
        "method": options.method,
        "softmax": options.softmax or "model",
        "attention": meta["attention"],
        "binarized": g.metadata.get("binarized", []),
        "float_accuracy": round(float_acc, 4),
        "model_float_accuracy": round(model_acc, 4),
        **({"qat_tuned_float_accuracy": round(float((qm.float_logits(x_test).argmax(-1).numpy() == y_test).mean()),
                                              4)} if options.method == "qat" else {}),
        "int_accuracy": round(ir["accuracy"], 4),
        "accuracy_drop_pp": round(100 * (float_acc - ir["accuracy"]), 2),
        "test_samples": len(y_test),
        "int_accuracy_measured_on": "IR reference interpreter (edgefmr.ir.run)",
        "fake_quant_equals_ir": mismatched == 0,
        "fake_quant_mismatched_samples": mismatched,
        **{k: round(v, 4) for k, v in outlier_summary(qm).items()},
        "macs": counts["macs"],
        "op_totals": counts["totals"],
        "attention_ops": counts["attention"],
        "attention_layers": counts["attention_layers"],
        "ops": counts["ops"],
        "nodes": counts["nodes"],
        "weight_bytes": counts["weight_bytes"],
        "model_hash": graph_hash(g),
        "activations": activation_stats(qm),
        "options": options_dict(options),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return QuantResult(qm, g, report)


def check_options(model: nn.Module, family: str, options: QuantOptions) -> None:
    """Validate the options against the model before any work: one float pass on a zero sample collects the
    linear layers that --binarize patterns must match."""

    options.check()
    ctx = Lowering(FLOAT, binarize=options.binarize)
    with torch.no_grad():
        program_of(family)(ctx, model.eval(), torch.zeros(1, *model.input_shape), options.program_options())
    check_binarize(options.binarize, ctx.linear_keys, ctx.binarized)


def load_for_quantize(path: str | Path, task_name: str, attention: str | None = None
                      ) -> tuple[nn.Module, dict[str, Any], Any]:
    """Load and check a checkpoint and a task: (model, info, task)."""

    if attention is not None and attention not in ATTENTION_NAMES:
        check_attention(str(path), "", [], attention)
    model, info = load_checkpoint(path)
    family = info["family"]
    check_attention(str(path), family, model_attention(family, model), attention)
    check_trained(str(path), info)
    task = load_task(task_name)
    check_task(str(path), info, task)
    return model, info, task
