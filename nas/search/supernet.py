"""One-shot weight-sharing supernets: every point of a search space is a slice of one set of weights.

As in AutoFormer (Chen et al., ICCV 2021) and HAT (Wang et al., ACL 2020), a subnet's weights are the leading part
of the supernet's: a linear ``d_in -> d_out`` of a subnet uses ``W[:d_out, :d_in]``, a LayerNorm of width d uses
the first d entries, layer i of a shallower subnet is layer i of the supernet. A subnet *is* the family's own model
(:func:`edgefmr.nas.train.build_model`), so no family is re-implemented: during training its forward pass runs
with the sliced supernet tensors (``torch.func.functional_call``), so gradients reach the shared weights; for
evaluation its state dict is the slices (:meth:`Supernet.state_for`).

Slicing rules beyond the leading slice (:data:`RULES`):

* **grid** - a dimension made of blocks is sliced block by block: the fused Q/K/V output ``3 d`` is three blocks of
  d (so q, k and v each keep their own rows), the LMU's ``W_m`` input ``memory_size x order`` is a grid of memories;
  the supernet stores such tensors with the grid expanded (``[3, D, D]`` for ``[3 D, D]``);
* **keyed** - parameters whose meaning changes with a choice (the patch embedding and position table with the patch
  size) have one supernet copy per choice.

The supernet's tensors have the largest extent any point needs: the space's :meth:`~Space.extremes` are built and
the element-wise maximum of their (expanded) shapes is kept; their initial weights are copied from those models.
Buffers (BatchNorm running statistics, EcoFormer hash anchors statistics) are shared the same way, as views, so
updates made in a subnet's forward pass land in the supernet.

**Training** (:func:`train_supernet`): the sandwich rule of BigNAS (Yu et al., ECCV 2020): every step trains the
largest subnet (size dimensions at their maximum, the others random), the smallest and ``n_random`` random subnets
on the same batch, accumulating gradients, then one AdamW step (warm-up, cosine schedule, gradient clipping at 1).
With ``distill`` the subnets other than the largest learn the largest's soft predictions (BigNAS's in-place
distillation); it is off by default because with the short schedules used here an untrained teacher slows
learning down (measured on digits: 25 % against 46 % validation accuracy of the largest ViT after 4 epochs).

A fixed part of the training set
(``val_fraction``) is held out: subnets are scored on it, never on the test set.

**Evaluation**: a subnet with inherited weights; models with BatchNorm get their running statistics recomputed on
``recal_batches`` fixed training batches first (statistics of the shared supernet do not match any one subnet).

**Cache**: a trained supernet is saved under :func:`cache_dir` (``$EDGEFMR_CACHE_DIR/supernets``, else
``$XDG_CACHE_HOME/edgefmr/supernets``, else ``~/.cache/edgefmr/supernets``) named by family, task and a hash of
(space, settings, task data); :func:`load_or_train` trains it once (a file lock keeps concurrent processes on one
machine from training it twice) and loads it afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import fnmatch
import hashlib
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.config import FamilyConfig
from edgefmr.nas.models.layers import LowRankLinear
from edgefmr.nas.search.space import Space, arch_key
from edgefmr.nas.tasks import Task, split_indices
from edgefmr.nas.train import build_model, shift_images

FORMAT = "edgefmr-supernet"
VERSION = 1
CACHE_ENV = "EDGEFMR_CACHE_DIR"
VAL_SEED = 7

GridFn = Callable[[FamilyConfig], tuple[int, ...]]


@dataclass(frozen=True)
class Rules:
    """How a family's parameters map onto supernet tensors (see the module docstring)."""

    keyed: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name pattern, config keys)
    grid: tuple[tuple[str, int, GridFn], ...] = ()  # (name pattern, dim, grid of that dim)


def _qkv(c: FamilyConfig) -> tuple[int, ...]:
    return (3, c.embed_dim)  # type: ignore[attr-defined]


RULES: dict[str, Rules] = {
    "vit": Rules(keyed=(("patch_embed.*", ("patch_size",)), ("pos_embed", ("patch_size",))),
                 grid=(("blocks.*.attn.qkv.full.*", 0, _qkv), ("blocks.*.attn.qkv.up.*", 0, _qkv))),
    "spiking": Rules(keyed=(("patch.*", ("patch_size",)),),
                     grid=(("blocks.*.attn.attn.qkv.full.*", 0, _qkv), ("blocks.*.attn.attn.qkv.up.*", 0, _qkv))),
    "lmu": Rules(grid=(("blocks.*.w_m.weight", 1, lambda c: (c.memory_size, c.order)),)),  # type: ignore[attr-defined]
}


@dataclass(frozen=True)
class SupernetSettings:
    """How a supernet is trained and its subnets scored (part of the cache key)."""

    epochs: int = 20
    lr: float = 2e-3
    batch_size: int = 64
    n_random: int = 2
    distill: bool = False
    weight_decay: float = 0.05
    val_fraction: float = 0.15
    recal_batches: int = 4
    seed: int = 0

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.n_random < 0 or self.recal_batches < 1:
            raise EdgefmrError("supernet settings: epochs, batch_size and recal_batches must be >= 1, n_random >= 0")
        if self.lr <= 0 or not 0 < self.val_fraction < 0.5:
            raise EdgefmrError("supernet settings: lr must be > 0 and val_fraction in (0, 0.5)")


def split_validation(task: Task, fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val): a fixed stratified part of the task's training set held out for scoring."""
    tr, va = split_indices(task.y_train, fraction, seed=VAL_SEED)
    if len(va) == 0 or len(tr) == 0:
        raise EdgefmrError(f"task {task.name}: too few training samples ({len(task.y_train)}) to hold out a "
                           "validation part for the search")
    return task.x_train[tr], task.y_train[tr], task.x_train[va], task.y_train[va]


def _state_tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor, bool]]:
    """(name, tensor, is_parameter) of every parameter and persistent buffer."""
    params = dict(model.named_parameters())
    for name, t in model.state_dict(keep_vars=True).items():
        yield name, t, name in params


def _virtual_shapes(model: nn.Module) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Shapes of both forms of every low-rank linear (full, and down/up at full rank): whether a layer is factored
    depends on its exact widths, so the supernet holds both forms at the largest widths."""

    for prefix, m in model.named_modules():
        if isinstance(m, LowRankLinear):
            i, o = m.in_features, m.out_features
            k = min(i, o)
            p = f"{prefix}." if prefix else ""
            yield f"{p}full.weight", (o, i)
            yield f"{p}full.bias", (o,)
            yield f"{p}down.weight", (k, i)
            yield f"{p}up.weight", (o, k)
            yield f"{p}up.bias", (o,)


class Supernet(nn.Module):
    """The shared weights of a family's search space for one task's input shape and classes."""

    def __init__(self, space: Space, input_shape: tuple[int, ...], n_classes: int, seed: int = 0) -> None:
        super().__init__()
        self.space, self.family = space, space.family
        self.input_shape, self.n_classes = tuple(input_shape), int(n_classes)
        self.rules = RULES.get(self.family, Rules())
        self.index: dict[str, tuple[bool, int]] = {}
        self.weights = nn.ParameterList()
        self._modules_cache: OrderedDict[str, nn.Module] = OrderedDict()
        torch.manual_seed(seed)
        extent: dict[str, list[int]] = {}
        is_param: dict[str, bool] = {}
        dtypes: dict[str, torch.dtype] = {}
        models = []
        for values in space.extremes():
            cfg = space.config(values)
            m = self._build(cfg)
            models.append((cfg, m))
            entries = [(name, tuple(t.shape), p, t.dtype) for name, t, p in _state_tensors(m)]
            entries += [(name, shape, True, torch.float32) for name, shape in _virtual_shapes(m)]
            for name, tshape, p, dtype in entries:
                key, shape = self._logical(name, tshape, cfg)
                if key in extent and len(extent[key]) != len(shape):
                    raise EdgefmrError(f"supernet {self.family}: tensor {name} changes rank between points")
                extent[key] = [max(a, b) for a, b in zip(extent.get(key, shape), shape, strict=True)]
                is_param[key] = p
                dtypes[key] = dtype
        n_buf = 0
        for key in sorted(extent):
            z = torch.zeros(extent[key], dtype=dtypes[key])
            if is_param[key] and z.ndim >= 2:  # regions no built point covers (low-rank forms) start random
                nn.init.uniform_(z, -1.0 / math.sqrt(z.shape[-1]), 1.0 / math.sqrt(z.shape[-1]))
            if is_param[key]:
                self.index[key] = (True, len(self.weights))
                self.weights.append(nn.Parameter(z))
            else:
                self.index[key] = (False, n_buf)
                self.register_buffer(f"buf{n_buf}", z)
                n_buf += 1
        with torch.no_grad():
            for cfg, m in models:
                for name, t, _ in _state_tensors(m):
                    key, shape = self._logical(name, tuple(t.shape), cfg)
                    sup = self.tensor(key)
                    sup[tuple(slice(0, s) for s in shape)] = t.detach().reshape(shape)

    # -------------------------------------------------------------------------------------- mapping
    def _build(self, cfg: FamilyConfig) -> nn.Module:

        return build_model(self.family, cfg, self.input_shape, self.n_classes)

    def _logical(self, name: str, shape: tuple[int, ...], cfg: FamilyConfig) -> tuple[str, tuple[int, ...]]:
        """The supernet key of a subnet tensor and its shape with grid dimensions expanded."""
        key = name
        for pattern, keys in self.rules.keyed:
            if fnmatch.fnmatchcase(name, pattern):
                key = name + "@" + ",".join(f"{k}={getattr(cfg, k)}" for k in keys)
                break
        for pattern, dim, fn in self.rules.grid:
            if fnmatch.fnmatchcase(name, pattern):
                grid = tuple(int(g) for g in fn(cfg))
                if math.prod(grid) != shape[dim]:
                    raise EdgefmrError(f"supernet {self.family}: {name} dim {dim} is {shape[dim]}, not the grid {grid}")
                shape = shape[:dim] + grid + shape[dim + 1:]
                break
        return key, shape

    def tensor(self, key: str) -> torch.Tensor:
        is_p, i = self.index[key]
        return self.weights[i] if is_p else getattr(self, f"buf{i}")

    def sliced(self, cfg: FamilyConfig, module: nn.Module) -> dict[str, torch.Tensor]:
        """The subnet's tensors as slices of the supernet's (differentiable; buffers are views)."""
        out = {}
        for name, t, _ in _state_tensors(module):
            key, shape = self._logical(name, tuple(t.shape), cfg)
            if key not in self.index:
                raise EdgefmrError(f"supernet {self.family}: no shared tensor for {key} (the space changed since "
                                   "the supernet was built?)")
            sup = self.tensor(key)
            if any(s > e for s, e in zip(shape, sup.shape, strict=True)):
                raise EdgefmrError(f"supernet {self.family}: {key} needs {list(shape)} but the supernet holds "
                                   f"{list(sup.shape)}")
            v = sup[tuple(slice(0, s) for s in shape)]
            out[name] = v.reshape(t.shape) if v.shape != t.shape else v
        return out

    def module_for(self, values: dict[str, Any]) -> tuple[FamilyConfig, nn.Module]:
        """The family model of a point (its own weights unused: they are replaced by slices)."""
        key = arch_key(self.family, values)
        cfg = self.space.config(values)
        m = self._modules_cache.get(key)
        if m is None:
            with torch.random.fork_rng():
                m = self._build(cfg)
            self._modules_cache[key] = m
            if len(self._modules_cache) > 64:
                self._modules_cache.popitem(last=False)
        else:
            self._modules_cache.move_to_end(key)
        return cfg, m

    def forward_subnet(self, values: dict[str, Any], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits of the subnet at ``values`` on ``x`` with the shared weights, and its extra loss (hash learning)."""
        cfg, m = self.module_for(values)
        m.train(self.training)
        logits = torch.func.functional_call(m, self.sliced(cfg, m), (x,), strict=False)
        extra = getattr(m, "extra_loss", None)
        return logits, (extra() if extra is not None else None)

    def state_for(self, values: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The subnet's state dict (copies of the slices): its inherited weights."""
        cfg, m = self.module_for(values)
        return {k: v.detach().clone().contiguous() for k, v in self.sliced(cfg, m).items()}

    def subnet(self, values: dict[str, Any], recal_x: np.ndarray | None = None, batch_size: int = 64) -> nn.Module:
        """A standalone model of the point with inherited weights, in eval mode; with ``recal_x``, BatchNorm
        statistics are recomputed on it first (cumulative average over its batches)."""
        cfg = self.space.config(values)
        with torch.random.fork_rng():
            model = self._build(cfg)
        model.load_state_dict(self.state_for(values))
        bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if bns and recal_x is not None:
            for bn in bns:
                bn.reset_running_stats()
                bn.momentum = None
            model.train()
            with torch.no_grad(), torch.random.fork_rng():
                torch.manual_seed(0)
                xt = torch.as_tensor(recal_x)
                for i in range(0, len(xt), batch_size):
                    model(xt[i: i + batch_size])
                    getattr(model, "extra_loss", lambda: None)()
            for bn in bns:
                bn.momentum = 0.1
        return model.eval()


# -------------------------------------------------------------------------------------------- training

def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def train_supernet(family: str, task: Task, space: Space, settings: SupernetSettings | None = None,
                   progress: Callable[[int, int, float], None] | None = None) -> tuple[Supernet, dict[str, Any]]:
    """Train a supernet on the task's training set minus the validation part; returns (supernet, metrics)."""

    s = settings or SupernetSettings()
    s.check()
    x_tr, y_tr, x_val, y_val = split_validation(task, s.val_fraction)
    net = Supernet(space, task.input_shape, task.n_classes, seed=s.seed)
    rng = np.random.default_rng(s.seed)
    gen = torch.Generator().manual_seed(s.seed)
    torch.manual_seed(s.seed)
    decay = [p for p in net.weights if p.ndim >= 2]
    no_decay = [p for p in net.weights if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": s.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=s.lr)
    x, y = torch.as_tensor(x_tr), torch.as_tensor(y_tr)
    n = len(y)
    steps = s.epochs * math.ceil(n / s.batch_size)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: _lr_factor(i, steps, warmup))
    shift = 1 if task.kind == "image" else 0
    t0 = time.perf_counter()
    net.train()
    step = 0
    loss_v = float("nan")
    for epoch in range(s.epochs):
        perm = torch.randperm(n, generator=gen)
        losses = []
        for i in range(0, n, s.batch_size):
            idx = perm[i: i + s.batch_size]
            xb, yb = x[idx], y[idx]
            if shift:
                xb = shift_images(xb, shift, gen)
            points = [space.sample(rng, "max"), space.sample(rng, "min")]
            points += [space.sample(rng) for _ in range(s.n_random)]
            opt.zero_grad(set_to_none=True)
            teacher = None
            total = 0.0
            for j, values in enumerate(points):
                logits, extra = net.forward_subnet(values, xb)
                if j == 0 or not s.distill:
                    loss = F.cross_entropy(logits, yb)
                    if j == 0:
                        teacher = logits.detach().softmax(-1)
                else:
                    loss = F.kl_div(logits.log_softmax(-1), teacher, reduction="batchmean")
                if extra is not None:
                    loss = loss + extra
                loss.backward()
                total += float(loss.detach())
            nn.utils.clip_grad_norm_(list(net.weights), 1.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(total / len(points))
        loss_v = float(np.mean(losses))
        if not math.isfinite(loss_v):
            raise EdgefmrError(f"supernet training diverged (loss {loss_v}) in epoch {epoch + 1}; lower its lr")
        if progress is not None:
            progress(epoch + 1, s.epochs, loss_v)
    net.eval()
    metrics = {"train_seconds": round(time.perf_counter() - t0, 1), "steps": step, "final_loss": loss_v,
               "train_samples": int(n), "val_samples": int(len(y_val))}
    for label in ("max", "min"):
        values = space.sample(np.random.default_rng(0), label)
        metrics[f"val_accuracy_{label}"] = evaluate_point(net, values, x_val, y_val, x_tr[: s.recal_batches * 64])
    return net, metrics


@torch.no_grad()
def evaluate_point(net: Supernet, values: dict[str, Any], x_val: np.ndarray, y_val: np.ndarray,
                   recal_x: np.ndarray | None, batch_size: int = 256) -> float:
    """Validation accuracy of a subnet with inherited weights."""
    model = net.subnet(values, recal_x)
    xt = torch.as_tensor(x_val)
    pred = torch.cat([model(xt[i: i + batch_size]).argmax(-1) for i in range(0, len(xt), batch_size)])
    return float((pred.numpy() == np.asarray(y_val)).mean())


class Scorer:
    """Scores points of a trained supernet on the validation part (BatchNorm recalibrated on fixed batches)."""

    def __init__(self, net: Supernet, task: Task, settings: SupernetSettings) -> None:
        self.net, self.task, self.settings = net, task, settings
        x_tr, _, self.x_val, self.y_val = split_validation(task, settings.val_fraction)
        self.recal_x = x_tr[: settings.recal_batches * settings.batch_size]

    def accuracy(self, values: dict[str, Any]) -> float:
        return evaluate_point(self.net, values, self.x_val, self.y_val, self.recal_x)

    def model(self, values: dict[str, Any]) -> nn.Module:
        """The subnet with inherited weights (BatchNorm recalibrated), in eval mode."""
        return self.net.subnet(values, self.recal_x)

    @torch.no_grad()
    def accuracy_of(self, model: nn.Module, batch_size: int = 256) -> float:
        """Validation accuracy of a model from :meth:`model`."""
        xt = torch.as_tensor(self.x_val)
        pred = torch.cat([model(xt[i: i + batch_size]).argmax(-1) for i in range(0, len(xt), batch_size)])
        return float((pred.numpy() == np.asarray(self.y_val)).mean())


# ----------------------------------------------------------------------------------------------- cache

def cache_dir() -> Path:
    """Where trained supernets are kept (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "supernets"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgefmr" / "supernets"


def task_digest(task: Task) -> str:
    h = hashlib.sha256()
    for a in (task.x_train, task.y_train):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def cache_key(family: str, task: Task, space: Space, settings: SupernetSettings) -> str:
    blob = json.dumps({"format": FORMAT, "version": VERSION, "family": family, "space": space.to_dict(),
                       "settings": dataclasses.asdict(settings), "task": task.name, "shape": list(task.input_shape),
                       "classes": task.n_classes, "data": task_digest(task)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_path(family: str, task: Task, space: Space, settings: SupernetSettings) -> Path:
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(task.name).name)
    return cache_dir() / f"{family}-{slug}-{cache_key(family, task, space, settings)}.pt"


def save_supernet(path: Path, net: Supernet, key: str, settings: SupernetSettings, metrics: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"format": FORMAT, "version": VERSION, "key": key, "family": net.family,
                "space": net.space.to_dict(), "settings": dataclasses.asdict(settings),
                "input_shape": list(net.input_shape), "n_classes": net.n_classes,
                "tensors": {k: net.tensor(k).detach().clone() for k in net.index},
                "params": [k for k, (p, _) in net.index.items() if p], "metrics": metrics}, tmp)
    os.replace(tmp, path)


def _load(path: Path, key: str, space: Space, input_shape: tuple[int, ...], n_classes: int
          ) -> tuple[Supernet, dict[str, Any]] | None:
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a foreign or truncated file: retrain
        return None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT or ck.get("version") != VERSION or ck.get("key") != key:
        return None
    with torch.random.fork_rng():
        net = Supernet(space, input_shape, n_classes)
    if set(ck["tensors"]) != set(net.index):
        return None
    with torch.no_grad():
        for k, t in ck["tensors"].items():
            sup = net.tensor(k)
            if tuple(sup.shape) != tuple(t.shape):
                return None
            sup.data = t.to(sup.dtype) if sup.dtype != t.dtype else t.clone()
    return net.eval(), dict(ck.get("metrics", {}))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_or_train(family: str, task: Task, space: Space, settings: SupernetSettings | None = None,
                  progress: Callable[[int, int, float], None] | None = None
                  ) -> tuple[Supernet, dict[str, Any], Path, bool]:
    """The cached supernet of (family, task, space, settings), trained first if missing.

    Returns (supernet, metrics, cache file, trained_now).
    """
    s = settings or SupernetSettings()
    key = cache_key(family, task, space, s)
    path = cache_path(family, task, space, s)
    with _locked(path):
        if path.is_file():
            got = _load(path, key, space, task.input_shape, task.n_classes)
            if got is not None:
                return got[0], got[1], path, False
        net, metrics = train_supernet(family, task, space, s, progress)
        save_supernet(path, net, key, s, metrics)
    return net, metrics, path, True
