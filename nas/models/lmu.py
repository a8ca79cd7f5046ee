"""LMUFormer (Liu et al., 2024): a causal sequence classifier built on Legendre Memory Units.

**Memory.** The LMU (Voelker et al., NeurIPS 2019) keeps a ``d``-dimensional state m(t) that holds the
Legendre coefficients of its input u over a sliding window of ``θ`` steps: ``θ ṁ = A m + B u`` with

    A[i, j] = (2i + 1) · (-1 if i < j else (-1)^(i - j + 1)),    B[i] = (2i + 1) · (-1)^i.

Discretised by zero-order hold with a step of 1 (:func:`legendre_zoh`: the matrix exponential of the
augmented matrix ``[[A, B], [0, 0]] / θ``), ``m_t = Ā m_{t-1} + B̄ u_t``. The system is linear and time
invariant, so it has two computation forms that give the same result:

* **parallel** (training, :meth:`LMUFormer.forward`): ``m_t = Σ_k H_k u_{t-k}`` with the impulse response
  ``H_k = Ā^k B̄``, computed for all steps at once as a convolution by FFT;
* **sequential** (streaming inference, :meth:`LMUFormer.stream`): the recurrence above, one step at a time,
  with every state (conv buffers, memories, LIF membranes, pooling sums) carried across calls, so a stream
  can be fed in chunks of any size.

**Network** (input ``[L, F]``: L steps of F features; an image ``[C, H, W]`` is read as H steps of C·W):

* patch embedding along time: a causal 1-D conv (``kernel`` taps, stride ``patch``; output step j sees
  inputs up to ``(j + 1)·patch - 1``) + BN + activation;
* ``depth`` LMU blocks on a ``hidden``-wide residual stream x: ``u = act(BN(W_u x))`` (``memory_size``
  channels, each with its own order-``order`` memory), ``h = act(BN(W_m m) + BN(W_x x))``, ``x = x + h``;
  then a convolutional channel mixer (pointwise convs with BN), ``x = x + BN(W_2 act(BN(W_1 x)))``;
* head: a linear classifier on the last step (``pool: last``) or on the running mean over steps
  (``pool: mean``; still causal). Every layer is causal, so the prediction after a stream of n steps equals
  the whole-sequence prediction on those n steps.

**Spiking variant** (``spiking: true``): every activation is a LIF neuron (:mod:`edgefmr.nas.models.lif`) whose
membrane evolves along the sequence (one sequence step is one SNN time step, as in the spiking LMUFormer),
and each block and the head read the residual stream through a LIF (membrane shortcut), so the
projections ``W_u``, ``W_x``, ``W_1``, ``W_2`` and ``B̄ u`` see spikes only. Use ``pool: mean`` (the rate
code) for a spiking head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.config import FamilyConfig
from edgefmr.nas.models.lif import LIF, SURROGATES

__all__ = ["LMUConfig", "LMUFormer", "legendre_ab", "legendre_zoh", "impulse_response"]


def legendre_ab(order: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """Continuous-time LMU matrices ``A/θ`` [d, d] and ``B/θ`` [d] (float64)."""
    i = np.arange(order)[:, None]
    j = np.arange(order)[None, :]
    a = (2 * i + 1) * np.where(i < j, -1.0, (-1.0) ** (i - j + 1))
    b = (2 * np.arange(order) + 1) * (-1.0) ** np.arange(order)
    return a / theta, b / theta


def legendre_zoh(order: int, theta: float, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Zero-order-hold discretisation ``(Ā [d, d], B̄ [d])`` of the LMU with step ``dt`` (float64).

    ``expm(dt · [[A, B], [0, 0]]) = [[Ā, B̄], [0, 1]]`` (A, B already divided by θ).
    """
    a, b = legendre_ab(order, theta)
    m = np.zeros((order + 1, order + 1))
    m[:order, :order] = a
    m[:order, order] = b
    e = torch.linalg.matrix_exp(torch.from_numpy(m * dt)).numpy()  # float64
    return e[:order, :order], e[:order, order]


def impulse_response(a_bar: np.ndarray, b_bar: np.ndarray, length: int) -> np.ndarray:
    """``H[:, k] = Ā^k B̄`` for k < length, shape [d, length] (float64)."""
    h = np.empty((len(b_bar), length))
    v = b_bar.astype(np.float64)
    for k in range(length):
        h[:, k] = v
        v = a_bar @ v
    return h


@dataclass
class LMUConfig(FamilyConfig):
    """Dimensions of an :class:`LMUFormer` (every one is a search dimension)."""

    family: ClassVar[str] = "lmu"

    order: int = 32  # d: Legendre coefficients per memory channel
    theta: float = 0.0  # memory window in (embedded) steps; 0 = the embedded sequence length
    hidden: int = 64  # width of the residual stream
    memory_size: int = 16  # memory channels (u)
    depth: int = 1  # LMU blocks
    patch: int = 1  # stride of the patch-embedding conv (input steps per embedded step)
    kernel: int = 3  # taps of the patch-embedding conv (>= patch)
    mlp_ratio: float = 2.0  # channel-mixer width / hidden
    act: Literal["gelu", "relu"] = "gelu"  # activation of the non-spiking model
    pool: Literal["last", "mean"] = "last"  # classify the last step or the causal running mean
    spiking: bool = False  # LIF neurons instead of activations
    tau: float = 2.0  # LIF membrane time constant (spiking)
    threshold: float = 1.0  # LIF threshold (spiking)
    surrogate: Literal["sigmoid", "atan"] = "sigmoid"  # LIF surrogate gradient (spiking)

    def validate(self) -> None:
        for key in ("order", "hidden", "memory_size", "depth", "patch", "kernel"):
            if getattr(self, key) < 1:
                raise EdgefmrError(f"{self._where(key)}: {getattr(self, key)} is invalid; must be >= 1")
        if self.theta < 0:
            raise EdgefmrError(f"{self._where('theta')}: {self.theta} is invalid; must be > 0 (or 0 = auto)")
        if self.kernel < self.patch:
            raise EdgefmrError(f"{self._where('kernel')}: {self.kernel} is smaller than patch={self.patch}")
        for key, lo in (("mlp_ratio", 0.0), ("threshold", 0.0)):
            if not getattr(self, key) > lo:
                raise EdgefmrError(f"{self._where(key)}: {getattr(self, key)} is invalid; must be > {lo}")
        if not self.tau >= 1.0:
            raise EdgefmrError(f"{self._where('tau')}: {self.tau} is invalid; must be >= 1")
        if self.surrogate not in SURROGATES:
            raise EdgefmrError(f"{self._where('surrogate')}: {self.surrogate!r}; valid: {', '.join(SURROGATES)}")


class Act(nn.Module):
    """The activation on ``[B, C, L]`` tensors: GELU/ReLU, or a LIF along L (parallel) / one step (streaming)."""

    def __init__(self, cfg: LMUConfig) -> None:
        super().__init__()
        self.lif = LIF(cfg.tau, cfg.threshold, cfg.surrogate) if cfg.spiking else None
        self.fn = nn.GELU() if cfg.act == "gelu" else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lif is None:
            return self.fn(x)
        return self.lif(x.permute(2, 0, 1)).permute(1, 2, 0)  # time first for the LIF, then back

    def step(self, x: torch.Tensor, state: dict[str, Any], key: str) -> torch.Tensor:
        """One step of ``x`` [B, C]; a LIF's membrane is kept in ``state[key]``."""
        if self.lif is None:
            return self.fn(x)
        s, state[key] = self.lif.step(x, state.get(key))
        return s


def _pw(c_in: int, c_out: int) -> nn.Conv1d:
    """A pointwise (kernel 1) conv: the same linear map at every step."""
    return nn.Conv1d(c_in, c_out, 1, bias=False)


class LMUMemory(nn.Module):
    """The LTI Legendre memory of ``channels`` inputs: parallel (FFT) and sequential forms."""

    def __init__(self, channels: int, order: int, theta: float) -> None:
        super().__init__()
        self.channels, self.order, self.theta = channels, order, float(theta)
        a, b = legendre_zoh(order, theta)
        self.a64, self.b64 = a, b  # the discretized (A, B) in float64: tensors of any dtype are made from these
        self._cache: dict[tuple, torch.Tensor] = {}

    def extra_repr(self) -> str:
        return f"channels={self.channels}, order={self.order}, theta={self.theta}"

    def _get(self, name: str, dtype: torch.dtype, length: int = 0) -> torch.Tensor:
        key = (name, dtype, length)
        if key not in self._cache:
            if name == "A":
                arr = self.a64
            elif name == "B":
                arr = self.b64
            else:  # spectrum of the impulse response, padded to 2·length for a linear (not circular) conv
                h = torch.from_numpy(impulse_response(self.a64, self.b64, length))
                arr = torch.fft.rfft(h, n=2 * length)
            t = torch.as_tensor(arr)
            self._cache[key] = t.to(dtype if name != "H" else (torch.complex128 if dtype == torch.float64
                                                                 else torch.complex64))
        return self._cache[key]

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Parallel form: ``u`` [B, C, L] → memories [B, C·d, L] (channel c's coefficients at c·d … c·d+d-1)."""
        b, c, n = u.shape
        hf = self._get("H", u.dtype, n)  # [d, n + 1]
        uf = torch.fft.rfft(u, n=2 * n)  # [B, C, n + 1]
        m = torch.fft.irfft(uf[:, :, None, :] * hf[None, None], n=2 * n)[..., :n]  # [B, C, d, L]
        return m.reshape(b, c * self.order, n)

    def macs_extra(self, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
        """Multiplications of the sequential form (``Ā m`` and ``B̄ u`` at every step) for this call."""
        b, c, n = inputs[0].shape
        return b * n * c * (self.order * self.order + self.order)

    def step(self, u: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
        """Sequential form: ``u`` [B, C], memory ``m`` [B, C, d] (None = zeros) → ``Ā m + B̄ u``."""
        a, bb = self._get("A", u.dtype), self._get("B", u.dtype)
        new = u[:, :, None] * bb
        return new if m is None else m @ a.T + new


class LMUBlock(nn.Module):
    """Memory path then channel mixer, each added to the residual stream."""

    def __init__(self, cfg: LMUConfig, theta: float) -> None:
        super().__init__()
        d, h, mem = cfg.order, cfg.hidden, cfg.memory_size
        self.spiking = cfg.spiking
        self.mix_hidden = max(1, round(h * cfg.mlp_ratio))
        if cfg.spiking:
            self.lif_in = LIF(cfg.tau, cfg.threshold, cfg.surrogate)
            self.lif_mix_in = LIF(cfg.tau, cfg.threshold, cfg.surrogate)
        self.w_u, self.bn_u, self.act_u = _pw(h, mem), nn.BatchNorm1d(mem), Act(cfg)
        self.memory = LMUMemory(mem, d, theta)
        self.w_m, self.bn_m = _pw(mem * d, h), nn.BatchNorm1d(h)
        self.w_x, self.bn_x = _pw(h, h), nn.BatchNorm1d(h)
        self.act_h = Act(cfg)
        self.w_1, self.bn_1, self.act_1 = _pw(h, self.mix_hidden), nn.BatchNorm1d(self.mix_hidden), Act(cfg)
        self.w_2, self.bn_2 = _pw(self.mix_hidden, h), nn.BatchNorm1d(h)

    def _in(self, x: torch.Tensor, lif: str) -> torch.Tensor:
        if not self.spiking:
            return x
        return getattr(self, lif)(x.permute(2, 0, 1)).permute(1, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Parallel form on ``x`` [B, hidden, L]."""
        s = self._in(x, "lif_in")
        u = self.act_u(self.bn_u(self.w_u(s)))
        m = self.memory(u)
        x = x + self.act_h(self.bn_m(self.w_m(m)) + self.bn_x(self.w_x(s)))
        s = self._in(x, "lif_mix_in")
        return x + self.bn_2(self.w_2(self.act_1(self.bn_1(self.w_1(s)))))

    def step(self, x: torch.Tensor, st: dict[str, Any]) -> torch.Tensor:
        """Sequential form on one step ``x`` [B, hidden]; ``st`` holds this block's state."""

        def lin(conv: nn.Conv1d, bn: nn.BatchNorm1d, v: torch.Tensor) -> torch.Tensor:
            return bn(conv(v[:, :, None]))[:, :, 0]

        s = x
        if self.spiking:
            s, st["lif_in"] = self.lif_in.step(x, st.get("lif_in"))
        u = self.act_u.step(lin(self.w_u, self.bn_u, s), st, "act_u")
        st["m"] = self.memory.step(u, st.get("m"))
        m = st["m"].reshape(len(x), -1)
        x = x + self.act_h.step(lin(self.w_m, self.bn_m, m) + lin(self.w_x, self.bn_x, s), st, "act_h")
        s = x
        if self.spiking:
            s, st["lif_mix_in"] = self.lif_mix_in.step(x, st.get("lif_mix_in"))
        return x + lin(self.w_2, self.bn_2, self.act_1.step(lin(self.w_1, self.bn_1, s), st, "act_1"))


class LMUFormer(nn.Module):
    """LMUFormer; ``forward(x [B, *input_shape]) -> logits [B, n_classes]`` (parallel form).

    Streaming: ``reset_stream()``, then ``stream(chunk [B, n, F])`` any number of times (returns the
    prediction after the chunk's last step, or None while no embedded step is complete), or
    ``stream_step(x_t [B, F])``. The model must be in eval mode to stream.
    """

    def __init__(self, cfg: LMUConfig, input_shape: tuple[int, ...] | list[int], n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_shape = tuple(int(s) for s in input_shape)
        self.n_classes = int(n_classes)
        if len(self.input_shape) == 2:
            self.length, self.features = self.input_shape
        elif len(self.input_shape) == 3:
            c, h, w = self.input_shape
            self.length, self.features = h, c * w
        else:
            raise EdgefmrError(
                f"lmu: input shape {self.input_shape} is not supported; expected a sequence [L, F] or an image "
                "[C, H, W] (read row by row)"
            )
        if self.length < cfg.patch:
            raise EdgefmrError(f"{cfg._where('patch')}: {cfg.patch} is longer than the sequence ({self.length})")
        self.steps = self.length // cfg.patch  # embedded steps
        self.theta = float(cfg.theta) if cfg.theta > 0 else float(self.steps)
        self.embed = nn.Conv1d(self.features, cfg.hidden, cfg.kernel, stride=cfg.patch, bias=False)
        self.bn_embed = nn.BatchNorm1d(cfg.hidden)
        # Non-spiking: an activation after the embedding. Spiking: the stream stays a membrane potential,
        # spiked by the first block's input LIF (membrane shortcut).
        self.act_embed = None if cfg.spiking else Act(cfg)
        self.blocks = nn.ModuleList(LMUBlock(cfg, self.theta) for _ in range(cfg.depth))
        if cfg.spiking:
            self.lif_out = LIF(cfg.tau, cfg.threshold, cfg.surrogate)
        self.bn_out = nn.BatchNorm1d(cfg.hidden)
        self.head = nn.Linear(cfg.hidden, self.n_classes)
        self._stream: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------ parallel
    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """The input as a sequence [B, steps, features] (images: one row of pixels per step)."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected input [B, {self.input_shape}], got {tuple(x.shape)}")
        if len(self.input_shape) == 3:
            x = x.permute(0, 2, 1, 3).flatten(2)  # [B, H, C·W]
        return x

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Residual stream after the last block, ``[B, hidden, steps]``."""
        x = self.sequence(x).transpose(1, 2)  # [B, F, L]
        k, p = self.cfg.kernel, self.cfg.patch
        x = F.pad(x[:, :, : self.steps * p], (k - p, 0))  # causal: step j ends at input (j + 1)·p - 1
        z = self.bn_embed(self.embed(x))
        if self.act_embed is not None:
            z = self.act_embed(z)
        for blk in self.blocks:
            z = blk(z)
        return z

    def _readout(self, z: torch.Tensor, all_steps: bool) -> torch.Tensor:
        """Head input ``[B, hidden, steps or 1]``: (LIF), causal mean (``pool: mean``), BN."""
        if self.cfg.spiking:
            z = self.lif_out(z.permute(2, 0, 1)).permute(1, 2, 0)
        if self.cfg.pool == "mean":
            z = z.cumsum(2) / torch.arange(1, z.shape[2] + 1, dtype=z.dtype)
        if not all_steps:
            z = z[:, :, -1:]
        return self.bn_out(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits after the last step (parallel form)."""
        return self.head(self._readout(self._features(x), all_steps=False)[:, :, 0])

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Logits after every embedded step, ``[B, steps, n_classes]`` (parallel form; causal)."""
        return self.head(self._readout(self._features(x), all_steps=True).transpose(1, 2))

    # ----------------------------------------------------------------------------------- streaming
    def reset_stream(self) -> None:
        """Forget the streaming state (start a new stream)."""
        self._stream = None

    @torch.no_grad()
    def stream_steps(self, chunk: torch.Tensor) -> torch.Tensor:
        """Feed ``chunk`` [B, n, F] (n ≥ 0 input steps; images: rows [B, n, C·W]) to the sequential form.

        Returns the logits of every embedded step completed within the chunk, ``[B, k, n_classes]`` (k may
        be 0 while a patch is incomplete). The state persists until :meth:`reset_stream`.
        """
        if self.training:
            raise RuntimeError("LMUFormer streaming needs eval mode (call model.eval())")
        if chunk.dim() != 3 or chunk.shape[2] != self.features:
            raise ValueError(f"expected a chunk [B, n, {self.features}], got {tuple(chunk.shape)}")
        k, p = self.cfg.kernel, self.cfg.patch
        st = self._stream
        if st is None:
            pad = chunk.new_zeros(chunk.shape[0], k - p, self.features)
            st = self._stream = {"buf": pad, "blocks": [{} for _ in self.blocks], "sum": None, "count": 0,
                                 "logits": None}
        elif st["buf"].shape[0] != chunk.shape[0]:
            raise ValueError(f"the stream has batch size {st['buf'].shape[0]}; call reset_stream() to change it")
        buf = torch.cat([st["buf"], chunk.to(st["buf"].dtype)], 1)
        out = []
        while buf.shape[1] >= k:
            window, buf = buf[:, :k], buf[:, p:]
            z = self.bn_embed(self.embed(window.transpose(1, 2)))[:, :, 0]
            if self.act_embed is not None:
                z = self.act_embed.fn(z)
            for blk, bst in zip(self.blocks, st["blocks"], strict=True):
                z = blk.step(z, bst)
            if self.cfg.spiking:
                z, st["lif_out"] = self.lif_out.step(z, st.get("lif_out"))
            if self.cfg.pool == "mean":
                st["sum"] = z if st["sum"] is None else st["sum"] + z
                st["count"] += 1
                z = st["sum"] / st["count"]
            st["logits"] = self.head(self.bn_out(z[:, :, None])[:, :, 0])
            out.append(st["logits"])
        st["buf"] = buf
        if not out:
            return chunk.new_zeros(chunk.shape[0], 0, self.n_classes)
        return torch.stack(out, 1)

    def stream(self, chunk: torch.Tensor) -> torch.Tensor | None:
        """Feed ``chunk`` [B, n, F]; the logits [B, n_classes] after the last embedded step completed so far
        (None while none is complete). See :meth:`stream_steps`."""
        self.stream_steps(chunk)
        assert self._stream is not None
        return self._stream["logits"]

    def stream_step(self, x_t: torch.Tensor) -> torch.Tensor | None:
        """Feed one input step ``x_t`` [B, F]; see :meth:`stream`."""
        return self.stream(x_t[:, None])

    # --------------------------------------------------------------------------------------- costs
    def synapses(self) -> list[tuple[str, str, str, int, int]]:
        """Every arithmetic op of one streamed inference (the sequential form), in the format of
        :func:`edgefmr.nas.models.lif.op_counts`: (layer, kind, rate source or "" for real input, ops per step, steps).
        """
        c, n = self.cfg, self.steps
        h, d, mem = c.hidden, c.order, c.memory_size
        sp = c.spiking
        rows = [("embed", "conv", "", h * self.features * c.kernel, n)]
        for i, blk in enumerate(self.blocks):
            p = f"blocks.{i}."
            rows += [
                (f"{p}w_u", "linear", f"{p}lif_in" if sp else "", h * mem, n),
                (f"{p}memory.A", "mult", "", mem * d * d, n),
                (f"{p}memory.B", "linear", f"{p}act_u.lif" if sp else "", mem * d, n),
                (f"{p}w_m", "mult", "", mem * d * h, n),
                (f"{p}w_x", "linear", f"{p}lif_in" if sp else "", h * h, n),
                (f"{p}w_1", "linear", f"{p}lif_mix_in" if sp else "", h * blk.mix_hidden, n),
                (f"{p}w_2", "linear", f"{p}act_1.lif" if sp else "", blk.mix_hidden * h, n),
            ]
        if c.pool == "mean":
            rows.append(("pool", "sum", "lif_out" if sp else "", h, n))
        rows.append(("head", "mult", "", h * self.n_classes, 1))
        return rows

    def macs(self) -> int:
        """Multiply-accumulates of one streamed inference over the whole sequence, as if dense."""
        return sum(ops * steps for _, kind, _, ops, steps in self.synapses() if kind != "sum")


def stream_agreement(model: LMUFormer, x: torch.Tensor, chunks: tuple[int, ...] = (1, 5, 17)) -> dict[str, float]:
    """Compare the sequential (streaming) form with the parallel form on inputs ``x`` [B, *input_shape].

    ``parallel_vs_sequential``: max |logits| difference over every embedded step, streaming one input
    step at a time; ``memory_parallel_vs_sequential``: the same for the LMU memories of every block (the
    FFT convolution against the recurrence; for a spiking model the logits depend on spikes only, so
    this is where the two forms' rounding shows); ``stream_vs_whole``: max difference between the
    prediction after streaming the whole sequence in chunks of the sizes in ``chunks`` (cycled) and
    ``forward(x)``; ``prediction_agreement``: the fraction of equal predicted classes in that comparison.
    """
    was_training = model.training
    model.eval()
    par_mem: list[torch.Tensor] = []
    hooks = [blk.memory.register_forward_hook(lambda m, i, o: par_mem.append(o)) for blk in model.blocks]
    with torch.no_grad():
        par = model.forward_steps(x)
        for h in hooks:
            h.remove()
        whole = model(x)
    seq_in = model.sequence(x)
    model.reset_stream()
    seq, seq_mem = [], [[] for _ in model.blocks]
    for t in range(seq_in.shape[1]):
        out = model.stream_steps(seq_in[:, t : t + 1])
        if out.shape[1]:  # one input step completes at most one embedded step
            seq.append(out)
            assert model._stream is not None
            for i, bst in enumerate(model._stream["blocks"]):
                seq_mem[i].append(bst["m"].reshape(len(x), -1))
    seq_logits = torch.cat(seq, 1)
    mem_diff = max(float((torch.stack(ms, -1) - pm).abs().max()) for ms, pm in zip(seq_mem, par_mem, strict=True))
    model.reset_stream()
    t, i, last = 0, 0, None
    while t < seq_in.shape[1]:
        n = chunks[i % len(chunks)]
        last = model.stream(seq_in[:, t : t + n])
        t, i = t + n, i + 1
    model.reset_stream()
    model.train(was_training)
    assert last is not None
    return {
        "parallel_vs_sequential": float((par - seq_logits).abs().max()),
        "memory_parallel_vs_sequential": mem_diff,
        "stream_vs_whole": float((last - whole).abs().max()),
        "prediction_agreement": float((last.argmax(-1) == whole.argmax(-1)).double().mean()),
    }
