"""The common trainer for every family, evaluation and the checkpoint format.

``train(family, task, cfg, ...)`` builds ``Model(cfg, task.input_shape, task.n_classes)`` from
:data:`edgefmr.nas.models.families.FAMILIES` and trains it with AdamW (no weight decay on 1-D parameters:
norms, biases), a linear warm-up then cosine learning-rate schedule, cross-entropy, gradient
clipping at norm 1.0 and, for image tasks, random shifts of up to ``shift`` pixels (zero fill).
Everything random (initialisation, batch order, augmentation) comes from ``seed``, so a run is
reproducible on the same machine and thread count.

Optional hooks a model may define (the protocol for every family):

* ``extra_loss() -> Tensor | None`` - called after each training forward pass; a returned scalar
  is added to the loss (e.g. the hash-function loss of EcoFormer attention, a firing-rate
  regulariser). Return ``None`` to add nothing.
* ``train_step_hook(step: int, total_steps: int) -> None`` - called after each optimizer step
  (e.g. refreshing anchors, annealing a temperature). ``step`` counts from 1.
* ``TRAIN_DEFAULTS = {"epochs": ..., "lr": ..., "batch_size": ..., ...}`` (class attribute, any
  subset) - the family's defaults used by ``edgefmr train`` when the options are not given
  (:func:`train_defaults`); other keys are keyword arguments of :func:`train` (``label_smoothing``,
  ``weight_decay``, ``shift``, ``warmup_fraction``).

Checkpoints (:func:`save_checkpoint`) are dicts saved with ``torch.save`` holding only plain
values and tensors, so :func:`load_checkpoint` reads them with ``weights_only=True``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgefmr import __version__
from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.config import FamilyConfig
from edgefmr.nas.models.families import get_family
from edgefmr.nas.tasks import Task

CHECKPOINT_FORMAT = "edgefmr-checkpoint"
CHECKPOINT_VERSION = 1
TRAIN_DEFAULTS: dict[str, Any] = {"epochs": 30, "lr": 2e-3, "batch_size": 64}


def train_defaults(family: str) -> dict[str, Any]:
    """Default ``epochs``, ``lr`` and ``batch_size`` of a family: :data:`TRAIN_DEFAULTS` updated by the
    model class's optional ``TRAIN_DEFAULTS`` dict."""
    _, model_cls = get_family(family)
    return {**TRAIN_DEFAULTS, **getattr(model_cls, "TRAIN_DEFAULTS", {})}


def make_config(family: str, cfg: FamilyConfig | dict[str, Any] | None) -> FamilyConfig:
    """The family's config from a config object, a dict (strictly checked) or ``None`` (defaults)."""
    cfg_cls, _ = get_family(family)
    if cfg is None:
        return cfg_cls()
    if isinstance(cfg, dict):
        return cfg_cls.from_dict(cfg)
    if not isinstance(cfg, cfg_cls):
        raise EdgefmrError(f"family '{family}' needs a {cfg_cls.__name__}, got {type(cfg).__name__}")
    return cfg


def build_model(family: str, cfg: FamilyConfig | dict[str, Any] | None, input_shape: tuple[int, ...],
                n_classes: int) -> nn.Module:
    """Instantiate a family's model."""
    _, model_cls = get_family(family)
    return model_cls(make_config(family, cfg), tuple(input_shape), int(n_classes))


def shift_images(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image [B, C, H, W] by a random integer offset in [-max_shift, max_shift]^2, zero fill."""
    if max_shift <= 0:
        return x
    b, _, h, w = x.shape
    s = max_shift
    xp = nn.functional.pad(x, (s, s, s, s))
    dy = torch.randint(-s, s + 1, (b,), generator=gen)
    dx = torch.randint(-s, s + 1, (b,), generator=gen)
    out = torch.empty_like(x)
    for oy in range(-s, s + 1):
        for ox in range(-s, s + 1):
            m = (dy == oy) & (dx == ox)
            if m.any():
                out[m] = xp[m, :, s + oy : s + oy + h, s + ox : s + ox + w]
    return out


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Class predictions [N] of a model in eval mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    xt = torch.as_tensor(np.asarray(x, np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    preds = [model(xt[i : i + batch_size]).argmax(-1) for i in range(0, len(xt), batch_size)]
    model.train(was_training)
    return torch.cat(preds).numpy() if preds else np.zeros(0, np.int64)


def evaluate(model: nn.Module, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Accuracy in [0, 1] of ``model`` on (x, y)."""
    y = np.asarray(y)
    if len(y) == 0:
        raise EdgefmrError("cannot evaluate on an empty set")
    return float((predict(model, x) == y).mean())


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def train(family: str, task: Task, cfg: FamilyConfig | dict[str, Any] | None = None, epochs: int = 30,
          lr: float = 3e-3, batch_size: int = 64, seed: int = 0, progress: bool = True, *,
          weight_decay: float = 0.05, warmup_fraction: float = 0.05, shift: int | None = None,
          label_smoothing: float = 0.0, init_state: dict[str, torch.Tensor] | None = None,
          teacher: nn.Module | None = None, distill_weight: float = 0.5, distill_temperature: float = 2.0
          ) -> tuple[nn.Module, dict[str, Any]]:
    """Train a family's model on a task; returns (model in eval mode, metrics).

    ``shift``: random-shift augmentation in pixels for image tasks (default 1; 0 turns it off;
    ignored for sequence tasks). ``init_state``: start from these weights (fine-tuning, e.g. a
    softmax model turned into a hash-attention one, as EcoFormer does): see :func:`load_matching`.
    ``teacher``: knowledge distillation (Hinton et al. 2015) from a trained model of the same task (e.g. the
    softmax-attention ViT of a hash-attention one): the loss is ``(1 - w) * task loss + w * T^2 *
    KL(softmax(teacher / T) || softmax(student / T))`` with ``w = distill_weight``, ``T = distill_temperature``,
    the teacher in eval mode on the same (augmented) batch; see :func:`distill_loss`.
    Metrics: ``accuracy`` (test), ``train_accuracy``, ``final_loss`` (mean over the last epoch),
    ``train_seconds``, ``epochs``, ``params``, ``seed`` and, with ``init_state``, ``new_keys``.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise EdgefmrError(f"epochs and batch_size must be >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
    if teacher is not None and not (0.0 <= distill_weight <= 1.0 and distill_temperature > 0):
        raise EdgefmrError(f"distill_weight must be in [0, 1] and distill_temperature > 0, got {distill_weight}, "
                           f"{distill_temperature}")
    if teacher is not None:
        teacher.eval()
    cfg = make_config(family, cfg)
    # Denormal floats appear when fine-tuning inherited supernet weights and make CPU arithmetic several times
    # slower; flushing them to zero (values below 1.2e-38) changes no result we can see.
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    model = build_model(family, cfg, task.input_shape, task.n_classes)
    new_keys = load_matching(model, init_state) if init_state is not None else None
    gen = torch.Generator().manual_seed(seed)
    if shift is None:
        shift = 1 if task.kind == "image" else 0
    if task.kind != "image":
        shift = 0

    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    x = torch.as_tensor(task.x_train)
    y = torch.as_tensor(task.y_train)
    n = len(y)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    warmup = max(1, int(warmup_fraction * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, total, warmup))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    extra = getattr(model, "extra_loss", None)
    hook = getattr(model, "train_step_hook", None)

    bar = None
    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.table import Column

        # the commands' layout (edgefmr.commands._term.progress_bar): numbers and times never cut
        bar = Progress(TextColumn("{task.description}", table_column=Column(no_wrap=True)), BarColumn(bar_width=10),
                       MofNCompleteColumn(table_column=Column(no_wrap=True)),
                       TimeRemainingColumn(table_column=Column(no_wrap=True, min_width=7)),
                       TextColumn("{task.fields[info]}", table_column=Column(overflow="fold", ratio=1)),
                       console=Console(stderr=True), transient=False)
        bar_task = bar.add_task(f"train {family} on {task.name}", total=epochs, info="")
        bar.start()
    t0 = time.perf_counter()
    step = 0
    epoch_loss = float("nan")
    try:
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(n, generator=gen)
            losses = []
            for i in range(0, n, batch_size):
                idx = perm[i : i + batch_size]
                xb, yb = x[idx], y[idx]
                if shift:
                    xb = shift_images(xb, shift, gen)
                logits = model(xb)
                loss = loss_fn(logits, yb)
                if teacher is not None:
                    with torch.no_grad():
                        t_logits = teacher(xb)
                    loss = (1.0 - distill_weight) * loss + distill_weight * distill_loss(
                        logits, t_logits, distill_temperature)
                if extra is not None:
                    e = extra()
                    if e is not None:
                        loss = loss + e
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                step += 1
                if hook is not None:
                    hook(step, total)
                losses.append(loss.item())
            epoch_loss = float(np.mean(losses))
            if not math.isfinite(epoch_loss):
                raise EdgefmrError(f"training diverged (loss {epoch_loss}) in epoch {epoch + 1}; "
                                   "try a lower lr")
            if bar is not None:
                bar.update(bar_task, advance=1, info=f"loss {epoch_loss:.3f}")
    finally:
        if bar is not None:
            bar.stop()
    seconds = time.perf_counter() - t0
    model.eval()
    metrics = {
        "accuracy": evaluate(model, task.x_test, task.y_test),
        "train_accuracy": evaluate(model, task.x_train, task.y_train),
        "final_loss": epoch_loss,
        "train_seconds": seconds,
        "epochs": epochs,
        "params": sum(p.numel() for p in model.parameters()),
        "seed": seed,
    }
    if new_keys is not None:
        metrics["new_keys"] = new_keys
    return model, metrics


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, mean over the batch (logits [B, C])."""
    t = float(temperature)
    log_p = torch.log_softmax(teacher / t, dim=-1)
    log_q = torch.log_softmax(student / t, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1).mean() * t * t


def load_matching(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy the entries of ``state`` whose names the model has; returns the model's keys left as initialised.

    Entries the model lacks are ignored (e.g. a hash layer's parameters when going back to softmax);
    a shared name with another shape is an EdgefmrError, and so is a state with no shared name.
    """
    own = model.state_dict()
    shared = [k for k in state if k in own]
    if not shared:
        raise EdgefmrError("the initial weights share no parameter with the model (another family or architecture?)")
    wrong = [k for k in shared if tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        raise EdgefmrError(f"the initial weights do not fit the model: {wrong[0]} has shape "
                           f"{list(state[wrong[0]].shape)}, the model {list(own[wrong[0]].shape)}")
    model.load_state_dict({k: state[k] for k in shared}, strict=False)
    return [k for k in own if k not in state]


def save_checkpoint(path: str | Path, family: str, cfg: FamilyConfig, task_name: str,
                    input_shape: tuple[int, ...], n_classes: int, model: nn.Module,
                    metrics: dict[str, Any] | None = None) -> None:
    """Write a checkpoint: family, config dict, task, input shape, classes, state dict, metrics, version."""
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "edgefmr_version": __version__,
        "family": family,
        "config": cfg.to_dict(),
        "task": task_name,
        "input_shape": [int(s) for s in input_shape],
        "n_classes": int(n_classes),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": dict(metrics or {}),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Read a checkpoint; returns (model in eval mode, info dict without the state dict)."""
    p = Path(path)
    if not p.is_file():
        raise EdgefmrError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for foreign files
        raise EdgefmrError(f"{path}: not an edgefmr checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise EdgefmrError(f"{path}: not an edgefmr checkpoint (no '{CHECKPOINT_FORMAT}' format tag)")
    if ckpt.get("format_version") != CHECKPOINT_VERSION:
        raise EdgefmrError(f"{path}: checkpoint format version {ckpt.get('format_version')} is not supported "
                           f"(this edgefmr reads version {CHECKPOINT_VERSION})")
    for k in ("family", "config", "input_shape", "n_classes", "state_dict"):
        if k not in ckpt:
            raise EdgefmrError(f"{path}: checkpoint lacks '{k}'")
    family = ckpt["family"]
    config = dict(ckpt["config"])
    if family == "vit" and "hash_binary" not in config:
        config["hash_binary"] = False  # saved before binarized hash anchors existed: real-valued, as trained
    try:
        model = build_model(family, config, tuple(ckpt["input_shape"]), ckpt["n_classes"])
    except EdgefmrError as e:
        raise EdgefmrError(f"{path}: {e}") from None
    sd = ckpt["state_dict"]
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}")
        if wrong:
            parts.append(f"shape mismatch {wrong[:3]}")
        raise EdgefmrError(f"{path}: state dict does not match the {family} model of its config: "
                           f"{'; '.join(parts)}")
    model.load_state_dict(sd)
    model.eval()
    info = {k: v for k, v in ckpt.items() if k != "state_dict"}
    info["input_shape"] = tuple(info["input_shape"])
    return model, info
