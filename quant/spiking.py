"""Lowering of :class:`edgefmr.nas.models.spiking.SpikingTransformer` (Spike-driven Transformer V1).

Layout: time first, ``[T, B, ...]`` (LIF runs over axis 0); images NHWC, a sequence ``[L, F]`` is an image of
height L and width 1. Every BatchNorm is folded into the linear or conv before it (eval statistics).

* Stem: CONV_2D 3x3 (SAME) + BN on the real input, once; CONCATENATION of T copies (direct encoding); LIF.
* Patch embedding: the patch conv (kernel = stride = patch) reads spikes, so it is lowered as patchify (RESHAPE,
  TRANSPOSE, RESHAPE) + SPIKE_FULLY_CONNECTED (additions only); relative position embedding: LIF, CONV_2D 3x3 on
  the spikes, ADD.
* SDSA: LIF; Q, K, V = LIF(SPIKE_FULLY_CONNECTED + BN); ``Q AND K`` is MUL of 0/1 tensors; the column sum over
  tokens is a SPIKE_FULLY_CONNECTED with all-one weights after a TRANSPOSE (exact counts, additions only); LIF;
  MUL masks V; SPIKE_FULLY_CONNECTED + BN; residual ADD (membrane shortcut). Other attention variants: LIF, then
  :func:`edgefmr.quant.attention.attention_layer` on the spikes of every step (``[T B, N, D]``), BN folded into
  the output linear.
* MLP: LIF, SPIKE_FULLY_CONNECTED + BN, LIF, SPIKE_FULLY_CONNECTED + BN, ADD.
* Head: LIF, MEAN over steps and tokens (firing rates), FULLY_CONNECTED.

Streaming (:func:`stream_graph`, docs/streaming.md): one time step per call, every LIF membrane and the readout's
running spike count carried as marked states.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from edgefmr.errors import EdgefmrError
from edgefmr.ir import Graph
from edgefmr.ir.streaming import mark_states
from edgefmr.quant.attention import attention_layer, last_factor
from edgefmr.quant.lowering import INT, Lowering, Streams, Value

#: Quantization of a spike count (0..255 exactly).
COUNT_Q = (1.0, -128)
#: Key of the streaming readout's running spike count (stream_graph).
STREAM_SUM = "pool/sum"


def fold_bn(w: torch.Tensor, b: torch.Tensor | None, bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(W', b') of ``BN(W x + b)`` with the BN's eval statistics; W's axis 0 is the output channel."""
    inv = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w2 = w * inv.view(-1, *([1] * (w.dim() - 1)))
    b0 = b if b is not None else torch.zeros_like(bn.running_mean)
    return w2, (b0 - bn.running_mean) * inv + bn.bias


def _linear_bn(ctx: Lowering, x: Value, mod: nn.Module, key: str) -> Value:
    """A :class:`~edgefmr.nas.models.spiking.LinearBN` (Linear without bias, TokenBN)."""
    w, b = fold_bn(mod[0].weight, None, mod[1].bn)
    return ctx.linear(x, w, b, key)


def _conv_weight(w: torch.Tensor) -> torch.Tensor:
    """Conv1d weights [O, I, k] as conv2d [O, I, k, 1] (time is the height)."""
    return w.unsqueeze(-1) if w.dim() == 3 else w


def _sdsa(ctx: Lowering, st: Streams, att: nn.Module, x: Value, p: str) -> Value:
    t, b, n, d = x.shape
    s = st.lif(x, att.lif_in, f"{p}.lif_in")
    q = st.lif(_linear_bn(ctx, s, att.q, f"{p}.q"), att.lif_q, f"{p}.lif_q")
    k = st.lif(_linear_bn(ctx, s, att.k, f"{p}.k"), att.lif_k, f"{p}.lif_k")
    v = st.lif(_linear_bn(ctx, s, att.v, f"{p}.v"), att.lif_v, f"{p}.lif_v")
    with ctx.scope(layer=p, part="qk"):
        qk = ctx.mul(q, k, f"{p}.qk")
        cols = ctx.transpose(qk, [0, 1, 3, 2], f"{p}.qk/channels")
        col = ctx.linear(cols, torch.ones(1, n), None, f"{p}.column_sum", quant=COUNT_Q)
    with ctx.scope(layer=p, part="attention"):
        col = ctx.reshape(col, [t, b, 1, d], f"{p}.column_sum/row")
        mask = st.lif(col, att.lif_attn, f"{p}.lif_attn")
        y = ctx.mul(v, mask, f"{p}.masked_v")
    return _linear_bn(ctx, y, att.proj, f"{p}.proj")


def _soft_attention(ctx: Lowering, st: Streams, att: nn.Module, x: Value, p: str, options: dict[str, Any]
                    ) -> Value:
    t, b, n, d = x.shape
    s = st.lif(x, att.lif_in, f"{p}.lif_in")
    s = ctx.reshape(s, [t * b, n, d], f"{p}.steps")
    w, bias = last_factor(att.attn.proj)
    w, bias = fold_bn(w, bias, att.bn.bn)
    y = attention_layer(ctx, att.attn, s, f"{p}.attn", options.get("softmax"), out_weight=w, out_bias=bias)
    return ctx.reshape(y, [t, b, n, d], f"{p}.out")


def program(ctx: Lowering, model: nn.Module, x: torch.Tensor, options: dict[str, Any]) -> Value:
    """Logits ``[B, classes]`` of a spiking transformer on float input ``x [B, *input_shape]`` (streaming, with
    ``options["stream_chunk"]``: one time step of the same network, every LIF membrane and the readout's running
    spike count carried as states; see stream_graph)."""
    cfg = model.cfg
    streaming = options.get("stream_chunk") is not None
    T = 1 if streaming else cfg.T
    st = Streams(ctx, streaming)
    v = ctx.input(x)
    bsz = v.shape[0]
    if len(model.input_shape) == 3:
        img = ctx.transpose(v, [0, 2, 3, 1], "stem/nhwc")  # [B, H, W, C]
        (hgt, wid), (ph, pw) = model.spatial, (cfg.patch_size, cfg.patch_size)
    else:
        length, feat = model.input_shape
        img = ctx.reshape(v, [bsz, length, 1, feat], "stem/nhwc")  # time as the height
        (hgt, wid), (ph, pw) = (length, 1), (cfg.patch_size, 1)
    gh, gw = hgt // ph, wid // pw
    n, d = gh * gw, cfg.embed_dim
    w, b = fold_bn(_conv_weight(model.conv1.weight), None, model.bn1)
    y = ctx.conv2d(img, w, b, "conv1", padding="SAME")  # [B, H, W, stem]
    y = ctx.concat([y] * T, 0, "encode") if T > 1 else y
    y = ctx.reshape(y, [T, bsz, hgt, wid, cfg.stem_dim], "encode/steps")
    s = st.lif(y, model.lif1, "lif1")
    s = ctx.reshape(s, [T * bsz, gh, ph, gw, pw, cfg.stem_dim], "patch/split")
    s = ctx.transpose(s, [0, 1, 3, 2, 4, 5], "patch/order")
    s = ctx.reshape(s, [T, bsz, n, ph * pw * cfg.stem_dim], "patch/patches")
    pw_t = _conv_weight(model.patch.weight).permute(0, 2, 3, 1).reshape(d, -1)  # [D, ph pw stem]
    w, b = fold_bn(pw_t, None, model.bn2)
    z = ctx.linear(s, w, b, "patch")  # [T, B, N, D]
    if cfg.rpe:
        r = st.lif(z, model.lif_rpe, "lif_rpe")
        r = ctx.reshape(r, [T * bsz, gh, gw, d], "rpe/grid")
        w, b = fold_bn(_conv_weight(model.rpe.weight), None, model.bn_rpe)
        r = ctx.conv2d(r, w, b, "rpe", padding="SAME")
        r = ctx.reshape(r, [T, bsz, n, d], "rpe/tokens")
        z = ctx.add(z, r, "rpe_add")
    tokens = ctx.residual(z)
    for i, blk in enumerate(model.blocks):
        p = f"blocks.{i}"
        if blk.attention == "sdsa":
            a = _sdsa(ctx, st, blk.attn, tokens, f"{p}.attn")
        else:
            a = _soft_attention(ctx, st, blk.attn, tokens, f"{p}.attn", options)
        tokens = ctx.add(tokens, a, f"{p}.res1")
        mlp = blk.mlp
        h = st.lif(tokens, mlp.lif_in, f"{p}.mlp.lif_in")
        h = _linear_bn(ctx, h, mlp.fc1, f"{p}.mlp.fc1")
        h = st.lif(h, mlp.lif_hidden, f"{p}.mlp.lif_hidden")
        h = _linear_bn(ctx, h, mlp.fc2, f"{p}.mlp.fc2")
        tokens = ctx.residual(ctx.add(tokens, h, f"{p}.res2"))
    s = st.lif(tokens, model.lif_out, "lif_out")
    if not streaming:
        rates = ctx.mean(s, [0, 2], "pool")
        return ctx.output(ctx.linear(rates, model.head.weight, model.head.bias, "head"))
    # the readout: this step's spike count per channel (additions only), summed over the steps so far in int32
    with ctx.scope(layer="pool", part="count"):
        cols = ctx.transpose(s, [0, 1, 3, 2], "pool/channels")  # [1, B, D, N]
        cnt = ctx.linear(cols, torch.ones(1, n), None, "pool/count", quant=COUNT_Q)  # [1, B, D, 1]
        cnt = ctx.reshape(cnt, [1, bsz, d], "pool/count/row")
        tot = st.lmu(cnt, np.ones((1, 1)), np.ones(1), STREAM_SUM, 0)  # [1, B, D, 1]: counts since the reset
        tot = ctx.reshape(tot, [bsz, d], "pool/flat")
    logits = ctx.output(ctx.linear(tot, model.head.weight / (cfg.T * n), model.head.bias, "head"))
    for o in st.outs:
        ctx.state_output(o)
    return logits


def stream_graph(qm: Any) -> Graph:
    """The one-step program of a quantized spiking transformer: one time step per call on the frame (the input the
    step sees; direct encoding presents the same input at every step), every LIF membrane and the readout's spike
    count since the reset carried as marked states (edgefmr.ir.streaming). The readout is the count over the steps
    so far, requantized like the whole model's firing rate after cfg.T steps (scale ``s_rate T N``, the head's
    weights divided by ``T N``), so that after T steps on one input the logits are the whole model's (up to the
    rounding of the requantization); after more steps the rates keep growing, saturating at int8."""
    m = qm.model
    n = m.n_tokens
    if n > 255:
        raise EdgefmrError(f"spiking step program: {n} tokens per step; the spike count per channel needs at most 255")
    s_rate, z_rate = qm.qparams["pool"]
    qparams = {**qm.qparams, STREAM_SUM: (float(s_rate) * m.cfg.T * n, int(z_rate))}
    ctx = Lowering(INT, qparams=qparams, binarize=qm.options.binarize,
                   metadata={"name": "spiking_int8_stream", "family": "spiking", "stream_chunk": 1})
    with torch.no_grad():
        program(ctx, m, torch.zeros(1, *m.input_shape), {**qm.options.program_options(), "stream_chunk": 1})
    g = ctx.b.build()
    return mark_states(g, zip(g.inputs[1:], g.outputs[1:], strict=True))

