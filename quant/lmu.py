"""Lowering of :class:`edgefmr.nas.models.lmu.LMUFormer` (LMU memory + channel mixer, optionally spiking).

Layout: time first, ``[T, B, C]`` (LIF and LMU_UPDATE run over axis 0). BatchNorms are folded into the linear or
conv before them (eval statistics); ``bn_out`` is folded into the head.

* Input ``[1, L, F]`` (an image ``[1, C, H, W]`` is read row by row: TRANSPOSE + RESHAPE to ``[1, H, C W]``),
  cropped to whole patches (STRIDED_SLICE), causal zero padding of ``kernel - patch`` steps in front
  (CONCATENATION with the zero point), the patch-embedding conv as CONV_2D over time (kernel ``[k, 1]``, stride
  ``[patch, 1]``), activation (ReLU fused, GELU as LUT; none when spiking), TRANSPOSE to time first.
* Block: (LIF), ``u = act(FULLY_CONNECTED)``, LMU_UPDATE (the fixed-point ``A, B`` of ``legendre_zoh``, int8
  states ``[T, B, mem, d]``), RESHAPE to ``[T, B, mem d]``, ``act(FC(m) + FC(s))`` (ADD with ReLU fused, or
  LUT/LIF after it), residual ADD; (LIF), the mixer FC, act, FC, residual ADD. Linears reading spikes are
  SPIKE_FULLY_CONNECTED.
* Readout: (LIF); ``pool: last`` takes the last step (STRIDED_SLICE); ``pool: mean`` is an exact integer running
  sum, an LMU_UPDATE with ``A = 1, B = 1`` and one coefficient (``m_t = m_{t-1} + u_t`` in int32), whose last step
  feeds the head with ``1 / steps`` folded into its weights.

Streaming (``options["stream_chunk"] = n``): the graph takes ``n`` embedded steps of input rows
``[1, n patch, F]`` plus every state as graph inputs (the last ``kernel - patch`` input rows, each LIF's membrane,
each LMU memory and the running sum, all int32 but the rows) and returns the logits after its last step followed
by the final states, in the same order (the pairs are marked in the graph: :mod:`edgefmr.ir.streaming`, so that
``edgefmr build --streaming`` keeps them on the device). Chaining chunk graphs is exactly the whole-sequence graph:
every op is causal and every state is carried in full precision (:func:`stream_ir` checks it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from edgefmr.errors import EdgefmrError
from edgefmr.ir import Graph, run
from edgefmr.ir.streaming import mark_states
from edgefmr.nas.models.lmu import impulse_response
from edgefmr.ops.quantize import affine_quantize
from edgefmr.quant.lowering import Lowering, Streams, Value
from edgefmr.quant.spiking import fold_bn

#: Fractional bits of the LMU's A matrix.
A_FRAC_BITS = 24


def state_frac_bits(a_bar: np.ndarray, b_bar: np.ndarray, steps: int) -> int:
    """F_m so that the largest state, ``sum_k |A^k B|_inf * 255 * 2^F_m``, stays below 2^31 (at most 24)."""

    bound = float(np.abs(impulse_response(a_bar, b_bar, max(steps, 1))).sum(axis=1).max()) * 255.0
    return int(max(0, min(24, math.floor(math.log2((2**31 - 1) / max(bound, 1e-30))))))


def _act(ctx: Lowering, st: Streams, x: Value, act: nn.Module, key: str) -> Value:
    """An :class:`~edgefmr.nas.models.lmu.Act` after a layer that did not fuse it: LIF or LUT GELU (ReLU is fused)."""
    if act.lif is not None:
        return st.lif(x, act.lif, f"{key}.lif")
    if isinstance(act.fn, nn.GELU):
        return ctx.lut(x, "gelu", nn.functional.gelu, key)
    return x


def _fused(act: nn.Module) -> str:
    return "RELU" if act.lif is None and isinstance(act.fn, nn.ReLU) else "NONE"


def _pw(ctx: Lowering, x: Value, conv: nn.Conv1d, bn: nn.Module, key: str, act: str = "NONE") -> Value:
    w, b = fold_bn(conv.weight[:, :, 0], None, bn)
    return ctx.linear(x, w, b, key, act)


def program(ctx: Lowering, model: nn.Module, x: torch.Tensor, options: dict[str, Any]) -> Value:
    """Logits ``[B, classes]`` of an LMUFormer on ``x [B, *input_shape]`` (or, streaming, a chunk of rows)."""
    cfg = model.cfg
    k, p = cfg.kernel, cfg.patch
    chunk = options.get("stream_chunk")
    st = Streams(ctx, chunk is not None)
    v = ctx.input(x)
    bsz = v.shape[0]
    if chunk is None:
        if len(model.input_shape) == 3:
            c, hgt, wid = model.input_shape
            v = ctx.transpose(v, [0, 2, 1, 3], "rows/order")
            v = ctx.reshape(v, [bsz, hgt, c * wid], "rows")
        if v.shape[1] > model.steps * p:
            v = ctx.take(v, 1, 0, model.steps * p, "crop")
        v = ctx.pad_const(v, 1, k - p, 0, "causal_pad")
    elif k > p:
        buf_in = st.ctx.state_input("embed/buffer/state_in", (bsz, k - p, model.features), "int8",
                                    values=np.full((bsz, k - p, model.features), ctx.q("input")[1], np.int8)
                                    if ctx.execute else None, quant=ctx.q("input"))
        v = ctx.concat([buf_in, v], 1, "embed/window")
        st.outs.append(ctx.take(v, 1, v.shape[1] - (k - p), v.shape[1], "embed/buffer"))
    length = v.shape[1]
    steps = (length - k) // p + 1
    v = ctx.reshape(v, [bsz, length, 1, model.features], "embed/nhwc")
    w, b = fold_bn(model.embed.weight.unsqueeze(-1), None, model.bn_embed)
    act_embed = model.act_embed
    z = ctx.conv2d(v, w, b, "embed", stride=(p, 1), act=_fused(act_embed) if act_embed is not None else "NONE")
    z = ctx.reshape(z, [bsz, steps, cfg.hidden], "embed/steps")
    z = ctx.transpose(z, [1, 0, 2], "embed/time_first")  # [T, B, hidden]
    if act_embed is not None:
        z = _act(ctx, st, z, act_embed, "embed.act")
    for i, blk in enumerate(model.blocks):
        pre = f"blocks.{i}"
        s = st.lif(z, blk.lif_in, f"{pre}.lif_in") if blk.spiking else z
        u = _pw(ctx, s, blk.w_u, blk.bn_u, f"{pre}.w_u", _fused(blk.act_u))
        u = _act(ctx, st, u, blk.act_u, f"{pre}.act_u")
        mem = blk.memory
        fm = state_frac_bits(mem.a64, mem.b64, model.steps)
        m = st.lmu(u, mem.a64, mem.b64, f"{pre}.memory", fm, A_FRAC_BITS)  # [T, B, mem, d]
        m = ctx.reshape(m, [m.shape[0], bsz, mem.channels * mem.order], f"{pre}.memory/flat")
        hm = _pw(ctx, m, blk.w_m, blk.bn_m, f"{pre}.w_m")
        hx = _pw(ctx, s, blk.w_x, blk.bn_x, f"{pre}.w_x")
        h = ctx.add(hm, hx, f"{pre}.h", act=_fused(blk.act_h))
        h = _act(ctx, st, h, blk.act_h, f"{pre}.act_h")
        z = ctx.add(z, h, f"{pre}.res1")
        s = st.lif(z, blk.lif_mix_in, f"{pre}.lif_mix_in") if blk.spiking else z
        h = _pw(ctx, s, blk.w_1, blk.bn_1, f"{pre}.w_1", _fused(blk.act_1))
        h = _act(ctx, st, h, blk.act_1, f"{pre}.act_1")
        h = _pw(ctx, h, blk.w_2, blk.bn_2, f"{pre}.w_2")
        z = ctx.residual(ctx.add(z, h, f"{pre}.res2"))
    if cfg.spiking:
        z = st.lif(z, model.lif_out, "lif_out")
    bn = model.bn_out
    inv = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w_head = model.head.weight * inv
    b_head = model.head.bias + model.head.weight @ (bn.bias - bn.running_mean * inv)
    t_last = z.shape[0]
    if cfg.pool == "mean":
        one = np.ones((1, 1))
        z = st.lmu(z, one, np.ones(1), "pool", 0)  # [T, B, hidden, 1]: running sums
        z = ctx.take(z, 0, t_last - 1, t_last, "pool/last", squeeze=True)
        z = ctx.reshape(z, [bsz, cfg.hidden], "pool/flat")
        w_head = w_head / model.steps
    else:
        z = ctx.take(z, 0, t_last - 1, t_last, "pool", squeeze=True)
    logits = ctx.output(ctx.linear(z, w_head, b_head, "head"))
    for o in st.outs:
        ctx.state_output(o)
    return logits


def stream_graph(qm: Any, chunk_steps: int) -> Graph:
    """The chunk graph of a quantized LMUFormer: ``chunk_steps`` embedded steps plus the carried states."""
    m = qm.model
    if chunk_steps < 1:
        raise EdgefmrError(f"stream chunk must be >= 1 embedded step, got {chunk_steps}")
    ctx = qm.context(metadata={"name": "lmu_int8_stream", "family": "lmu", "stream_chunk": chunk_steps})
    with torch.no_grad():
        program(ctx, m, torch.zeros(1, chunk_steps * m.cfg.patch, m.features),
                {**qm.options.program_options(), "stream_chunk": chunk_steps})
    g = ctx.b.build()
    return mark_states(g, zip(g.inputs[1:], g.outputs[1:], strict=True))


def stream_ir(qm: Any, x: np.ndarray, chunk_steps: int = 1, graph: Graph | None = None) -> np.ndarray:
    """Integer logits after streaming each sample of ``x [N, *input_shape]`` through the chunk graph on the IR
    interpreter, ``chunk_steps`` embedded steps at a time (states carried between calls)."""

    m = qm.model
    g = graph or stream_graph(qm, chunk_steps)
    rows = torch.as_tensor(np.asarray(x, np.float32))
    rows = m.sequence(rows).numpy()[:, : m.steps * m.cfg.patch]  # [N, steps patch, F]
    t_in = g.tensors[g.inputs[0]]
    xq = affine_quantize(rows, t_in.scale, t_in.zero_point, "int8")
    n_rows = chunk_steps * m.cfg.patch
    if m.steps % chunk_steps:
        raise EdgefmrError(f"stream chunk {chunk_steps} does not divide the {m.steps} embedded steps")
    out = []
    for xi in xq:
        states = []
        for name in g.inputs[1:]:
            t = g.tensors[name]
            fill = t.zero_point if t.quant is not None else 0
            states.append(np.full(t.shape, fill, np.dtype(t.dtype)))
        logits = None
        for c0 in range(0, len(xi), n_rows):
            res = run(g, [xi[None, c0: c0 + n_rows], *states])
            logits = res[g.outputs[0]]
            states = [res[o] for o in g.outputs[1:]]
        out.append(logits)
    return np.concatenate(out)
