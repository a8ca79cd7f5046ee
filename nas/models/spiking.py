"""Spike-driven Transformer V1 (Yao et al., NeurIPS 2023) for images ``[C, H, W]`` and sequences ``[L, F]``.

The network runs T time steps; activations between layers are binary spikes from multi-step LIF neurons
(:mod:`edgefmr.nas.models.lif`), so every linear/conv layer that reads spikes only *accumulates* weights.

* **Spiking patch embedding:** conv3×3 + BN (on the real-valued input, computed once and presented at every
  step: direct encoding) → LIF → patch conv (kernel = stride = patch size) + BN, plus an optional relative
  position embedding LIF → conv3×3 + BN added to it. Sequences use the 1-D versions along time.
* **Membrane shortcut:** every block starts with a LIF, and the residual adds real-valued membrane inputs
  (``x = x + BN(Linear(LIF(x)))``), so the tensor carried between blocks is a membrane potential, never a
  sum of spikes.
* **Spike-driven self-attention (SDSA):** Q, K, V = LIF(BN(Linear(S))) are spikes; attention is
  ``V ⊙ LIF(Σ_tokens(Q ⊙ K))``: a Hadamard product (an AND of spikes), a column sum over tokens (additions),
  a LIF on the per-channel sums and a mask of V. Its cost is linear in the number of tokens and it has
  no multiplications. Heads do not change SDSA (it acts channel-wise); they are used by the other
  attention variants, which a layer can select through ``attention`` (a name or one name per layer).
* **Spiking MLP:** LIF → Linear + BN → LIF → Linear + BN; **head:** LIF → mean over steps and tokens → Linear.

:func:`firing_rates` reads the measured firing rate of every LIF layer; :func:`op_counts` turns measured
rates into the number of additions (spike × weight accumulates) and multiplications per layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.attention import ATTENTIONS, collect_extra_loss, make_attention
from edgefmr.nas.models.config import FamilyConfig
from edgefmr.nas.models.lif import (
    LIF,
    SURROGATES,
    RateMeter,
    firing_rates,
    measure_firing_rates,
    op_counts,
    ops_summary,
)

__all__ = [
    "SpikingConfig",
    "SpikingTransformer",
    "firing_rates",
    "measure_firing_rates",
    "op_counts",
    "ops_summary",
]

SDSA = "sdsa"


def _other_attention_names() -> tuple[str, ...]:
    """Names of the real-valued attention variants of :mod:`edgefmr.nas.models.attention`."""

    return tuple(ATTENTIONS)


@dataclass
class SpikingConfig(FamilyConfig):
    """Dimensions of a :class:`SpikingTransformer` (every one is a search dimension)."""

    family: ClassVar[str] = "spiking"

    T: int = 4  # time steps
    embed_dim: int = 64
    depth: int = 2
    heads: int = 4  # used by non-SDSA attention variants (SDSA is channel-wise)
    mlp_ratio: float = 4.0
    patch_size: int = 2  # 2-D: p×p patches; 1-D: p time steps per token
    stem_dim: int = 32  # channels of the first (real-input) conv
    tau: float = 2.0  # LIF membrane time constant
    threshold: float = 1.0  # LIF firing threshold
    attn_threshold: float = 0.5  # threshold of the LIF on the SDSA column sums
    surrogate: Literal["sigmoid", "atan"] = "sigmoid"  # surrogate gradient
    rpe: bool = True  # relative position embedding (spiking conv3×3) in the patch embedding
    attention: str | list[str] = SDSA  # one name, or one per layer

    def layer_attention(self) -> list[str]:
        """The attention variant of each layer."""
        if isinstance(self.attention, str):
            return [self.attention] * self.depth
        return list(self.attention)

    def inert(self) -> tuple[str, ...]:
        return ("heads",) if all(a == SDSA for a in self.layer_attention()) else ()

    def validate(self) -> None:
        for key in ("T", "embed_dim", "depth", "heads", "patch_size", "stem_dim"):
            if getattr(self, key) < 1:
                raise EdgefmrError(f"{self._where(key)}: {getattr(self, key)} is invalid; must be >= 1")
        for key, lo in (("mlp_ratio", 0.0), ("threshold", 0.0), ("attn_threshold", 0.0)):
            if not getattr(self, key) > lo:
                raise EdgefmrError(f"{self._where(key)}: {getattr(self, key)} is invalid; must be > {lo}")
        if not self.tau >= 1.0:
            raise EdgefmrError(f"{self._where('tau')}: {self.tau} is invalid; must be >= 1")
        if self.surrogate not in SURROGATES:
            raise EdgefmrError(
                f"{self._where('surrogate')}: {self.surrogate!r} is invalid; valid: {', '.join(SURROGATES)}"
            )
        if isinstance(self.attention, list) and len(self.attention) != self.depth:
            raise EdgefmrError(
                f"{self._where('attention')}: {len(self.attention)} entries; expected one per layer "
                f"(depth={self.depth}) or a single name"
            )
        valid = (SDSA, *_other_attention_names())
        for a in self.layer_attention():
            if a not in valid:
                raise EdgefmrError(
                    f"{self._where('attention')}: unknown variant {a!r}; valid: {', '.join(valid)}"
                )
        if self.embed_dim % self.heads:
            raise EdgefmrError(
                f"{self._where('heads')}: embed_dim={self.embed_dim} is not divisible by heads={self.heads}"
            )


class TokenBN(nn.Module):
    """BatchNorm over the last (channel) dim of ``[T, B, N, D]`` tokens; folds into the preceding linear."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class LinearBN(nn.Sequential):
    """Linear (no bias) followed by BatchNorm on ``[T, B, N, D]`` tokens."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__(nn.Linear(d_in, d_out, bias=False), TokenBN(d_out))


def _lif(cfg: SpikingConfig, threshold: float | None = None) -> LIF:
    return LIF(cfg.tau, cfg.threshold if threshold is None else threshold, cfg.surrogate)


class SpikeDrivenSelfAttention(nn.Module):
    """Spike-driven self-attention: ``V ⊙ LIF(Σ_tokens(Q ⊙ K))`` then Linear + BN (no multiplications)."""

    def __init__(self, cfg: SpikingConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.lif_in = _lif(cfg)
        self.q, self.k, self.v = LinearBN(d, d), LinearBN(d, d), LinearBN(d, d)
        self.lif_q, self.lif_k, self.lif_v = _lif(cfg), _lif(cfg), _lif(cfg)
        self.qk = RateMeter()  # Q ⊙ K spikes (their count is the column sum's additions)
        self.lif_attn = _lif(cfg, cfg.attn_threshold)
        self.masked_v = RateMeter()
        self.proj = LinearBN(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.lif_in(x)
        q, k, v = self.lif_q(self.q(s)), self.lif_k(self.k(s)), self.lif_v(self.v(s))
        col = self.qk(q * k).sum(dim=2, keepdim=True)  # [T, B, 1, D]: spikes per channel over tokens
        y = self.masked_v(v * self.lif_attn(col))
        return self.proj(y)

    def synapses(self, p: str, n: int, d: int, T: int) -> list[tuple[str, str, str, int, int]]:
        """(layer, kind, rate source, dense ops per step, steps) of every synaptic op in this module."""
        return [
            (f"{p}q", "linear", f"{p}lif_in", n * d * d, T),
            (f"{p}k", "linear", f"{p}lif_in", n * d * d, T),
            (f"{p}v", "linear", f"{p}lif_in", n * d * d, T),
            (f"{p}column_sum", "sum", f"{p}qk", n * d, T),
            (f"{p}proj", "linear", f"{p}masked_v", n * d * d, T),
        ]


class SpikingSoftAttention(nn.Module):
    """A real-valued attention variant (:mod:`edgefmr.nas.models.attention`) applied to the block's input spikes.

    The fused Q/K/V linear reads spikes (accumulates); the attention core and the output linear work on
    real values (multiplications). Per step, the T·B token sets are independent attention calls.
    """

    def __init__(self, cfg: SpikingConfig, name: str) -> None:
        super().__init__()

        self.name = name
        self.heads = cfg.heads
        self.lif_in = _lif(cfg)
        self.attn = make_attention(name, cfg.embed_dim, cfg.heads)
        self.bn = TokenBN(cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, N, D = x.shape
        s = self.lif_in(x)
        y = self.attn(s.reshape(T * B, N, D)).reshape(T, B, N, D)
        return self.bn(y)

    def synapses(self, p: str, n: int, d: int, T: int) -> list[tuple[str, str, str, int, int]]:
        # the attention core's multiplications as the attention module declares them to the MAC counter
        core = int(self.attn.macs_extra((torch.zeros(1, n, d),), torch.zeros(1, n, d)))
        rows = [(f"{p}attn.qkv", "linear", f"{p}lif_in", n * d * 3 * d, T)]
        gate = getattr(self.attn, "gate", None)
        if isinstance(gate, nn.Linear):  # gated attention: a linear on the (spiking) input
            rows.append((f"{p}attn.gate", "linear", f"{p}lif_in", n * gate.in_features * gate.out_features, T))
        return rows + [(f"{p}attn.core", "mult", "", core, T), (f"{p}attn.proj", "mult", "", n * d * d, T)]


class SpikingMLP(nn.Module):
    def __init__(self, cfg: SpikingConfig) -> None:
        super().__init__()
        d, h = cfg.embed_dim, max(1, round(cfg.embed_dim * cfg.mlp_ratio))
        self.hidden = h
        self.lif_in = _lif(cfg)
        self.fc1 = LinearBN(d, h)
        self.lif_hidden = _lif(cfg)
        self.fc2 = LinearBN(h, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.lif_hidden(self.fc1(self.lif_in(x))))

    def synapses(self, p: str, n: int, d: int, T: int) -> list[tuple[str, str, str, int, int]]:
        return [
            (f"{p}fc1", "linear", f"{p}lif_in", n * d * self.hidden, T),
            (f"{p}fc2", "linear", f"{p}lif_hidden", n * self.hidden * d, T),
        ]


class Block(nn.Module):
    """Membrane-shortcut block: ``x + Attn(x)`` then ``x + MLP(x)``; each branch begins with its own LIF."""

    def __init__(self, cfg: SpikingConfig, attention: str) -> None:
        super().__init__()
        self.attention = attention
        self.attn = SpikeDrivenSelfAttention(cfg) if attention == SDSA else SpikingSoftAttention(cfg, attention)
        self.mlp = SpikingMLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class SpikingTransformer(nn.Module):
    """Spike-driven Transformer V1; ``forward(x [B, *input_shape]) -> logits [B, n_classes]``."""

    def __init__(self, cfg: SpikingConfig, input_shape: tuple[int, ...] | list[int], n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_shape = tuple(int(s) for s in input_shape)
        self.n_classes = int(n_classes)
        p, d = cfg.patch_size, cfg.embed_dim
        if len(self.input_shape) == 3:  # image [C, H, W]
            c, h, w = self.input_shape
            if h % p or w % p:
                raise EdgefmrError(f"spiking config key 'patch_size': {p} does not divide the image {h}x{w}")
            self.spatial: tuple[int, ...] = (h, w)
            self.tokens_grid: tuple[int, ...] = (h // p, w // p)
            conv: type[nn.Conv1d] | type[nn.Conv2d] = nn.Conv2d
            bn: type[nn.BatchNorm1d] | type[nn.BatchNorm2d] = nn.BatchNorm2d
        elif len(self.input_shape) == 2:  # sequence [L, F]: convolutions along time, F = channels
            length, c = self.input_shape
            if length % p:
                raise EdgefmrError(
                    f"spiking config key 'patch_size': {p} does not divide the sequence length {length}"
                )
            self.spatial, self.tokens_grid = (length,), (length // p,)
            conv, bn = nn.Conv1d, nn.BatchNorm1d
        else:
            raise EdgefmrError(
                f"spiking transformer: input shape {self.input_shape} is not supported; "
                "expected an image [C, H, W] or a sequence [L, F]"
            )
        self.in_channels = c
        self.n_tokens = math.prod(self.tokens_grid)
        self.conv1 = conv(c, cfg.stem_dim, 3, padding=1, bias=False)
        self.bn1 = bn(cfg.stem_dim)
        self.lif1 = _lif(cfg)
        self.patch = conv(cfg.stem_dim, d, p, stride=p, bias=False)
        self.bn2 = bn(d)
        if cfg.rpe:
            self.lif_rpe = _lif(cfg)
            self.rpe = conv(d, d, 3, padding=1, bias=False)
            self.bn_rpe = bn(d)
        self.blocks = nn.ModuleList(Block(cfg, a) for a in cfg.layer_attention())
        self.lif_out = _lif(cfg)
        self.head = nn.Linear(d, self.n_classes)

    def _tstack(self, f: Any, x: torch.Tensor) -> torch.Tensor:
        """Apply a per-step module to ``[T, B, ...]`` by merging the T and B dims."""
        y = f(x.flatten(0, 1))
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = self.cfg.T
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected input [B, {self.input_shape}], got {tuple(x.shape)}")
        if len(self.input_shape) == 2:
            x = x.transpose(1, 2)  # [B, F, L]
        y = self.bn1(self.conv1(x))  # static input: the first conv is computed once (direct encoding)
        s = self.lif1(y.unsqueeze(0).expand(T, *y.shape))
        z = self._tstack(lambda u: self.bn2(self.patch(u)), s)  # [T, B, D, *grid]
        if self.cfg.rpe:
            z = z + self._tstack(lambda u: self.bn_rpe(self.rpe(u)), self.lif_rpe(z))
        tokens = z.flatten(3).transpose(2, 3)  # [T, B, N, D]
        for blk in self.blocks:
            tokens = blk(tokens)
        s = self.lif_out(tokens)
        return self.head(s.mean(dim=(0, 2)))

    def extra_loss(self) -> torch.Tensor | None:
        """The hash-learning loss of ``hash`` attention layers (None when there are none)."""

        return collect_extra_loss(self)

    def synapses(self) -> list[tuple[str, str, str, int, int]]:
        """Every synaptic op: (layer, kind, rate source or "" for real input, dense ops per step, steps).

        ``kind`` is ``linear``/``conv`` (one MAC per weight use), ``sum`` (an addition per element) or
        ``mult`` (real-valued multiplications regardless of rates).
        """
        cfg, d, n, T = self.cfg, self.cfg.embed_dim, self.n_tokens, self.cfg.T
        k = 3 ** len(self.spatial)
        px = math.prod(self.spatial)
        rows = [
            ("conv1", "conv", "", px * self.in_channels * cfg.stem_dim * k, 1),
            ("patch", "conv", "lif1", n * cfg.stem_dim * d * cfg.patch_size ** len(self.spatial), T),
        ]
        if cfg.rpe:
            rows.append(("rpe", "conv", "lif_rpe", n * d * d * k, T))
        for i, blk in enumerate(self.blocks):
            rows += blk.attn.synapses(f"blocks.{i}.attn.", n, d, T)
            rows += blk.mlp.synapses(f"blocks.{i}.mlp.", n, d, T)
        rows.append(("pool", "sum", "lif_out", n * d, T))
        rows.append(("head", "mult", "", d * self.n_classes, 1))
        return rows

    def dense_macs(self) -> int:
        """Multiply-accumulates per inference if every synaptic op were a dense MAC (the ANN equivalent)."""
        return sum(ops * steps for _, kind, _, ops, steps in self.synapses() if kind != "sum")
