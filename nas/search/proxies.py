"""Training-free proxies: scores of an untrained architecture that rank candidates without training.

* ``synflow`` - synaptic flow (Tanaka et al., NeurIPS 2020; as a zero-cost NAS proxy: Abdelfattah et al., ICLR
  2021): with every parameter replaced by its absolute value (float64, eval mode), an all-ones input, R = sum of
  the outputs; score ``sum |theta * dR/dtheta|`` over all parameters (the log10 of it, which keeps the ranks).
* ``jacob_cov`` - Mellor et al., "Neural Architecture Search without Training" (2021, v1): the Jacobian of each
  example's summed output with respect to its input, over a batch; score ``-sum_i log(l_i + k) + 1 / (l_i + k)``
  over the eigenvalues l_i of the correlation matrix of the per-example Jacobians (k = 1e-5). Higher is better.
* ``hidden_cov`` - hidden covariance (Serianni & Kalita, "Training-free Neural Architecture Search for RNNs and
  Transformers", ACL 2023): the same eigenvalue score on the correlation matrix of the final hidden
  representation across a batch (the classifier's input: for an LMUFormer the residual stream after the last
  step). It needs only a forward pass, and is the one meant for recurrent/LMU models.

:func:`score` computes one proxy on a freshly initialised model (``seed``); :func:`rank_correlation` gives Kendall's
tau and Spearman's rho between proxy scores and accuracies (e.g. supernet accuracies of the same points).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.config import FamilyConfig
from edgefmr.nas.tasks import Task
from edgefmr.nas.train import build_model

PROXIES = ("synflow", "jacob_cov", "hidden_cov")
_K = 1e-5


def _eig_score(m: np.ndarray) -> float:
    """-sum(log(l + k) + 1 / (l + k)) over the eigenvalues of the correlation matrix of the rows of m."""
    m = np.asarray(m, np.float64)
    m = m - m.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    m = m / np.where(norms > 0, norms, 1.0)
    corr = m @ m.T
    lam = np.clip(np.linalg.eigvalsh(corr), 0.0, None)
    return float(-np.sum(np.log(lam + _K) + 1.0 / (lam + _K)))


def synflow(model: nn.Module, x: torch.Tensor) -> float:
    """log10 of the synaptic flow of ``model`` (a copy is used; the model is unchanged)."""
    import copy

    m = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.abs_()
    for p in m.parameters():
        p.requires_grad_(True)
        p.grad = None
    ones = torch.ones(1, *x.shape[1:], dtype=torch.float64)
    out = m(ones)
    out.sum().backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in m.parameters() if p.grad is not None)
    return math.log10(total) if total > 0 else float("-inf")


def jacob_cov(model: nn.Module, x: torch.Tensor) -> float:
    """Mellor et al.'s Jacobian covariance score on the batch ``x``."""
    model.eval()
    xi = x.clone().float().requires_grad_(True)
    out = model(xi)
    out.sum().backward()
    assert xi.grad is not None
    return _eig_score(xi.grad.reshape(len(x), -1).numpy())


def hidden_cov(model: nn.Module, x: torch.Tensor) -> float:
    """Hidden covariance score: the eigenvalue score of the classifier's inputs over the batch ``x``."""
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear):
        raise EdgefmrError(f"hidden_cov: {type(model).__name__} has no linear classifier 'head'")
    got: list[torch.Tensor] = []
    h = head.register_forward_hook(lambda m, inp, out: got.append(inp[0].detach()))
    try:
        model.eval()
        with torch.no_grad():
            model(x.float())
    finally:
        h.remove()
    return _eig_score(got[0].reshape(len(x), -1).numpy())


_FNS: dict[str, Callable[[nn.Module, torch.Tensor], float]] = {
    "synflow": synflow, "jacob_cov": jacob_cov, "hidden_cov": hidden_cov}


def score(name: str, family: str, cfg: FamilyConfig, task: Task, batch: int = 32, seed: int = 0) -> float:
    """Proxy ``name`` of the untrained model of ``cfg`` (weights from ``seed``) on the first ``batch`` training
    samples of ``task``."""

    if name not in _FNS:
        raise EdgefmrError(f"unknown proxy {name!r}; valid: {', '.join(PROXIES)}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(family, cfg, task.input_shape, task.n_classes)
        x = torch.as_tensor(np.asarray(task.x_train[:batch], np.float32))
        return _FNS[name](model, x)


def rank_correlation(scores: list[float], accuracies: list[float]) -> dict[str, Any]:
    """Kendall's tau and Spearman's rho (with p-values) between proxy scores and accuracies."""
    from scipy.stats import kendalltau, spearmanr

    s = np.asarray(scores, np.float64)
    a = np.asarray(accuracies, np.float64)
    ok = np.isfinite(s) & np.isfinite(a)
    if ok.sum() < 3:
        return {"n": int(ok.sum()), "kendall_tau": None, "spearman_rho": None}
    tau = kendalltau(s[ok], a[ok])
    rho = spearmanr(s[ok], a[ok])
    return {"n": int(ok.sum()), "kendall_tau": float(tau.statistic), "kendall_p": float(tau.pvalue),
            "spearman_rho": float(rho.statistic), "spearman_p": float(rho.pvalue)}
