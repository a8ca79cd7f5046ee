"""Lowering of :class:`edgefmr.nas.models.vit.ViT` (the program run by :class:`~edgefmr.quant.lowering.Lowering`).

Layout: the graph input is the model's input with a batch axis, ``[1, C, H, W]`` (images) or ``[1, T, F]``
(sequences), int8. Images: TRANSPOSE to NHWC, zero padding to a multiple of the patch (CONCATENATION with the zero
point), patch embedding as CONV_2D with kernel = stride = patch (images of >= 16 KiB whose sides the patch divides:
band by band, STRIDED_SLICE of p rows, TRANSPOSE of the band to NHWC, CONV_2D, CONCATENATION of the bands' token
rows, so that no whole-image copy lives beside the input) (a low-rank embedding is CONV_2D to the rank, then
FULLY_CONNECTED), RESHAPE to tokens ``[1, N, D]``. Sequences: padding and RESHAPE to ``[1, T/p, p F]``, then the
linear. Class token: CONCATENATION of a constant at the embedding's quantization; position embedding: ADD of a
constant. Blocks: LAYER_NORM, attention (:mod:`edgefmr.quant.attention`), residual ADD, LAYER_NORM, MLP
(FULLY_CONNECTED with ReLU fused, or FULLY_CONNECTED + LUT GELU, FULLY_CONNECTED), residual ADD. Pooling: MEAN
over tokens or STRIDED_SLICE of the class token; final LAYER_NORM; FULLY_CONNECTED head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgefmr.quant.attention import attention_layer, linear_layer
from edgefmr.quant.lowering import Lowering, Value

#: Images of at least this many bytes (int8) are patch-embedded one band (row of patches) at a time.
BANDED_PATCH_EMBED_BYTES = 16 * 1024


def _patch_embed(ctx: Lowering, model: nn.Module, v: Value) -> Value:
    p, pe = model.cfg.patch_size, model.patch_embed
    if len(model.input_shape) == 3:
        c, hgt, wid = model.input_shape
        gh, gw = model.grid
        if pe.rank is None:
            w, b, key = pe.full.weight, pe.full.bias, "patch_embed"
        else:
            w, b, key = pe.down.weight, None, "patch_embed.down"
        w4 = w.reshape(w.shape[0], c, p, p)
        bsz = v.shape[0]
        if c * hgt * wid >= BANDED_PATCH_EMBED_BYTES and gh > 1 and hgt == gh * p and wid == gw * p:
            # A large image: never a whole NHWC copy beside the input (240x240x3 would need 2 x 169 KiB). Each band
            # of p rows is sliced, put in NHWC and embedded; the bands' tokens are concatenated (in place).
            rows = []
            for r in range(gh):
                t = ctx.take(v, 2, r * p, (r + 1) * p, f"patch_embed/band{r}")
                t = ctx.transpose(t, [0, 2, 3, 1], f"patch_embed/band{r}/nhwc")
                rows.append(ctx.conv2d(t, w4, b, key, stride=(p, p)))
            e = ctx.concat(rows, 1, f"{key}/rows")
        else:
            t = ctx.transpose(v, [0, 2, 3, 1], "patch_embed/nhwc")
            t = ctx.pad_const(t, 1, 0, gh * p - hgt, "patch_embed/pad_h")
            t = ctx.pad_const(t, 2, 0, gw * p - wid, "patch_embed/pad_w")
            e = ctx.conv2d(t, w4, b, key, stride=(p, p))
        e = ctx.reshape(e, [bsz, gh * gw, w.shape[0]], f"{key}/tokens")
        if pe.rank is not None:
            e = ctx.linear(e, pe.up.weight, pe.up.bias, "patch_embed")
        return e
    length, feat = model.input_shape
    (g,) = model.grid
    t = ctx.pad_const(v, 1, 0, g * p - length, "patch_embed/pad")
    t = ctx.reshape(t, [t.shape[0], g, p * feat], "patch_embed/patches")
    return linear_layer(ctx, t, pe, "patch_embed")


def layer_norm(ctx: Lowering, x: Value, ln: nn.LayerNorm, key: str, options: dict[str, Any]) -> Value:
    """LAYER_NORM, or with ``options["layernorm"] == "decomposed"`` TFLite's decomposition into builtins."""
    if options.get("layernorm", "integer") == "decomposed":
        return ctx.layer_norm_decomposed(x, ln.weight, ln.bias, ln.eps, key)
    return ctx.layer_norm(x, ln.weight, ln.bias, ln.eps, key)


def program(ctx: Lowering, model: nn.Module, x: torch.Tensor, options: dict[str, Any]) -> Value:
    """Logits ``[B, classes]`` of a ViT on float input ``x [B, *input_shape]``.

    ``options["softmax"]``: None (each layer's own normalization), ``standard`` or ``clipped``;
    ``options["layernorm"]``: ``integer`` (LAYER_NORM, default) or ``decomposed`` (TFLite builtins).
    """
    v = ctx.input(x)
    tokens = _patch_embed(ctx, model, v)
    bsz = tokens.shape[0]
    if model.cls_token is not None:
        cls = model.cls_token.expand(bsz, -1, -1)
        if ctx.is_float:
            ctx.observe("patch_embed", cls)
            c = ctx.const(cls, "cls_token")
        else:
            c = ctx.const(cls, "cls_token", quant=ctx.q("patch_embed"))
        tokens = ctx.concat([c, tokens], 1, "cls_concat")
    tokens = ctx.residual(ctx.add(tokens, ctx.const(model.pos_embed, "pos_embed/table"), "pos_embed"))
    for i, blk in enumerate(model.blocks):
        p = f"blocks.{i}"
        h = layer_norm(ctx, tokens, blk.norm1, f"{p}.norm1", options)
        a = attention_layer(ctx, blk.attn, h, f"{p}.attn", options.get("softmax"))
        tokens = ctx.add(tokens, a, f"{p}.res1")
        h = layer_norm(ctx, tokens, blk.norm2, f"{p}.norm2", options)
        if isinstance(blk.mlp.act, nn.ReLU):
            h = linear_layer(ctx, h, blk.mlp.fc1, f"{p}.mlp.fc1", act="RELU")
        else:
            h = linear_layer(ctx, h, blk.mlp.fc1, f"{p}.mlp.fc1")
            h = ctx.lut(h, "gelu", nn.functional.gelu, f"{p}.mlp.act")
        h = linear_layer(ctx, h, blk.mlp.fc2, f"{p}.mlp.fc2")
        tokens = ctx.residual(ctx.add(tokens, h, f"{p}.res2"))
    if model.cls_token is not None:
        pooled = ctx.take(tokens, 1, 0, 1, "pool", squeeze=True)
    else:
        pooled = ctx.mean(tokens, [1], "pool")
    pooled = layer_norm(ctx, pooled, model.norm, "norm", options)
    return ctx.output(ctx.linear(pooled, model.head.weight, model.head.bias, "head"))
