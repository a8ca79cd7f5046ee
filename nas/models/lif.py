"""Multi-step leaky integrate-and-fire (LIF) neuron with a surrogate gradient.

Dynamics per time step t (membrane decays towards the reset potential 0, input scaled by 1/τ as in
SpikingJelly's ``decay_input`` form, hard reset to 0):

    H_t = V_{t-1} + (X_t - V_{t-1}) / τ
    S_t = Θ(H_t - V_th)                     (Heaviside: spike when the threshold is reached)
    V_t = H_t · (1 - S_t)                   (hard reset)

The Heaviside step has no useful derivative, so the backward pass replaces dΘ/dx by a surrogate:

* ``sigmoid``: α·σ(αx)·(1-σ(αx)), the derivative of σ(αx) (default α = 4);
* ``atan``:   (α/2) / (1 + (π/2·α·x)²), the derivative of arctan(π/2·α·x)/π + 1/2 (default α = 2).

With ``detach_reset`` the reset term S_t does not carry gradient (the usual choice: it stabilises
training and the forward result is unchanged). :meth:`LIF.forward` runs all T steps as one autograd
node whose backward pass is back-propagation through time written out by hand (equal to autograd
through :meth:`LIF.step`, and several times faster for long sequences).

Every :class:`LIF` module counts the spikes it emits and the neuron updates it performs, so the firing
rate of each layer is measurable (:attr:`LIF.firing_rate`, reset with :meth:`LIF.reset_stats`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from edgefmr.errors import EdgefmrError

SURROGATES = ("sigmoid", "atan")
DEFAULT_ALPHA = {"sigmoid": 4.0, "atan": 2.0}


class _SigmoidSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(ctx.alpha * x)
        return grad * ctx.alpha * s * (1 - s), None


class _AtanSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return grad * (a / 2) / (1 + (math.pi / 2 * a * x) ** 2), None


def surrogate_grad(x: torch.Tensor, surrogate: str, alpha: float) -> torch.Tensor:
    """The surrogate derivative dΘ/dx used in the backward pass (see the module docstring)."""
    if surrogate == "sigmoid":
        s = torch.sigmoid(alpha * x)
        return alpha * s * (1 - s)
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


class _LIFSequence(torch.autograd.Function):
    """All T steps of a LIF layer as one autograd node: the loop runs without building a graph and the
    backward pass is the same loop in reverse (back-propagation through time), far fewer ops than
    differentiating each step."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, tau: float, threshold: float, surrogate: str, alpha: float,  # type: ignore[override]
                detach_reset: bool) -> torch.Tensor:
        v = torch.zeros_like(x[0])
        spikes = torch.empty_like(x)
        hs = torch.empty_like(x)
        for t in range(x.shape[0]):
            h = v + (x[t] - v) / tau
            st = (h >= threshold).to(x.dtype)
            hs[t], spikes[t] = h, st
            v = h * (1 - st)
        ctx.save_for_backward(hs, spikes)
        ctx.cfg = (tau, threshold, surrogate, alpha, detach_reset)
        return spikes

    @staticmethod
    def backward(ctx, grad_s: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        hs, spikes = ctx.saved_tensors
        tau, threshold, surrogate, alpha, detach_reset = ctx.cfg
        sg = surrogate_grad(hs - threshold, surrogate, alpha)
        # V_t = H_t (1 - S_t): dV/dH = 1 - S_t, and - H_t dS/dH without detach_reset
        dv_dh = 1 - spikes if detach_reset else 1 - spikes - hs * sg
        direct = grad_s * sg
        grad_h = torch.empty_like(grad_s)
        carry = torch.zeros_like(grad_s[0])  # dL/dV_t from step t + 1
        for t in range(grad_s.shape[0] - 1, -1, -1):
            g = torch.addcmul(direct[t], carry, dv_dh[t])
            grad_h[t] = g
            carry = g * (1 - 1 / tau)  # dH_{t+1}/dV_t
        return grad_h / tau, None, None, None, None, None


def spike(x: torch.Tensor, surrogate: str = "sigmoid", alpha: float | None = None) -> torch.Tensor:
    """Heaviside step Θ(x) (1 where x ≥ 0) in the forward pass, surrogate derivative in the backward pass."""
    if surrogate not in SURROGATES:
        raise EdgefmrError(f"surrogate: unknown value {surrogate!r}; valid: {', '.join(SURROGATES)}")
    a = DEFAULT_ALPHA[surrogate] if alpha is None else float(alpha)
    fn = _SigmoidSpike if surrogate == "sigmoid" else _AtanSpike
    return fn.apply(x, a)


class LIF(nn.Module):
    """Multi-step LIF neuron layer operating on ``[T, B, ...]`` tensors (time first).

    ``forward(x)`` runs all T steps from a zero membrane and returns the spikes (same shape, values 0/1).
    ``step(x_t, v)`` advances one step from membrane ``v`` (``None`` = zeros) and returns ``(spikes, v)``,
    for streaming use where the membrane is carried across calls.
    """

    def __init__(
        self,
        tau: float = 2.0,
        threshold: float = 1.0,
        surrogate: str = "sigmoid",
        alpha: float | None = None,
        detach_reset: bool = True,
    ) -> None:
        super().__init__()
        if not tau >= 1.0:
            raise EdgefmrError(f"tau: {tau} is invalid; the membrane time constant must be >= 1")
        if not threshold > 0:
            raise EdgefmrError(f"threshold: {threshold} is invalid; it must be > 0")
        if surrogate not in SURROGATES:
            raise EdgefmrError(f"surrogate: unknown value {surrogate!r}; valid: {', '.join(SURROGATES)}")
        self.tau = float(tau)
        self.threshold = float(threshold)
        self.surrogate = surrogate
        self.alpha = DEFAULT_ALPHA[surrogate] if alpha is None else float(alpha)
        self.detach_reset = detach_reset
        self.reset_stats()

    def extra_repr(self) -> str:
        return f"tau={self.tau}, threshold={self.threshold}, surrogate={self.surrogate}, alpha={self.alpha}"

    def reset_stats(self) -> None:
        """Forget the spike and neuron-update counts (call before measuring firing rates)."""
        self.spike_count = 0.0
        self.update_count = 0
        self.last_rate: float | None = None

    @property
    def firing_rate(self) -> float:
        """Mean spikes per neuron per time step since the last :meth:`reset_stats` (0.0 if never run)."""
        return self.spike_count / self.update_count if self.update_count else 0.0

    def _record(self, s: torch.Tensor) -> None:
        total = float(s.detach().sum())
        self.spike_count += total
        self.update_count += s.numel()
        self.last_rate = total / max(s.numel(), 1)

    def _step(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = v + (x - v) / self.tau
        s = spike(h - self.threshold, self.surrogate, self.alpha)
        r = s.detach() if self.detach_reset else s
        return s, h * (1 - r)

    def step(self, x: torch.Tensor, v: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: input ``x``, membrane ``v`` (same shape, or None for zeros) → (spikes, new membrane)."""
        if v is None:
            v = torch.zeros_like(x)
        s, v = self._step(x, v)
        self._record(s)
        return s, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes for all T steps of ``x`` shaped ``[T, B, ...]``, starting from a zero membrane."""
        if x.dim() < 2:
            raise ValueError(f"LIF expects [T, B, ...] input, got shape {tuple(x.shape)}")
        s = _LIFSequence.apply(x, self.tau, self.threshold, self.surrogate, self.alpha, self.detach_reset)
        self._record(s)
        return s


def lif_layers(model: nn.Module) -> dict[str, LIF]:
    """All LIF modules of ``model`` by their qualified name, in registration order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LIF)}


def reset_firing_stats(model: nn.Module) -> None:
    """Reset the spike counts of every LIF layer in ``model``."""
    for m in lif_layers(model).values():
        m.reset_stats()


def firing_rates(model: nn.Module) -> dict[str, float]:
    """Mean firing rate (spikes per neuron per step) of every LIF layer in ``model`` since the last reset."""
    return {name: m.firing_rate for name, m in lif_layers(model).items()}


class RateMeter(nn.Module):
    """Identity on a binary tensor that counts its ones (for spike tensors not produced by a LIF)."""

    def __init__(self) -> None:
        super().__init__()
        self.reset_stats()

    def reset_stats(self) -> None:
        self.spike_count = 0.0
        self.update_count = 0

    @property
    def firing_rate(self) -> float:
        return self.spike_count / self.update_count if self.update_count else 0.0

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        self.spike_count += float(s.detach().sum())
        self.update_count += s.numel()
        return s


def measure_firing_rates(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
    """Run ``model`` in eval mode over ``x`` and return the firing rate of every LIF layer."""
    was_training = model.training
    model.eval()
    reset_firing_stats(model)
    for m in model.modules():
        if isinstance(m, RateMeter):
            m.reset_stats()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])
    model.train(was_training)
    return firing_rates(model)


def _rate_sources(model: nn.Module) -> dict[str, float]:
    rates = {n: m.firing_rate for n, m in lif_layers(model).items()}
    rates.update({n: m.firing_rate for n, m in model.named_modules() if isinstance(m, RateMeter)})
    return rates


def op_counts(model: nn.Module) -> list[dict[str, Any]]:
    """Additions and multiplications per inference of every synaptic layer, from the measured firing rates.

    ``model.synapses()`` lists ``(layer, kind, rate source, dense ops per step, steps)``: the rate source
    names the LIF or :class:`RateMeter` whose spikes the layer reads ("" for real-valued input), ``kind`` is
    ``linear``/``conv`` (one weight use per dense MAC), ``sum`` (one addition per input element) or ``mult``
    (real-valued multiply-accumulates whatever the rates). A layer reading spikes at rate r does
    ``r × dense`` accumulates (spike × weight = add the weight: one addition, no multiplication); a layer
    reading real values does its dense MACs (one multiplication and one addition each). Run
    :func:`measure_firing_rates` first.
    """
    rates = _rate_sources(model)
    out = []
    for layer, kind, src, ops, steps in model.synapses():
        dense = ops * steps
        if kind == "sum":  # additions only: one per spike, or one per element of a real input
            rate = rates[src] if src else None
            acs, macs = (rate if src else 1.0) * dense, 0.0
        elif kind == "mult" or not src:
            rate, acs, macs = None, 0.0, float(dense)
        else:
            rate, acs, macs = rates[src], rates[src] * dense, 0.0
        out.append({"layer": layer, "kind": kind, "input": src or "real", "input_rate": rate, "dense_ops": dense,
                    "accumulates": acs, "macs": macs, "additions": acs + macs, "multiplications": macs})
    return out


def ops_summary(model: nn.Module) -> dict[str, float]:
    """Totals per inference: additions, multiplications, ``addition_share`` = additions / all arithmetic
    ops (a dense network scores 0.5) and ``accumulate_share`` = accumulate-only ops / (those + MACs)."""
    rows = op_counts(model)
    adds = sum(r["additions"] for r in rows)
    mults = sum(r["multiplications"] for r in rows)
    acs = sum(r["accumulates"] for r in rows)
    macs = sum(r["macs"] for r in rows)
    return {"additions": adds, "multiplications": mults, "addition_share": adds / (adds + mults),
            "accumulates": acs, "macs": macs, "accumulate_share": acs / (acs + macs)}


def snn_record_fields(model: nn.Module, x_test: Any) -> dict[str, Any]:
    """Per-layer firing rates (measured on ``x_test``) and the additions/multiplications of one inference."""
    measure_firing_rates(model, torch.as_tensor(x_test))
    summary = ops_summary(model)
    return {
        "firing_rates": {k: round(v, 4) for k, v in firing_rates(model).items()},
        "additions": round(summary["additions"]),
        "multiplications": round(summary["multiplications"]),
        "addition_share": round(summary["addition_share"], 4),
        "accumulate_share": round(summary["accumulate_share"], 4),
        "ops_per_layer": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in op_counts(model)
        ],
    }
