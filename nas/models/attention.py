"""Attention variants, selectable per layer: ``softmax``, ``clipped``, ``gated`` and ``hash``.

All variants share one module, :class:`MultiHeadAttention` (``[B, N, D] -> [B, N, D]``: a fused
Q/K/V linear, the variant's attention core per head, an output linear), built by
:func:`make_attention`. The ops are the ones the integer IR lowers: linear, matmul, softmax, exp,
sigmoid, clamp, sign, add, mul, div.

* ``softmax`` - ``softmax(Q K^T / sqrt(d)) V``.
* ``clipped`` - clipped softmax of Bondarenko et al., "Quantizable Transformers" (2023):
  ``clip((zeta - gamma) * softmax(x) + gamma, 0, 1)`` with ``zeta = 1`` and ``gamma = -alpha / N``
  scaled by the number of keys N, as the paper suggests; ``alpha = 0.5`` by default, i.e.
  ``gamma ~= -0.03`` at 17 tokens. Probabilities below ``alpha / (N + alpha)`` (about half of a
  uniform weight) become exactly 0, so a head can attend to "nothing" without huge logits.
* ``gated`` - gated attention from the same paper: ``sigmoid(G(x)) * softmax-attention output``
  per head, with ``G`` one linear layer ``D -> heads`` on the token (the paper's linear gating
  function), bias initialised to ``gate_bias`` (sigmoid(1) ~= 0.73).
* ``hash`` - EcoFormer (Liu et al., NeurIPS 2022) kernelized-hashing attention; see
  :class:`KernelHash`. Queries and keys are L2-normalised, mapped by an RBF kernel against m
  anchor points, centred, projected to b bits and binarised with a straight-through sign; with
  codes ``h(q), h(k) in {-1, +1}^b`` the similarity is the number of equal bits
  ``s_ij = (b + h(q_i).h(k_j)) / 2``, and ``out_i = sum_j s_ij v_j / sum_j s_ij`` is computed in
  linear form from the key-side sums ``sum_j h(k_j) v_j^T``, ``sum_j h(k_j)``, ``sum_j v_j``,
  which need additions only (the codes are +-1). By default (``hash_binary``) the anchors are binarized to
  ``sign(a)/sqrt(d)`` and the projection to ``sign(A)`` (straight-through, so the hash loss still learns them),
  which makes the anchor dot products and the projection additions as well; ``hash_binary=False`` keeps them
  real-valued.

Hash learning (a faithful simplification of EcoFormer's self-supervised KSH training): the target
is taken from the softmax attention map of the same Q, K (per query, the ``topk`` keys with the
largest logits are "similar", +1, the ``topk`` with the smallest "dissimilar", -1); the loss is
KSH's squared code-inner-product error on those pairs, ``mean((h(q).h(k) / b - S)^2)``, with the
sign relaxed to ``tanh``. The paper fits the bits greedily one by one with its own optimiser on a
batch; here all bits are fitted jointly by the model's optimiser during training, through
``extra_loss()`` (see :mod:`edgefmr.nas.train`), with Q and K detached so the hash loss trains only
the hash parameters (the latent anchors and projection); it sees the first ``HASH_LOSS_SAMPLES`` samples of each
(shuffled) batch, as the paper fits its hash functions on a batch. As in the paper, the task loss
reaches Q and K through the straight-through sign but not the hash parameters. Anchors are
sampled from the keys of the first training batch (the paper samples them from the data) and then
refined by the hash loss (the paper keeps them fixed); the RBF width ``sigma`` is the mean squared
query/key-anchor distance of that batch, and the centring vector is a running mean. EcoFormer
fine-tunes a pretrained softmax model; ``train(..., init_state=...)`` does the same, but on digits
training the hash model from scratch was more accurate, so the bench does that, learning from the trained softmax
model's logits as well (knowledge distillation, ``train(..., teacher=...)``), which closes most of the hash model's
accuracy gap (docs/attention.md).

:func:`attention_op_counts` counts the multiplications and additions of the attention core (the
"Q.K path": from Q, K, V to the weighted values, excluding the Q/K/V and output linears that all
variants share) for a number of tokens.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.layers import LowRankLinear

ATTENTIONS = ("softmax", "clipped", "gated", "hash")
HASH_LOSS_SAMPLES = 16  # samples of each training batch that the hash loss and the centring update see

DEFAULT_OPTIONS: dict[str, Any] = {
    "clip_alpha": 0.5,
    "clip_zeta": 1.0,
    "gate_bias": 1.0,
    "hash_bits": 8,
    "hash_anchors": 8,
    "hash_topk": 0,  # 0: max(1, round(N / 4)) keys per query
    "hash_binary": True,  # binarized anchors (+-1/sqrt(d)) and projection (+-1): no multiplications in either
}


def check_variant(name: str, where: str = "attention") -> str:
    """Return ``name`` if it is a known attention variant, else raise EdgefmrError listing the valid ones."""
    if name not in ATTENTIONS:
        raise EdgefmrError(f"{where}: unknown attention variant {name!r}; valid: {', '.join(ATTENTIONS)}")
    return name


class _SignSTE(torch.autograd.Function):
    """sign(x) in {-1, +1} (sign(0) = +1); backward passes the gradient where |x| <= 1 (clipped identity)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """Binarise to +-1 with a straight-through (clipped identity) gradient."""
    return _SignSTE.apply(x)


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.square().sum(dim=-1, keepdim=True).clamp_min(1e-12))


def _per_head(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x [B, H, N, i] @ w [H, i, o] -> [B, H, N, o]`` as one batched matmul over heads."""
    b, h, n, i = x.shape
    y = torch.bmm(x.transpose(0, 1).reshape(h, b * n, i), w)
    return y.reshape(h, b, n, -1).transpose(0, 1)


class KernelHash(nn.Module):
    """EcoFormer's kernelized hash functions for ``heads`` heads of width ``dim``: ``b`` bits from ``m`` anchors.

    ``h(x) = sign(A_h (phi(x) - mu_h))`` with ``phi_j(x) = exp(-||x - a_j||^2 / (2 sigma_h))`` for unit
    vectors x and unit anchors a_j, i.e. ``exp((x.a_j - 1) / sigma_h)``.

    With ``binary`` (the default) the anchors are used as ``sign(a_j) / sqrt(d)`` (unit vectors with entries
    +-1/sqrt(d)) and the projection as ``sign(A)``, both through a straight-through sign so the hash loss still
    learns the latent real values: the dot products ``x.sign(a_j)`` and the projection are then additions and
    subtractions only, and the ``1/sqrt(d)`` joins the kernel's per-token scale ``1 / (sigma_h sqrt(d) |x|)``.
    ``binary=False`` keeps real-valued (L2-normalised) anchors and projection. :meth:`effective_anchors` and
    :meth:`effective_proj` return the values the forward pass uses.
    """

    def __init__(self, heads: int, dim: int, bits: int, anchors: int, binary: bool = True) -> None:
        super().__init__()
        self.heads, self.dim, self.bits, self.m, self.binary = heads, dim, bits, anchors, binary
        self.anchors = nn.Parameter(_normalize(torch.randn(heads, anchors, dim)))
        self.proj = nn.Parameter(torch.randn(heads, bits, anchors))
        self.register_buffer("sigma", torch.ones(heads))
        self.register_buffer("mu", torch.zeros(heads, anchors))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def effective_anchors(self) -> torch.Tensor:
        """The unit anchors [H, m, d] the kernel uses: ``sign(a) / sqrt(d)`` (binary) or ``a / |a|``."""
        if self.binary:
            return sign_ste(self.anchors) * self.dim**-0.5
        return _normalize(self.anchors)

    def effective_proj(self) -> torch.Tensor:
        """The projection [H, b, m] the codes use: ``sign(A)`` (binary) or ``A``."""
        return sign_ste(self.proj) if self.binary else self.proj

    def kernel(self, x: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        """RBF features of unit vectors x [B, H, N, d] against unit anchors [H, m, d] -> [B, H, N, m]."""
        dots = _per_head(x, anchors.transpose(-1, -2))
        return torch.exp((dots - 1.0) * (1.0 / self.sigma).view(1, -1, 1, 1))

    @torch.no_grad()
    def init_from(self, keys: torch.Tensor) -> None:
        """Sample anchors from unit keys [B, H, N, d]; set sigma (mean squared distance) and mu.

        With ``binary`` the sampled keys become the latent anchors (the kernel uses their signs)."""
        b, h, n, d = keys.shape
        flat = keys.permute(1, 0, 2, 3).reshape(h, b * n, d)
        idx = torch.stack([torch.randperm(b * n)[: self.m] for _ in range(h)])
        if idx.shape[1] < self.m:  # fewer tokens than anchors: repeat
            idx = idx.repeat(1, math.ceil(self.m / idx.shape[1]))[:, : self.m]
        anchors = torch.gather(flat, 1, idx[..., None].expand(h, self.m, d))
        self.anchors.copy_(anchors)
        anchors = self.effective_anchors()
        sq = (2.0 - 2.0 * torch.einsum("bhnd,hmd->bhnm", keys, anchors)).clamp_min(0)
        self.sigma.copy_(sq.mean(dim=(0, 2, 3)).clamp_min(1e-3) / 2.0)
        self.mu.copy_(self.kernel(keys, anchors).mean(dim=(0, 2)))
        self.initialized.fill_(True)

    def features(self, x: torch.Tensor, detach_params: bool) -> torch.Tensor:
        """Centred kernel features times the projection (pre-sign hash values) [B, H, N, b]."""
        anchors, proj = self.effective_anchors(), self.effective_proj()
        if detach_params:
            anchors, proj = anchors.detach(), proj.detach()
        phi = self.kernel(x, anchors) - self.mu.view(1, self.heads, 1, self.m)
        return _per_head(phi, proj.transpose(-1, -2))

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """+-1 codes [B, H, N, b] of unit vectors x; gradients reach x (straight-through), not the hash."""
        return sign_ste(self.features(x, detach_params=True))

    def loss(self, q: torch.Tensor, k: torch.Tensor, logits: torch.Tensor, topk: int,
             mu_momentum: float = 0.0) -> torch.Tensor:
        """KSH loss of the relaxed codes of unit q, k [B, H, N, d] against the attention-map targets.

        With ``mu_momentum`` > 0 the centring vector also moves towards the mean kernel features of
        q and k (a running mean), computed from the same kernel evaluation.
        """
        n = logits.shape[-1]
        t = min(max(1, topk), n // 2) if n >= 2 else 1
        target = torch.zeros_like(logits)
        target.scatter_(-1, logits.topk(t, dim=-1).indices, 1.0)
        target.scatter_(-1, logits.topk(t, dim=-1, largest=False).indices, -1.0)
        phi = self.kernel(torch.cat([q, k], dim=2), self.effective_anchors())
        if mu_momentum > 0:
            with torch.no_grad():
                self.mu.lerp_(phi.mean(dim=(0, 2)), mu_momentum)
        proj = self.effective_proj()
        y = torch.tanh(_per_head(phi - self.mu.view(1, self.heads, 1, self.m), proj.transpose(-1, -2)))
        yq, yk = y.split([q.shape[2], k.shape[2]], dim=2)
        sim = yq @ yk.transpose(-1, -2) / self.bits
        w = target.abs()
        return (w * (sim - target) ** 2).sum() / w.sum()


def hash_attention_linear(hq: torch.Tensor, hk: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``out_i = sum_j s_ij v_j / sum_j s_ij`` with ``2 s_ij = b + hq_i.hk_j``, in linear form (key sums first)."""
    b, n = hq.shape[-1], hk.shape[-2]
    kv = hk.transpose(-1, -2) @ v  # [.., b, d]: sums of +-v (additions only)
    ksum = hk.sum(dim=-2)  # [.., b]
    vsum = v.sum(dim=-2, keepdim=True)  # [.., 1, d]
    num = b * vsum + hq @ kv  # [.., N, d]
    den = b * n + hq @ ksum.unsqueeze(-1)  # [.., N, 1]; an even integer >= 0
    return num / den.clamp_min(1.0)


def hash_attention_quadratic(hq: torch.Tensor, hk: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The same attention with the N x N similarity matrix formed explicitly (the reference)."""
    s = (hq.shape[-1] + hq @ hk.transpose(-1, -2)) / 2
    return (s @ v) / s.sum(dim=-1, keepdim=True).clamp_min(0.5)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention ``[B, N, D] -> [B, N, D]`` with a selectable core (see the module docstring).

    ``rank_factor`` < 1 makes the Q/K/V and output linears low-rank (MCUFormer). Options (defaults in
    :data:`DEFAULT_OPTIONS`): ``clip_alpha``, ``clip_zeta`` (clipped), ``gate_bias`` (gated),
    ``hash_bits``, ``hash_anchors``, ``hash_topk``, ``hash_binary`` (hash).
    """

    def __init__(self, dim: int, heads: int, variant: str = "softmax", rank_factor: float = 1.0,
                 **options: Any) -> None:
        super().__init__()
        check_variant(variant)
        unknown = set(options) - set(DEFAULT_OPTIONS)
        if unknown:
            raise EdgefmrError(f"unknown attention option {sorted(unknown)[0]!r}; valid: {', '.join(DEFAULT_OPTIONS)}")
        if heads < 1 or dim % heads:
            raise EdgefmrError(f"attention: embed dim {dim} must be a multiple of heads {heads}")
        opts = {**DEFAULT_OPTIONS, **options}
        self.dim, self.heads, self.head_dim, self.variant = dim, heads, dim // heads, variant
        self.clip_alpha, self.clip_zeta = float(opts["clip_alpha"]), float(opts["clip_zeta"])
        self.hash_topk = int(opts["hash_topk"])
        self.qkv = LowRankLinear(dim, 3 * dim, rank_factor)
        self.proj = LowRankLinear(dim, dim, rank_factor)
        if variant == "gated":
            self.gate = nn.Linear(dim, heads)
            nn.init.zeros_(self.gate.weight)
            nn.init.constant_(self.gate.bias, float(opts["gate_bias"]))
        if variant == "hash":
            self.hash = KernelHash(heads, self.head_dim, int(opts["hash_bits"]), int(opts["hash_anchors"]),
                                   binary=bool(opts["hash_binary"]))
        self._extra: torch.Tensor | None = None

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]  # each [B, H, N, d]

    def attention_weights(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """The [B, H, N, N] weights of the softmax-family cores (softmax, clipped, gated)."""
        p = torch.softmax(q @ k.transpose(-1, -2) * self.head_dim**-0.5, dim=-1)
        if self.variant == "clipped":
            gamma = -self.clip_alpha / k.shape[-2]
            p = torch.clamp((self.clip_zeta - gamma) * p + gamma, 0.0, 1.0)
        return p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self._split(x)
        if self.variant == "hash":
            qn, kn = _normalize(q), _normalize(k)
            if self.training:
                if not bool(self.hash.initialized):
                    self.hash.init_from(kn.detach())
                s = slice(0, HASH_LOSS_SAMPLES)  # batches are shuffled: the first samples are a random subset
                logits = (q[s] @ k[s].transpose(-1, -2)).detach()
                loss = self.hash.loss(qn[s].detach(), kn[s].detach(), logits, self.hash_topk or round(n / 4),
                                      mu_momentum=0.1)
                self._extra = loss if self._extra is None else self._extra + loss
            hq, hk = self.hash.codes(torch.cat([qn, kn], dim=2)).split([n, n], dim=2)
            out = hash_attention_linear(hq, hk, v)
        else:
            out = self.attention_weights(q, k) @ v
            if self.variant == "gated":
                out = out * torch.sigmoid(self.gate(x)).transpose(1, 2).unsqueeze(-1)
        return self.proj(out.transpose(1, 2).reshape(b, n, self.dim))

    def pop_extra_loss(self) -> torch.Tensor | None:
        """The hash loss accumulated since the last call (None for other variants or in eval mode)."""
        loss, self._extra = self._extra, None
        return loss

    def macs_extra(self, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
        """Multiplications of the attention core for one call (the linears are counted by :mod:`cost`)."""
        b, n = inputs[0].shape[:2]
        c = attention_op_counts(self.variant, n, self.head_dim, self.heads, hash_bits=self._bits(),
                                hash_anchors=self._anchors(), dim=self.dim, hash_binary=self._binary())
        gate_linear = n * self.dim if self.variant == "gated" else 0  # an nn.Linear, counted by cost.py
        return b * (c["mults"] - gate_linear)

    def _bits(self) -> int:
        return self.hash.bits if self.variant == "hash" else DEFAULT_OPTIONS["hash_bits"]

    def _anchors(self) -> int:
        return self.hash.m if self.variant == "hash" else DEFAULT_OPTIONS["hash_anchors"]

    def _binary(self) -> bool:
        return self.hash.binary if self.variant == "hash" else DEFAULT_OPTIONS["hash_binary"]


def make_attention(name: str, dim: int, heads: int, rank_factor: float = 1.0, **options: Any) -> MultiHeadAttention:
    """An attention layer of variant ``name`` (one of :data:`ATTENTIONS`)."""
    return MultiHeadAttention(dim, heads, name, rank_factor, **options)


def collect_extra_loss(model: nn.Module) -> torch.Tensor | None:
    """Sum of ``pop_extra_loss()`` over a model's modules (for a model's ``extra_loss`` hook)."""
    total = None
    for m in model.modules():
        pop = getattr(m, "pop_extra_loss", None)
        if pop is not None:
            loss = pop()
            if loss is not None:
                total = loss if total is None else total + loss
    return total


def attention_op_counts(variant: str, n_tokens: int, head_dim: int, heads: int = 1, *, hash_bits: int = 8,
                        hash_anchors: int = 8, dim: int | None = None, hash_binary: bool = True) -> dict[str, int]:
    """Arithmetic of the attention core (the "Q.K path") for ``n_tokens`` tokens, summed over heads.

    Counts, from Q, K, V to the weighted values (before the output linear): ``mults`` (all
    multiplications, including the hash encoding), ``qk_mults`` (those forming the N x N
    similarities alone), ``adds`` (additions/subtractions), ``exps`` (exp/sigmoid), ``divs``
    (reciprocals and reciprocal square roots). The 1/sqrt(d) scale is folded into the Q weights and
    halvings are shifts, so neither is counted. ``dim`` (the model width, default ``heads * head_dim``)
    sizes the gate of ``gated``.

    softmax (per head): ``QK^T`` N^2 d mults; softmax N^2 exps, N^2 subtractions (max), N(N-1) adds,
    N reciprocals, N^2 mults; ``AV`` N^2 d mults. clipped adds N^2 mults and N^2 adds (scale and
    offset, the clip is a compare). gated adds the gate linear (N D mults), N sigmoids, N d mults.

    hash (per head, per Q or K token), with ``hash_binary`` (anchors +-1/sqrt(d), projection +-1): the
    squared norm (d mults, d-1 adds) and its rsqrt; the anchor dot products ``x.sign(a_j)`` (m (d-1)
    signed adds, no mults); the kernel argument ``dot_j s - 1/sigma`` with the per-token scale
    ``s = rsqrt(|x|^2) / (sigma sqrt(d))`` (1 + m mults, m adds); m exps; centring (m adds); the
    projection by sign(A) to b bits ((m-1) b adds). Without ``hash_binary`` (real anchors and
    projection): d mults for the norm, m d for the dot products, m for the scale by 1/(sigma ||x||), m b
    for the projection. Both then form the key sums ``sum h(k) v^T`` (N b d adds), ``sum h(k)`` (N b),
    ``sum v`` (N d), and per query ``h(q)^T (sum h v^T)`` ((b-1) d adds + d for ``b sum v``, whose b
    d-vector product is done once) and the denominator (b adds), one reciprocal and d mults.
    """
    check_variant(variant)
    n, d, b, m = n_tokens, head_dim, hash_bits, hash_anchors
    dim = dim if dim is not None else heads * head_dim
    if variant == "hash":
        if hash_binary:
            enc_mults = d + 1 + m  # squares, rsqrt times 1/(sigma sqrt d), one scale per anchor
        else:
            enc_mults = d + m * d + m + m * b
        enc_adds = (d - 1) + m * (d - 1) + m + m + (m - 1) * b  # norm, dots, "-1/sigma" offset, centring, proj
        mults = 2 * n * enc_mults + d + n * d
        adds = 2 * n * enc_adds + n * b * d + n * b + n * d + n * ((b - 1) * d + d + b)
        c = {"mults": mults, "qk_mults": 0, "adds": adds, "exps": 2 * n * m, "divs": 2 * n + n}
    else:
        mults = 2 * n * n * d + n * n
        adds = n * n * (d - 1) + n * n + n * (n - 1) + n * (n - 1) * d
        c = {"mults": mults, "qk_mults": n * n * d, "adds": adds, "exps": n * n, "divs": n}
        if variant == "clipped":
            c["mults"] += n * n
            c["adds"] += n * n
        if variant == "gated":
            c["mults"] += n * d
            c["exps"] += n
    out = {k: v * heads for k, v in c.items()}
    if variant == "gated":  # the gate linear reads the whole token once for all heads
        out["mults"] += n * dim
        out["adds"] += n * dim
    return out
