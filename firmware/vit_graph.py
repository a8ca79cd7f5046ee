"""Random-weight int8 ViT graphs in the IR, for memory planning and firmware tests (no training involved).

`build_vit` writes a pre-norm Vision Transformer with the ops of `edgefmr.ops` only, in the layout TFLite's
converter produces for Keras ViTs (see tests/fixtures/README.md): patch embedding as CONV_2D (kernel = stride =
patch, VALID) + RESHAPE, optional class token (CONCATENATION of a constant row) and position embedding (ADD of a
constant), per block LayerNorm as MEAN / SQUARED_DIFFERENCE / MEAN / ADD(eps) / RSQRT / SUB / MUL (or the integer
LAYER_NORM op with `layernorm="integer"`), attention as
FULLY_CONNECTED q/k/v + RESHAPE [1,T,H,d] + TRANSPOSE [0,2,1,3] + BATCH_MATMUL(q, k, adj_y) + MUL(1/sqrt(d)) +
SOFTMAX (or CLIPPED_SOFTMAX with `softmax="clipped"`) + BATCH_MATMUL(p, v) + TRANSPOSE + RESHAPE + output
FULLY_CONNECTED, residual ADD, MLP as two
FULLY_CONNECTED (ReLU fused into the first: the IR has no GELU yet), residual ADD; final LayerNorm with gamma/beta,
then the class token (STRIDED_SLICE) or the token mean (MEAN) and a FULLY_CONNECTED head.

Low-rank factorization (MCUFormer, Liang et al., NeurIPS 2023): with `lowrank=f`, every linear layer in -> out
becomes in -> r (no bias) -> out with r = int(min(in, out) * f), as MCUFormer sizes its ranks. The q/k/v
projections share their first factor (MCUFormer factorizes the joint qkv matrix C -> 3C), so one [T, r] tensor
feeds three r -> C layers. (MCUFormer's code adds an extra r -> r factor to each linear; it changes no activation
size, so it is left out.)

Weights are uniform random int8 with per-channel scales 1/(127*sqrt(fan_in)); activations use fixed scales chosen
so that every op's quantization constraints hold and the graph runs on the reference interpreter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ir import Graph, GraphBuilder
from edgefmr.ops.registry import all_ops

#: Activation quantization of the token stream and most intermediates.
ACT_SCALE, ACT_ZP = 0.05, 0
#: Non-negative intermediates of LayerNorm (variance, eps sum, 1/sqrt) use the full int8 range from zero.
VAR_SCALE, RSQRT_SCALE, POS_ZP = 0.02, 0.02, -128
SOFTMAX_SCALE, SOFTMAX_ZP = 1.0 / 256.0, -128
LAYERNORMS = ("decomposed", "integer")
SOFTMAXES = ("softmax", "clipped")


@dataclass(frozen=True)
class ViTConfig:
    """The shape of a ViT: image, patch, width, depth, heads, MLP ratio, low-rank factor (None: full rank)."""

    image_size: int = 240
    patch: int = 20
    embed: int = 192
    depth: int = 12
    heads: int = 3
    mlp_ratio: float = 4.0
    lowrank: float | None = 0.9
    in_chans: int = 3
    num_classes: int = 1000
    cls_token: bool = True
    #: "decomposed" (TFLite's MEAN/SQUARED_DIFFERENCE/.../MUL, as the .tflite fixture) or "integer" (LAYER_NORM).
    layernorm: str = "decomposed"
    #: "softmax" (SOFTMAX) or "clipped" (CLIPPED_SOFTMAX, gamma -0.03, zeta 1.0: Bondarenko et al. 2023).
    softmax: str = "softmax"

    @property
    def grid(self) -> int:
        return self.image_size // self.patch

    @property
    def tokens(self) -> int:
        return self.grid * self.grid + (1 if self.cls_token else 0)

    def check(self) -> None:
        """EdgefmrError naming the first impossible value."""
        positive = ("image_size", "patch", "embed", "depth", "heads", "in_chans", "num_classes")
        for k in positive:
            if int(getattr(self, k)) < 1:
                raise EdgefmrError(f"ViT config: {k}={getattr(self, k)} must be >= 1")
        if self.patch > self.image_size:
            raise EdgefmrError(f"ViT config: patch={self.patch} is larger than image_size={self.image_size}")
        if self.embed % self.heads:
            raise EdgefmrError(f"ViT config: embed={self.embed} is not divisible by heads={self.heads}")
        if not self.mlp_ratio > 0 or int(self.embed * self.mlp_ratio) < 1:
            raise EdgefmrError(f"ViT config: mlp_ratio={self.mlp_ratio} must give a hidden width >= 1")
        if self.lowrank is not None and not 0 < self.lowrank <= 1:
            raise EdgefmrError(f"ViT config: lowrank={self.lowrank} must be in (0, 1] or None (full rank)")
        if self.softmax not in SOFTMAXES:
            raise EdgefmrError(f"ViT config: softmax={self.softmax!r}; valid: {', '.join(SOFTMAXES)}")
        if self.layernorm not in LAYERNORMS:
            raise EdgefmrError(f"ViT config: layernorm={self.layernorm!r}; valid: {', '.join(LAYERNORMS)}")

    def to_dict(self) -> dict:
        return asdict(self)


#: The MCUFormer-sized configuration of issue 5 (240x240, patch 20 -> 144 tokens + class token).
MCUFORMER = ViTConfig()


class _Vit:
    def __init__(self, cfg: ViTConfig, seed: int):
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.b = GraphBuilder({"name": "vit_random", "family": "vit", "config": cfg.to_dict(), "seed": seed})

    @staticmethod
    def need_op(op: str, option: str) -> None:

        if op not in all_ops():
            raise EdgefmrError(f"ViT config: {option} needs the {op} op, which this edgefmr does not have")

    def const_i8(self, name: str, shape: tuple[int, ...], scale: float, zp: int = 0) -> str:
        return self.b.const(name, self.rng.integers(-127, 128, shape).astype(np.int8), scale=scale, zero_point=zp)

    def i32(self, name: str, values: list[int]) -> str:
        return self.b.const(name, np.asarray(values, np.int32))

    def linear(self, x: str, n_in: int, n_out: int, name: str, bias: bool = True, act: str = "NONE") -> str:
        """One FULLY_CONNECTED on the last axis (keep_num_dims): per-channel int8 weights, int32 bias."""
        ws = np.full(n_out, 1.0 / (127.0 * math.sqrt(n_in)))
        w = self.b.const(f"{name}/w", self.rng.integers(-127, 128, (n_out, n_in)).astype(np.int8), scale=ws,
                         zero_point=0)
        bb = None
        if bias:
            bb = self.b.const(f"{name}/b", self.rng.integers(-512, 513, n_out).astype(np.int32),
                              scale=ws * ACT_SCALE, zero_point=0)
        return self.b.op("FULLY_CONNECTED", [x, w, bb], scale=ACT_SCALE, zero_point=ACT_ZP, name=name,
                         activation=act, keep_num_dims=True)

    def rank(self, n_in: int, n_out: int) -> int | None:
        f = self.cfg.lowrank
        return None if f is None else max(1, int(min(n_in, n_out) * f))

    def dense(self, x: str, n_in: int, n_out: int, name: str, act: str = "NONE") -> str:
        """A linear layer, factorized in -> r -> out when the config is low-rank."""
        r = self.rank(n_in, n_out)
        if r is None:
            return self.linear(x, n_in, n_out, name, act=act)
        u = self.linear(x, n_in, r, f"{name}_u", bias=False)
        return self.linear(u, r, n_out, f"{name}_v", act=act)

    def layernorm(self, x: str, name: str, affine: bool = False) -> str:
        """LayerNorm over the last axis: TFLite's decomposition (gamma/beta folded away unless `affine`) or the
        integer LAYER_NORM op (random gamma, beta when `affine`)."""
        b, c = self.b, self.cfg.embed
        if self.cfg.layernorm == "integer":
            self.need_op("LAYER_NORM", "layernorm='integer'")
            gamma = b.const(f"{name}/gamma", self.rng.integers(32, 128, c).astype(np.int8), scale=1.0 / 64.0,
                            zero_point=0)
            beta = None
            if affine:
                beta = b.const(f"{name}/beta", self.rng.integers(-20, 21, c).astype(np.int32), scale=ACT_SCALE,
                               zero_point=0)
            return b.op("LAYER_NORM", [x, gamma, beta], scale=ACT_SCALE, zero_point=ACT_ZP, name=name)
        ax = self.i32(f"{name}/axis", [-1])
        mean = b.op("MEAN", [x, ax], scale=ACT_SCALE, zero_point=ACT_ZP, name=f"{name}/mean", keep_dims=True)
        sq = b.op("SQUARED_DIFFERENCE", [x, mean], scale=VAR_SCALE, zero_point=POS_ZP, name=f"{name}/sqdiff")
        var = b.op("MEAN", [sq, ax], scale=VAR_SCALE, zero_point=POS_ZP, name=f"{name}/var", keep_dims=True)
        eps = b.const(f"{name}/eps", np.array(-127, np.int8), scale=VAR_SCALE, zero_point=POS_ZP)
        ve = b.op("ADD", [var, eps], scale=VAR_SCALE, zero_point=POS_ZP, name=f"{name}/var_eps")
        inv = b.op("RSQRT", [ve], scale=RSQRT_SCALE, zero_point=POS_ZP, name=f"{name}/rsqrt")
        centered = b.op("SUB", [x, mean], scale=ACT_SCALE, zero_point=ACT_ZP, name=f"{name}/sub")
        y = b.op("MUL", [centered, inv], scale=ACT_SCALE, zero_point=ACT_ZP, name=f"{name}/mul")
        if affine:
            g = self.const_i8(f"{name}/gamma", (c,), 1.0 / 64.0)
            y = b.op("MUL", [y, g], scale=ACT_SCALE, zero_point=ACT_ZP, name=f"{name}/gamma_mul")
            beta = self.const_i8(f"{name}/beta", (c,), 1.0 / 256.0)
            y = b.op("ADD", [y, beta], scale=ACT_SCALE, zero_point=ACT_ZP, name=f"{name}/beta_add")
        return y

    def heads_split(self, x: str, name: str) -> str:
        cfg, b = self.cfg, self.b
        t, h, d = cfg.tokens, cfg.heads, cfg.embed // cfg.heads
        r = b.op("RESHAPE", [x, self.i32(f"{name}/shape", [1, t, h, d])], scale=ACT_SCALE, zero_point=ACT_ZP,
                 name=f"{name}/split")
        return b.op("TRANSPOSE", [r, self.i32(f"{name}/perm", [0, 2, 1, 3])], scale=ACT_SCALE, zero_point=ACT_ZP,
                    name=f"{name}/heads")

    def attention(self, h: str, name: str) -> str:
        cfg, b = self.cfg, self.b
        c, t, d = cfg.embed, cfg.tokens, cfg.embed // cfg.heads
        r = self.rank(c, 3 * c)
        if r is None:
            src, n_in = h, c
        else:
            src, n_in = self.linear(h, c, r, f"{name}/qkv_u", bias=False), r
        q = self.heads_split(self.linear(src, n_in, c, f"{name}/q"), f"{name}/q")
        k = self.heads_split(self.linear(src, n_in, c, f"{name}/k"), f"{name}/k")
        s = b.op("BATCH_MATMUL", [q, k], scale=ACT_SCALE * 4, zero_point=0, name=f"{name}/qk", adj_y=True)
        sc = b.const(f"{name}/scale", np.array(127, np.int8), scale=1.0 / (127.0 * math.sqrt(d)), zero_point=0)
        s = b.op("MUL", [s, sc], scale=ACT_SCALE, zero_point=0, name=f"{name}/scaled")
        if cfg.softmax == "clipped":
            self.need_op("CLIPPED_SOFTMAX", "softmax='clipped'")
            p = b.op("CLIPPED_SOFTMAX", [s], scale=1.0 / 255.0, zero_point=-128, name=f"{name}/softmax",
                     gamma=-0.03, zeta=1.0)
        else:
            p = b.op("SOFTMAX", [s], scale=SOFTMAX_SCALE, zero_point=SOFTMAX_ZP, name=f"{name}/softmax")
        v = self.heads_split(self.linear(src, n_in, c, f"{name}/v"), f"{name}/v")
        a = b.op("BATCH_MATMUL", [p, v], scale=ACT_SCALE, zero_point=ACT_ZP, name=f"{name}/pv")
        a = b.op("TRANSPOSE", [a, self.i32(f"{name}/merge_perm", [0, 2, 1, 3])], scale=ACT_SCALE,
                 zero_point=ACT_ZP, name=f"{name}/merge")
        o = b.op("RESHAPE", [a, self.i32(f"{name}/merge_shape", [1, t, c])], scale=ACT_SCALE, zero_point=ACT_ZP,
                 name=f"{name}/concat_heads")
        return self.dense(o, c, c, f"{name}/proj")

    def build(self) -> Graph:
        cfg, b = self.cfg, self.b
        c, g, p = cfg.embed, cfg.grid, cfg.patch
        x = b.input("image", (1, cfg.image_size, cfg.image_size, cfg.in_chans), scale=1.0 / 255.0, zero_point=-128)
        fan_in = p * p * cfg.in_chans
        ws = np.full(c, 1.0 / (127.0 * math.sqrt(fan_in)) * 20)
        w = b.const("patch_embed/w", self.rng.integers(-127, 128, (c, p, p, cfg.in_chans)).astype(np.int8),
                    scale=ws, zero_point=0)
        bias = b.const("patch_embed/b", self.rng.integers(-512, 513, c).astype(np.int32),
                       scale=ws / 255.0, zero_point=0)
        e = b.op("CONV_2D", [x, w, bias], scale=ACT_SCALE, zero_point=ACT_ZP, name="patch_embed", padding="VALID",
                 stride_h=p, stride_w=p)
        e = b.op("RESHAPE", [e, self.i32("patch_embed/shape", [1, g * g, c])], scale=ACT_SCALE, zero_point=ACT_ZP,
                 name="patch_embed/tokens")
        if cfg.cls_token:
            cls = self.const_i8("cls_token", (1, 1, c), ACT_SCALE, ACT_ZP)
            e = b.op("CONCATENATION", [cls, e], scale=ACT_SCALE, zero_point=ACT_ZP, name="cls_concat", axis=1)
        pos = self.const_i8("pos_embed/table", (cfg.tokens, c), ACT_SCALE / 4)
        xs = b.op("ADD", [e, pos], scale=ACT_SCALE, zero_point=ACT_ZP, name="pos_embed")
        hidden = max(1, int(c * cfg.mlp_ratio))
        for i in range(cfg.depth):
            a = self.attention(self.layernorm(xs, f"block{i}/ln1"), f"block{i}/attn")
            xs = b.op("ADD", [xs, a], scale=ACT_SCALE, zero_point=ACT_ZP, name=f"block{i}/res1")
            m = self.dense(self.layernorm(xs, f"block{i}/ln2"), c, hidden, f"block{i}/fc1", act="RELU")
            m = self.dense(m, hidden, c, f"block{i}/fc2")
            xs = b.op("ADD", [xs, m], scale=ACT_SCALE, zero_point=ACT_ZP, name=f"block{i}/res2")
        y = self.layernorm(xs, "norm", affine=True)
        if cfg.cls_token:
            y = b.op("STRIDED_SLICE", [y, self.i32("cls/begin", [0, 0, 0]), self.i32("cls/end", [1, 1, c]),
                                       self.i32("cls/strides", [1, 1, 1])],
                     scale=ACT_SCALE, zero_point=ACT_ZP, name="cls_select", shrink_axis_mask=2)
        else:
            y = b.op("MEAN", [y, self.i32("pool/axis", [1])], scale=ACT_SCALE, zero_point=ACT_ZP, name="token_mean")
        logits = self.linear(y, c, cfg.num_classes, "head")
        b.output(logits)
        return b.build()


def build_vit(cfg: ViTConfig | None = None, seed: int = 0, **overrides) -> Graph:
    """A validated random-weight int8 ViT IR graph for `cfg` (default: MCUFORMER), fields overridable by keyword.

    >>> g = build_vit(image_size=32, patch=4, embed=64, depth=2, heads=2, num_classes=10)
    """
    base = cfg or MCUFORMER
    try:
        cfg = ViTConfig(**{**base.to_dict(), **overrides})
    except TypeError as e:
        valid = ", ".join(ViTConfig.__dataclass_fields__)
        raise EdgefmrError(f"ViT config: {e}; valid fields: {valid}") from None
    cfg.check()
    return _Vit(cfg, seed).build()
