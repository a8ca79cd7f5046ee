"""MCUFormer-style vision transformer, for images ``[C, H, W]`` and sequences ``[T, F]``.

Tokens: an image is cut into ``p x p`` patches (zero-padded to a multiple of p), a sequence into
chunks of p steps; each patch is flattened and embedded by a linear layer, and a learned position
embedding is added. Blocks are pre-norm: ``x + Attn(LN(x))`` then ``x + MLP(LN(x))`` with
``MLP = Linear -> GELU|ReLU -> Linear``. The output is the class token or the mean of the tokens,
then LayerNorm and a linear classifier.

As in MCUFormer, every linear layer of the patch embedding and of the blocks (Q/K/V, attention
output, MLP) can be low-rank: with ``rank_factor`` r < 1 a layer in -> out becomes in -> k -> out,
``k = round(r * min(in, out))`` (:class:`~edgefmr.nas.models.layers.LowRankLinear`). The classifier (D ->
classes) stays full rank. Every layer can use its own attention variant (:mod:`edgefmr.nas.models.attention`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.attention import ATTENTIONS, MultiHeadAttention, collect_extra_loss
from edgefmr.nas.models.config import FamilyConfig
from edgefmr.nas.models.layers import LowRankLinear


@dataclass
class ViTConfig(FamilyConfig):
    """Dimensions of a :class:`ViT` (every one is a search dimension)."""

    family: ClassVar[str] = "vit"

    patch_size: int = 2  # p x p patches (images) or p steps (sequences)
    embed_dim: int = 64
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 2.0
    rank_factor: float = 1.0  # r: low-rank factor of every linear (1 = full rank)
    pooling: Literal["cls", "mean"] = "mean"
    activation: Literal["gelu", "relu"] = "gelu"
    attention: str | list[str] = "softmax"  # one variant, or one per layer
    clip_alpha: float = 0.5  # clipped softmax: gamma = -clip_alpha / tokens, zeta = 1
    gate_bias: float = 1.0  # gated attention: initial gate bias
    hash_bits: int = 16  # EcoFormer hash: bits b per code
    hash_anchors: int = 8  # EcoFormer hash: RBF anchor points m
    hash_topk: int = 0  # EcoFormer hash: similar/dissimilar keys per query (0: tokens / 4)
    hash_binary: bool = True  # EcoFormer hash: +-1 anchors and projection (additions only); False: real-valued

    def layer_attention(self) -> list[str]:
        """The attention variant of each layer."""
        if isinstance(self.attention, str):
            return [self.attention] * self.depth
        return list(self.attention)

    def validate(self) -> None:
        for key in ("patch_size", "embed_dim", "depth", "heads", "hash_bits", "hash_anchors"):
            if getattr(self, key) < 1:
                raise EdgefmrError(f"{self._where(key)}: must be >= 1, got {getattr(self, key)}")
        if self.hash_topk < 0:
            raise EdgefmrError(f"{self._where('hash_topk')}: must be >= 0, got {self.hash_topk}")
        if self.embed_dim % self.heads:
            raise EdgefmrError(f"{self._where('heads')}: embed_dim {self.embed_dim} is not a multiple of "
                               f"heads {self.heads}")
        if self.mlp_ratio <= 0:
            raise EdgefmrError(f"{self._where('mlp_ratio')}: must be > 0, got {self.mlp_ratio}")
        if not 0 < self.rank_factor <= 1:
            raise EdgefmrError(f"{self._where('rank_factor')}: must be in (0, 1], got {self.rank_factor}")
        if self.clip_alpha < 0:
            raise EdgefmrError(f"{self._where('clip_alpha')}: must be >= 0, got {self.clip_alpha}")
        if isinstance(self.attention, list) and len(self.attention) != self.depth:
            raise EdgefmrError(f"{self._where('attention')}: {len(self.attention)} entries; expected one per "
                               f"layer (depth {self.depth}) or a single name")
        for a in self.layer_attention():
            if a not in ATTENTIONS:
                raise EdgefmrError(f"{self._where('attention')}: unknown variant {a!r}; valid: {', '.join(ATTENTIONS)}")


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int, r: float, activation: str) -> None:
        super().__init__()
        self.fc1 = LowRankLinear(dim, hidden, r)
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.fc2 = LowRankLinear(hidden, dim, r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, cfg: ViTConfig, attention: str) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.norm1 = nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, cfg.heads, attention, cfg.rank_factor, clip_alpha=cfg.clip_alpha,
                                       gate_bias=cfg.gate_bias, hash_bits=cfg.hash_bits,
                                       hash_anchors=cfg.hash_anchors, hash_topk=cfg.hash_topk,
                                       hash_binary=cfg.hash_binary)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = MLP(d, max(1, round(d * cfg.mlp_ratio)), cfg.rank_factor, cfg.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """Vision transformer ``forward(x: [B, *input_shape]) -> logits [B, n_classes]``."""

    #: ``edgefmr train`` defaults (the digits acceptance recipe of bench/families.py)
    TRAIN_DEFAULTS: ClassVar[dict] = {"epochs": 100, "lr": 3e-3, "batch_size": 64, "label_smoothing": 0.1}

    def __init__(self, cfg: ViTConfig, input_shape: tuple[int, ...], n_classes: int) -> None:
        super().__init__()
        self.cfg, self.input_shape, self.n_classes = cfg, tuple(input_shape), n_classes
        p = cfg.patch_size
        if len(self.input_shape) == 3:
            c, h, w = self.input_shape
            self.grid = (math.ceil(h / p), math.ceil(w / p))
            patch_dim = c * p * p
        elif len(self.input_shape) == 2:
            t, f = self.input_shape
            self.grid = (math.ceil(t / p),)
            patch_dim = p * f
        else:
            raise EdgefmrError(f"vit: input shape {list(self.input_shape)} is neither an image [C, H, W] "
                               "nor a sequence [T, F]")
        if n_classes < 2:
            raise EdgefmrError(f"vit: needs at least 2 classes, got {n_classes}")
        self.n_patches = math.prod(self.grid)
        d = cfg.embed_dim
        self.patch_embed = LowRankLinear(patch_dim, d, cfg.rank_factor)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d)) if cfg.pooling == "cls" else None
        self.n_tokens = self.n_patches + (1 if self.cls_token is not None else 0)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.n_tokens, d))
        self.blocks = nn.ModuleList(Block(cfg, a) for a in cfg.layer_attention())
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, n_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.2, a=-0.4, b=0.4)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.zeros_(self.head.bias)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """[B, *input_shape] -> flattened patches [B, n_patches, patch_dim] (zero padding to a multiple of p)."""
        p = self.cfg.patch_size
        if len(self.input_shape) == 3:
            b, c, h, w = x.shape
            gh, gw = self.grid
            x = nn.functional.pad(x, (0, gw * p - w, 0, gh * p - h))
            return x.reshape(b, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, c * p * p)
        b, t, f = x.shape
        (g,) = self.grid
        x = nn.functional.pad(x, (0, 0, 0, g * p - t))
        return x.reshape(b, g, p * f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise EdgefmrError(f"vit: expected input [B, {', '.join(map(str, self.input_shape))}], "
                               f"got {list(x.shape)}")
        tokens = self.patch_embed(self.patchify(x))
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        tokens = tokens + self.pos_embed
        for blk in self.blocks:
            tokens = blk(tokens)
        pooled = tokens[:, 0] if self.cls_token is not None else tokens.mean(dim=1)
        return self.head(self.norm(pooled))

    def extra_loss(self) -> torch.Tensor | None:
        """Hash-function loss of the EcoFormer layers (the training protocol of :mod:`edgefmr.nas.train`)."""
        return collect_extra_loss(self)
