"""Lowering of the attention variants of :mod:`edgefmr.nas.models.attention` and of its low-rank linears.

``[B, N, D] -> [B, N, D]``; heads are laid out ``[B, H, N, d]`` (RESHAPE + TRANSPOSE), the Q/K/V linear is split
into three FULLY_CONNECTED layers (each with its own output quantization; a low-rank Q/K/V keeps its shared first
factor), and the ``1/sqrt(d)`` scale is folded into the Q weights. The cores:

* ``softmax``: BATCH_MATMUL(Q, K, adj_y) -> SOFTMAX -> BATCH_MATMUL(P, V);
* ``clipped``: the same with CLIPPED_SOFTMAX (``gamma = -alpha / N``, ``zeta``), Bondarenko et al. 2023;
* ``gated``: the softmax core, then ATTENTION_GATE with the gate logits of a FULLY_CONNECTED ``D -> H``;
* ``hash`` (EcoFormer), binarized anchors and projection (``hash_binary``, the default): the Q (K) linear's
  token-major output goes to one HASH_ENCODE per side (exact integer norm, anchor products as sign-selected sums,
  the RBF feature ``exp((cos - 1) / sigma_h)`` per anchor as one lookup in a table of ``2R + 1`` cosines,
  projection as sign-selected sums minus ``P_h mu_h``, code bits packed: docs/ops/HASH_ENCODE.md), then
  HASH_ATTENTION on the packed codes, additions only. Real-valued anchors and projection (``hash_binary=False``)
  keep a pipeline of builtins: the Q (K) linear writes ``[q_h, -q_h]`` per head, so LAYER_NORM over those ``2d``
  values is the L2 normalization ``sqrt(d) q / |q|``; a BATCH_MATMUL with the anchors gives the cosines, per head
  (STRIDED_SLICE) a LUT of the RBF feature, CONCATENATION, a BATCH_MATMUL with ``P_h^T`` and an ADD of
  ``-mu_h P_h^T`` give the int8 pre-sign values, which HASH_ATTENTION binarizes (``value >= 0``).

Tags: the similarity op (BATCH_MATMUL of Q and K, or HASH_ATTENTION) is part ``qk``; everything else from Q, K, V
to the attention output (softmax, P.V, gate, hash encoding) is part ``attention`` (see ``edgefmr.quant.report``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from edgefmr.quant.lowering import Lowering, Value

#: Epsilon of the LAYER_NORM that L2-normalizes hash queries and keys (the model clamps the norm at 1e-6).
HASH_NORM_EPS = 1e-12


def linear_layer(ctx: Lowering, x: Value, mod: nn.Module, key: str, act: str = "NONE",
                 weight: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> Value:
    """An ``nn.Linear`` or a :class:`~edgefmr.nas.models.layers.LowRankLinear` (two FULLY_CONNECTED: ``key.down`` then
    ``key``). ``weight``/``bias`` replace the (last factor's) parameters, e.g. with a folded BatchNorm."""
    if isinstance(mod, nn.Linear):
        w, b = mod.weight, mod.bias
    elif mod.rank is None:
        w, b = mod.full.weight, mod.full.bias
    else:
        x = ctx.linear(x, mod.down.weight, None, f"{key}.down")
        w, b = mod.up.weight, mod.up.bias
    return ctx.linear(x, w if weight is None else weight, b if bias is None else bias, key, act)


def last_factor(mod: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight, bias) of a linear's last factor."""
    if isinstance(mod, nn.Linear):
        return mod.weight, mod.bias
    f = mod.full if mod.rank is None else mod.up
    return f.weight, f.bias


def _heads(ctx: Lowering, t: Value, heads: int, key: str) -> Value:
    b, n, c = t.shape
    t = ctx.reshape(t, [b, n, heads, c // heads], f"{key}/split")
    return ctx.transpose(t, [0, 2, 1, 3], f"{key}/heads")


def _hash_codes_real(ctx: Lowering, src: Value, w: torch.Tensor, b: torch.Tensor | None, att: nn.Module,
                     key: str) -> Value:
    """Pre-sign hash values ``[B, H, N, bits]`` of real-valued (not binarized) anchors and projection, from IR
    builtins: LAYER_NORM of ``[q_h, -q_h]`` (the L2 normalization), BATCH_MATMUL with the anchors, a LUT per head,
    BATCH_MATMUL with the projection and an ADD of the centring offset."""
    h, d, kh = att.heads, att.head_dim, att.hash
    wz = torch.stack([w.reshape(h, d, -1), -w.reshape(h, d, -1)], dim=1).reshape(2 * h * d, -1)
    bz = None if b is None else torch.stack([b.reshape(h, d), -b.reshape(h, d)], dim=1).reshape(-1)
    z = ctx.linear(src, wz, bz, key)
    bsz, n, _ = z.shape
    z = ctx.reshape(z, [bsz, n, h, 2 * d], f"{key}/split")
    z = ctx.transpose(z, [0, 2, 1, 3], f"{key}/heads")
    with ctx.scope(part="attention"):
        zn = ctx.layer_norm(z, torch.ones(2 * d), None, HASH_NORM_EPS, f"{key}_norm")
        anchors = kh.effective_anchors().detach()  # [H, m, d] unit rows
        a2 = torch.cat([anchors, -anchors], dim=2).transpose(1, 2).unsqueeze(0) / (2.0 * math.sqrt(d))
        dots = ctx.bmm(zn, ctx.const_matrix(a2, f"{key}_anchors"), f"{key}_dots")  # q.a / |q| in [-1, 1]
        phis = []
        for i in range(h):
            sigma = float(kh.sigma[i])
            t = ctx.take(dots, 1, i, i + 1, f"{key}_dots/head{i}")
            phis.append(ctx.lut(t, lambda v, s=sigma: np.exp((v - 1.0) / s),
                                lambda v, s=sigma: torch.exp((v - 1.0) / s), f"{key}_phi"))
        phi = ctx.concat(phis, 1, f"{key}_phi/heads") if h > 1 else phis[0]
        p_h = kh.effective_proj().detach()  # [H, bits, m]
        proj = p_h.transpose(1, 2).unsqueeze(0)  # [1, H, m, bits]
        pre = ctx.bmm(phi, ctx.const_matrix(proj, f"{key}_proj"), f"{key}_proj")
        offset = -(kh.mu.view(h, 1, -1) @ p_h.transpose(1, 2)).unsqueeze(0)  # [1, H, 1, bits]
        return ctx.add(pre, ctx.const(offset, f"{key}_offset"), f"{key}_code")


def attention(ctx: Lowering, att: nn.Module, x: Value, key: str, softmax: str | None = None,
              out_weight: torch.Tensor | None = None, out_bias: torch.Tensor | None = None) -> Value:
    """Lower a :class:`~edgefmr.nas.models.attention.MultiHeadAttention` on ``x [B, N, D]``.

    ``softmax``: None keeps the layer's normalization, ``standard`` or ``clipped`` sets it for the softmax-family
    variants. ``out_weight``/``out_bias`` replace the output linear's last factor (a folded BatchNorm).
    """
    dim = x.shape[-1]
    d = att.head_dim
    qkv = att.qkv
    src = x
    if qkv.rank is not None:
        src = ctx.linear(x, qkv.down.weight, None, f"{key}.qkv.down")
    w, b = last_factor(qkv)
    wq, wk, wv = w[:dim], w[dim: 2 * dim], w[2 * dim:]
    bq, bk, bv = (None, None, None) if b is None else (b[:dim], b[dim: 2 * dim], b[2 * dim:])
    v = ctx.linear(src, wv, bv, f"{key}.v")
    if att.variant == "hash" and not att.hash.binary:
        q = _hash_codes_real(ctx, src, wq, bq, att, f"{key}.q")
        k = _hash_codes_real(ctx, src, wk, bk, att, f"{key}.k")
    else:
        s = 1.0 if att.variant == "hash" else d**-0.5
        q = ctx.linear(src, wq * s, None if bq is None else bq * s, f"{key}.q")
        k = ctx.linear(src, wk, bk, f"{key}.k")
    o = attention_core(ctx, att, q, k, v, x, key, softmax)
    return linear_layer(ctx, o, att.proj, f"{key}.proj", weight=out_weight, bias=out_bias)


def attention_core(ctx: Lowering, att: nn.Module, q: Value, k: Value, v: Value, x: Value, key: str,
                   softmax: str | None = None) -> Value:
    """The attention block from the Q, K, V linears' outputs ``[B, N, D]`` (token-major; for real-valued hash
    anchors ``q``, ``k`` are the pre-sign codes ``[B, H, N, bits]``) to the merged output ``[B, N, D]`` before the
    output linear: head layout, the variant's core, merge. ``x`` is the layer input (the gate's)."""
    bsz, n, dim = v.shape
    h, variant = att.heads, att.variant
    vh = _heads(ctx, v, h, f"{key}.v")
    if variant == "hash":
        hq, hk = q, k
        if att.hash.binary:
            with ctx.scope(part="attention"):
                hq = ctx.hash_encode(q, att.hash, f"{key}.q_code")
                hk = ctx.hash_encode(k, att.hash, f"{key}.k_code")
        with ctx.scope(part="qk"):
            o = ctx.hash_attention(hq, hk, vh, f"{key}.context", bits=att.hash.bits if att.hash.binary else 0)
    else:
        qh, kh = _heads(ctx, q, h, f"{key}.q"), _heads(ctx, k, h, f"{key}.k")
        with ctx.scope(part="qk"):
            logits = ctx.bmm(qh, kh, f"{key}.logits", adj_y=True)
        norm = softmax or ("clipped" if variant == "clipped" else "standard")
        with ctx.scope(part="attention"):
            if norm == "clipped":
                p = ctx.clipped_softmax(logits, f"{key}.probs", gamma=-att.clip_alpha / n, zeta=att.clip_zeta)
            else:
                p = ctx.softmax(logits, f"{key}.probs")
            o = ctx.bmm(p, vh, f"{key}.context")
        if variant == "gated":
            g = ctx.linear(x, att.gate.weight, att.gate.bias, f"{key}.gate")  # [B, N, H]
            g = ctx.transpose(g, [0, 2, 1], f"{key}.gate/heads")
            with ctx.scope(part="attention"):
                o = ctx.attention_gate(o, g, f"{key}.gated")
    o = ctx.transpose(o, [0, 2, 1, 3], f"{key}.merge")
    return ctx.reshape(o, [bsz, n, dim], f"{key}.merge/concat")


def attention_layer(ctx: Lowering, att: nn.Module, x: Value, key: str, softmax: str | None = None,
                    out_weight: torch.Tensor | None = None, out_bias: torch.Tensor | None = None) -> Value:
    """:func:`attention` with its nodes tagged as attention layer ``key``."""
    with ctx.scope(layer=key):
        return attention(ctx, att, x, key, softmax, out_weight, out_bias)
