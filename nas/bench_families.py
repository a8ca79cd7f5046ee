"""Shared helper of the spiking and LMU benchmark records (``bench_records()`` in spiking.py and lmu.py)."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from edgefmr.nas.models.config import FamilyConfig
from edgefmr.nas.models.macs import macs, params
from edgefmr.nas.tasks import Task, load_task
from edgefmr.nas.train import train


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
