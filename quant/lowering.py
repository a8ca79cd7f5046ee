"""One program, three executions: the float model, the fake-quant (integer) model, and the IR graph.

A family's program (``edgefmr.quant.vit``, ``.spiking``, ``.lmu``) is written once against :class:`Lowering`,
whose methods are the IR ops (``linear`` is FULLY_CONNECTED, ``layer_norm`` is LAYER_NORM, ...). What a call does
depends on the mode:

* ``float``: the float computation of the PyTorch model (torch ops on float tensors); every named activation is
  recorded by an :class:`~edgefmr.quant.observers.Observer` (calibration, outlier statistics).
* ``int``: the op is added to an IR graph (:class:`~edgefmr.ir.GraphBuilder`) with the calibrated quantization.
  With ``execute=True`` the node is run at once by the op's numpy reference kernel (the registry's, the same code
  the interpreter runs) on the batch, so the fake-quant model computes exactly the integer model: faithful by
  construction. With ``grad=True`` every op also computes its float form on the dequantized inputs (weights
  fake-quantized with a straight-through estimator) and returns the dequantized integer result through a
  straight-through function: the forward value is exactly the integer result, the backward pass is the float op's
  gradient (quantization-aware training).

Exporting is the ``int`` mode without ``execute`` on a batch of one. A tensor is named by its ``key`` (a stable
module path such as ``blocks.0.attn.q``), the same in every mode: observers, quantization parameters and IR tensor
names all use it.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from edgefmr.errors import EdgefmrError
from edgefmr.ir import GraphBuilder
from edgefmr.ir.graph import Graph, Node, Quant, Tensor
from edgefmr.nas.models.attention import hash_attention_linear, sign_ste
from edgefmr.ops.binary_fully_connected import binarize_weights, unpack_bits
from edgefmr.ops.layer_norm import quantize_affine
from edgefmr.ops.lmu_update import lmu_constants
from edgefmr.ops.lut import make_lut, round_half_away
from edgefmr.ops.quantize import affine_quantize
from edgefmr.ops.registry import call
from edgefmr.quant.observers import Observer, int8_qparams

FLOAT, INT = "float", "int"
#: Quantization of binary spikes: a spike is worth 1.
SPIKE_Q = (1.0, 0)
#: SOFTMAX's fixed output quantization (and CLIPPED_SOFTMAX's with zeta = 1).
SOFTMAX_Q = (1.0 / 256.0, -128)


class Value:
    """An activation of the program: its key, shape, float tensor (float mode, or the QAT surrogate) and, in int
    mode, its IR tensor name (whose integer values are ``Lowering.env[name]`` when executing)."""

    __slots__ = ("key", "shape", "f", "name", "spikes")

    def __init__(self, key: str, shape: Sequence[int], f: torch.Tensor | None = None, name: str | None = None,
                 spikes: bool = False) -> None:
        self.key, self.shape, self.f, self.name, self.spikes = key, tuple(int(d) for d in shape), f, name, spikes

    def __repr__(self) -> str:
        return f"Value({self.key!r}, {list(self.shape)})"


class _Straight(torch.autograd.Function):
    """Forward: the exact value; backward: the gradient goes to the surrogate unchanged."""

    @staticmethod
    def forward(ctx: Any, surrogate: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return exact.clone()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return g, None


def straight_through(surrogate: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """``exact`` in the forward pass, the gradient of ``surrogate`` in the backward pass."""
    return _Straight.apply(surrogate, exact.to(surrogate.dtype))


def quantize_weight(w: torch.Tensor | np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel symmetric int8 weights: ``(q int8, scales float32 [channels])`` with ``s = max|w| / 127``."""
    w = np.asarray(w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else w, np.float64)
    wm = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    mx = np.abs(wm).max(axis=1) if wm.size else np.zeros(w.shape[axis])
    fill = mx.max() if mx.size and mx.max() > 0 else 1.0
    scales = (np.where(mx > 0, mx, fill) / 127.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(round_half_away(w / scales.astype(np.float64).reshape(shape)), -127, 127).astype(np.int8)
    return q, scales


def quantize_bias(b: torch.Tensor | np.ndarray, in_scale: float, w_scales: np.ndarray) -> np.ndarray:
    """int32 bias ``round(b / (s_in * s_w))`` (the accumulator's scale), saturated to int32."""
    b = np.asarray(b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else b, np.float64)
    acc_scale = float(np.float32(in_scale)) * np.asarray(w_scales, np.float64)
    return np.clip(round_half_away(b / acc_scale), -(2**31), 2**31 - 1).astype(np.int32)


def dequantize(q: np.ndarray, scale: float, zp: int) -> torch.Tensor:
    """float32 ``scale * (q - zp)``."""
    return torch.from_numpy((np.asarray(q, np.float32) - np.float32(zp)) * np.float32(scale))


def _same_quant(a: tuple[Any, Any] | None, b: tuple[Any, Any] | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return all(np.array_equal(np.asarray(x, np.float64), np.asarray(y, np.float64)) for x, y in zip(a, b, strict=True))


class Lowering:
    """The execution context of a family program (see the module docstring).

    ``qparams`` maps keys to ``(scale, zero_point)`` (int mode); ``observers`` collects float statistics (float
    mode; created on demand). ``binarize`` holds fnmatch patterns of linear-layer keys lowered to
    BINARY_FULLY_CONNECTED.
    """

    def __init__(self, mode: str, *, qparams: dict[str, tuple[float, int]] | None = None,
                 observers: dict[str, Observer] | None = None, execute: bool = False, grad: bool = False,
                 binarize: Sequence[str] = (), metadata: dict[str, Any] | None = None, record: bool = True) -> None:
        if mode not in (FLOAT, INT):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.qparams = qparams if qparams is not None else {}
        self.observers = observers if observers is not None else {}
        self.execute = execute
        self.grad = grad
        self.binarize = tuple(binarize)
        self.record = record
        self.b = GraphBuilder(metadata) if mode == INT else None
        #: constants by key: a key lowered again with the same data and quantization (the weights of a layer applied
        #: band by band) reuses its tensor instead of a copy
        self._consts: dict[str, list[tuple[str, np.ndarray, Any, int]]] = {}
        self.env: dict[str, np.ndarray] = {}
        #: node name -> {"layer": ..., "part": ...} for the attention op counts.
        self.tags: dict[str, dict[str, Any]] = {}
        #: keys of the residual stream (block outputs): the outlier statistics of the report.
        self.residual_keys: list[str] = []
        #: keys of every linear layer the program lowered (for --binarize patterns).
        self.linear_keys: list[str] = []
        self.binarized: list[str] = []
        self._layer: str | None = None
        self._part: str | None = None

    # ------------------------------------------------------------------------------------------ helpers
    @property
    def is_float(self) -> bool:
        return self.mode == FLOAT

    @property
    def graph(self) -> Graph:
        assert self.b is not None
        return self.b.g

    @contextlib.contextmanager
    def scope(self, layer: str | None = None, part: str | None = None) -> Iterator[None]:
        """Tag the nodes created inside with an attention layer name and a part (``attention``, ``qk``)."""
        saved = self._layer, self._part
        self._layer = layer if layer is not None else self._layer
        self._part = part if part is not None else self._part
        try:
            yield
        finally:
            self._layer, self._part = saved

    def q(self, key: str) -> tuple[float, int]:
        """The calibrated quantization of ``key``."""
        if key not in self.qparams:
            raise EdgefmrError(f"no calibrated quantization for tensor {key!r}; calibrate the model first")
        s, z = self.qparams[key]
        return float(np.float32(s)), int(z)

    def observe(self, key: str, f: torch.Tensor) -> None:
        if not self.record:
            return
        obs = self.observers.get(key)
        if obs is None:
            obs = self.observers[key] = Observer()
        obs.update(f.detach().cpu().numpy())

    def residual(self, v: Value) -> Value:
        if v.key not in self.residual_keys:
            self.residual_keys.append(v.key)
        return v

    def _float_out(self, key: str, f: torch.Tensor, observe: bool = True, spikes: bool = False) -> Value:
        if observe:
            self.observe(key, f)
        return Value(key, f.shape, f=f, spikes=spikes)

    def _tensor_q(self, name: str) -> tuple[float, int]:
        t = self.graph.tensors[name]
        return t.scale, t.zero_point

    def _add_node(self, op: str, inputs: Sequence[str | None], outs: Sequence[tuple[str, str, Any]],
                  attrs: dict[str, Any]) -> list[str]:
        """Add a node with outputs ``(key, dtype, (scale, zp) or None)``; run it when executing."""
        g = self.graph
        names = []
        for key, dtype, quant in outs:
            name = self.b._name(key)
            qt = None if quant is None else Quant([float(quant[0])], [int(quant[1])])
            g.tensors[name] = Tensor(name, (), dtype, qt)
            names.append(name)
        node = Node(op, [i or "" for i in inputs], names, dict(attrs), names[0])
        c = call(node, g)
        for name, shape in zip(names, c.opdef.infer(c), strict=True):
            g.tensors[name].shape = tuple(int(d) for d in shape)
        c.opdef.check(c)
        g.nodes.append(node)
        tag = {k: v for k, v in (("layer", self._layer), ("part", self._part)) if v is not None}
        if tag:
            self.tags[names[0]] = tag
        if self.execute:
            args = [None if not i else (self.env[i] if i in self.env else g.tensors[i].data) for i in node.inputs]
            for name, y in zip(names, c.opdef.run(c, args), strict=True):
                self.env[name] = y
        return names

    def _int_out(self, name: str, key: str, surrogate: Callable[[], torch.Tensor] | None,
                 spikes: bool = False) -> Value:
        """The Value of an int-mode output tensor; its float is the straight-through dequantized result."""
        t = self.graph.tensors[name]
        f = None
        if self.grad and self.execute and surrogate is not None:
            exact = self.dequant(name)
            f = straight_through(surrogate(), exact)
        elif self.grad and self.execute:
            f = self.dequant(name)
        return Value(key, t.shape, f=f, name=name, spikes=spikes)

    def dequant(self, name: str) -> torch.Tensor:
        t = self.graph.tensors[name]
        if t.quant is None:
            return torch.from_numpy(self.env[name].astype(np.float32))
        return dequantize(self.env[name], t.scale, t.zero_point)

    def ints(self, v: Value) -> np.ndarray:
        """The integer values of ``v`` (int mode, executing)."""
        return self.env[v.name]

    def _const(self, key: str, data: np.ndarray, quant: tuple[Any, Any] | None = None, axis: int = 0) -> str:
        assert self.b is not None
        data = np.asarray(data)
        for name, d, q, ax in self._consts.get(key, []):
            if ax == axis and d.dtype == data.dtype and np.array_equal(d, data) and _same_quant(q, quant):
                return name
        if quant is None:
            name = self.b.const(key, data)
        else:
            name = self.b.const(key, data, scale=quant[0], zero_point=quant[1], axis=axis)
        self._consts.setdefault(key, []).append((name, data, quant, axis))
        return name

    def _bias(self, key: str, bq: np.ndarray, in_scale: float, w_scales: np.ndarray) -> str:
        """An int32 bias constant with its (per-channel) quantization ``s_in * s_w``, zero point 0."""
        scales = (np.float64(np.float32(in_scale)) * np.asarray(w_scales, np.float64)).astype(np.float32)
        return self._const(key, bq, (scales, np.zeros(len(scales), np.int64)))

    def _i32(self, key: str, values: Sequence[int]) -> str:
        return self._const(key, np.asarray(list(values), np.int32))

    def _fq_weight(self, w: torch.Tensor, q: np.ndarray, scales: np.ndarray, axis: int = 0) -> torch.Tensor:
        """The fake-quantized weight (straight-through) for the QAT surrogate."""
        shape = [1] * w.dim()
        shape[axis] = -1
        deq = torch.from_numpy(q.astype(np.float32) * scales.reshape(shape))
        return straight_through(w, deq)

    # --------------------------------------------------------------------------------------------- ops
    def input(self, x: torch.Tensor, key: str = "input") -> Value:
        """The model input (float ``x``); int mode quantizes it with the input's calibrated quantization."""
        if self.is_float:
            return self._float_out(key, x)
        s, z = self.q(key)
        name = self.b.input(key, tuple(x.shape), "int8", scale=s, zero_point=z)
        if self.execute:

            self.env[name] = affine_quantize(x.detach().cpu().numpy(), s, z, "int8")
        return self._int_out(name, key, None)

    def const(self, data: torch.Tensor, key: str, quant: tuple[float, int] | None = None) -> Value:
        """A constant activation (position embedding, class token), per-tensor int8 from its own range."""
        if self.is_float:
            return Value(key, data.shape, f=data)

        arr = data.detach().cpu().numpy().astype(np.float64)
        s, z = quant if quant is not None else int8_qparams(float(arr.min()), float(arr.max()))
        s = float(np.float32(s))
        q = np.clip(round_half_away(arr / s) + z, -128, 127).astype(np.int8)
        name = self._const(key, q, (s, z))
        f = straight_through(data, dequantize(q, s, z)) if self.grad else None
        return Value(key, q.shape, f=f, name=name)

    def output(self, v: Value) -> Value:
        if not self.is_float:
            self.b.output(v.name)
        return v

    def _linear_kind(self, x: Value, key: str) -> str:
        self.linear_keys.append(key)
        if any(fnmatch.fnmatchcase(key, p) for p in self.binarize):
            self.binarized.append(key)
            return "binary"
        return "spike" if x.spikes else "fc"

    def linear(self, x: Value, w: torch.Tensor, b: torch.Tensor | None, key: str, act: str = "NONE",
               quant: tuple[float, int] | None = None) -> Value:
        """``act(x W^T + b)`` on the last axis: FULLY_CONNECTED (keep_num_dims), SPIKE_FULLY_CONNECTED when x holds
        spikes, BINARY_FULLY_CONNECTED when the key matches a --binarize pattern. ``quant`` fixes the output's
        quantization (else calibrated)."""
        kind = self._linear_kind(x, key) if quant is None else ("spike" if x.spikes else "fc")

        def flt(xf: torch.Tensor, wf: torch.Tensor, bf: torch.Tensor | None) -> torch.Tensor:
            y = F.linear(xf, wf, bf)
            return torch.relu(y) if act == "RELU" else y

        if kind == "binary":
            return self._binary_linear(x, w, b, key, act, flt)
        if self.is_float:
            return self._float_out(key, flt(x.f, w, b), observe=quant is None)
        sx = self._tensor_q(x.name)[0] if not x.spikes else SPIKE_Q[0]
        wq, ws = quantize_weight(w)
        wname = self._const(f"{key}/w", wq, (ws, np.zeros(len(ws), np.int64)))
        bq = None if b is None else quantize_bias(b, sx, ws)
        bname = None if bq is None else self._bias(f"{key}/b", bq, sx, ws)
        op = "SPIKE_FULLY_CONNECTED" if kind == "spike" else "FULLY_CONNECTED"
        attrs = {"activation": act} if kind == "spike" else {"activation": act, "keep_num_dims": True}
        (name,) = self._add_node(op, [x.name, wname, bname], [(key, "int8", quant or self.q(key))], attrs)

        def sur() -> torch.Tensor:
            wf = self._fq_weight(w, wq, ws)
            bf = None
            if b is not None:
                bf = straight_through(b, torch.from_numpy((bq.astype(np.float64) * sx * ws).astype(np.float32)))
            return flt(x.f, wf, bf)

        return self._int_out(name, key, sur)

    def _binary_linear(self, x: Value, w: torch.Tensor, b: torch.Tensor | None, key: str, act: str,
                       flt: Callable[..., torch.Tensor]) -> Value:
        """BINARY_FULLY_CONNECTED: sign(W) with alpha = mean |W| per output channel (straight-through sign)."""

        alpha_t = w.abs().mean(dim=1, keepdim=True)
        if self.is_float:
            return self._float_out(key, flt(x.f, sign_ste(w) * alpha_t, b))

        packed, alpha = binarize_weights(w.detach().cpu().numpy())
        alpha = np.where(alpha > 0, alpha, np.float32(1e-8)).astype(np.float32)
        sx = self._tensor_q(x.name)[0]
        wname = self._const(f"{key}/w", packed, (alpha, np.zeros(len(alpha), np.int64)))
        bq = None if b is None else quantize_bias(b, sx, alpha)
        bname = None if bq is None else self._bias(f"{key}/b", bq, sx, alpha)
        (name,) = self._add_node("BINARY_FULLY_CONNECTED", [x.name, wname, bname], [(key, "int8", self.q(key))],
                                 {"activation": act})

        def sur() -> torch.Tensor:
            wf = straight_through(sign_ste(w) * alpha_t, torch.from_numpy(
                np.where(w.detach().cpu().numpy() >= 0, 1.0, -1.0).astype(np.float32) * alpha[:, None]))
            bf = None
            if b is not None:
                bf = straight_through(b, torch.from_numpy((bq.astype(np.float64) * sx * alpha).astype(np.float32)))
            return flt(x.f, wf, bf)

        return self._int_out(name, key, sur)

    def conv2d(self, x: Value, w: torch.Tensor, b: torch.Tensor | None, key: str, stride: tuple[int, int] = (1, 1),
               padding: str = "VALID", act: str = "NONE") -> Value:
        """CONV_2D on NHWC ``x`` with torch-layout weights ``[O, I, kh, kw]`` (SAME = symmetric padding for odd
        kernels at stride 1)."""

        def flt(xf: torch.Tensor, wf: torch.Tensor, bf: torch.Tensor | None) -> torch.Tensor:
            pad = (wf.shape[2] // 2, wf.shape[3] // 2) if padding == "SAME" else (0, 0)
            y = F.conv2d(xf.permute(0, 3, 1, 2), wf, bf, stride=stride, padding=pad).permute(0, 2, 3, 1)
            return torch.relu(y) if act == "RELU" else y

        if padding == "SAME" and (w.shape[2] % 2 == 0 or w.shape[3] % 2 == 0 or stride != (1, 1)):
            raise ValueError("conv2d: SAME padding is lowered for odd kernels at stride 1 only")
        if self.is_float:
            return self._float_out(key, flt(x.f, w, b))
        sx = SPIKE_Q[0] if x.spikes else self._tensor_q(x.name)[0]
        wq, ws = quantize_weight(w)  # [O, I, kh, kw] -> IR [O, kh, kw, I]
        wname = self._const(f"{key}/w", np.ascontiguousarray(wq.transpose(0, 2, 3, 1)),
                            (ws, np.zeros(len(ws), np.int64)))
        bias = b if b is not None else torch.zeros(w.shape[0])
        bq = quantize_bias(bias, sx, ws)
        bname = self._bias(f"{key}/b", bq, sx, ws)
        (name,) = self._add_node("CONV_2D", [x.name, wname, bname], [(key, "int8", self.q(key))],
                                 {"padding": padding, "stride_h": stride[0], "stride_w": stride[1],
                                  "activation": act})

        def sur() -> torch.Tensor:
            wf = self._fq_weight(w, wq, ws)
            bf = straight_through(bias, torch.from_numpy((bq.astype(np.float64) * sx * ws).astype(np.float32)))
            return flt(x.f, wf, bf)

        return self._int_out(name, key, sur)

    def _binary_elementwise(self, op: str, a: Value, b: Value, key: str, fn: Callable, act: str = "NONE",
                            quant: tuple[float, int] | None = None, spikes: bool = False) -> Value:
        if self.is_float:
            return self._float_out(key, fn(a.f, b.f), observe=quant is None, spikes=spikes)
        (name,) = self._add_node(op, [a.name, b.name], [(key, "int8", quant or self.q(key))], {"activation": act})
        return self._int_out(name, key, lambda: fn(a.f, b.f), spikes=spikes)

    def add(self, a: Value, b: Value, key: str, act: str = "NONE") -> Value:
        """ADD (broadcasting), optional fused ReLU."""
        fn = (lambda u, v: torch.relu(u + v)) if act == "RELU" else (lambda u, v: u + v)
        return self._binary_elementwise("ADD", a, b, key, fn, act)

    def sub(self, a: Value, b: Value, key: str) -> Value:
        """SUB (broadcasting)."""
        return self._binary_elementwise("SUB", a, b, key, lambda u, v: u - v)

    def squared_difference(self, a: Value, b: Value, key: str) -> Value:
        """SQUARED_DIFFERENCE ``(a - b)^2`` (broadcasting)."""
        if self.is_float:
            return self._float_out(key, (a.f - b.f) ** 2)
        (name,) = self._add_node("SQUARED_DIFFERENCE", [a.name, b.name], [(key, "int8", self.q(key))], {})
        return self._int_out(name, key, lambda: (a.f - b.f) ** 2)

    def rsqrt(self, x: Value, key: str) -> Value:
        """RSQRT ``1 / sqrt(x)``."""
        if self.is_float:
            return self._float_out(key, torch.rsqrt(x.f))
        (name,) = self._add_node("RSQRT", [x.name], [(key, "int8", self.q(key))], {})
        return self._int_out(name, key, lambda: torch.rsqrt(x.f))

    def layer_norm_decomposed(self, x: Value, weight: torch.Tensor, bias: torch.Tensor | None, eps: float,
                              key: str) -> Value:
        """LayerNorm from TFLite builtins, as TFLite's converter writes it: MEAN, SQUARED_DIFFERENCE, MEAN,
        ADD(eps), RSQRT, SUB, MUL, then MUL by gamma and ADD of beta (constants)."""
        mean = self.mean(x, [-1], f"{key}/mean", keep_dims=True)
        var = self.mean(self.squared_difference(x, mean, f"{key}/sqdiff"), [-1], f"{key}/var", keep_dims=True)
        ve = self.add(var, self.const(torch.tensor(float(eps)), f"{key}/eps"), f"{key}/var_eps")
        inv = self.rsqrt(ve, f"{key}/rsqrt")
        y = self.mul(self.sub(x, mean, f"{key}/centered"), inv, f"{key}/normalized")
        y = self.mul(y, self.const(weight, f"{key}/gamma"), f"{key}/scaled")
        if bias is not None:
            y = self.add(y, self.const(bias, f"{key}/beta"), key)
        return y

    def mul(self, a: Value, b: Value, key: str) -> Value:
        """MUL (broadcasting); the product of two spike tensors is a spike tensor (AND)."""
        spikes = a.spikes and b.spikes
        out = self._binary_elementwise("MUL", a, b, key, lambda u, v: u * v, quant=SPIKE_Q if spikes else None,
                                       spikes=spikes)
        if spikes and not self.is_float:
            self.tags.setdefault(out.name, {})["logic"] = "and"  # a product of 0/1 spikes is an AND
        return out

    def mean(self, x: Value, axes: Sequence[int], key: str, keep_dims: bool = False) -> Value:
        """MEAN over ``axes``."""
        axes = [a % len(x.shape) for a in axes]
        fn = lambda u: u.mean(dim=tuple(axes), keepdim=keep_dims)  # noqa: E731
        if self.is_float:
            return self._float_out(key, fn(x.f))
        ax = self._i32(f"{key}/axis", axes)
        (name,) = self._add_node("MEAN", [x.name, ax], [(key, "int8", self.q(key))], {"keep_dims": keep_dims})
        return self._int_out(name, key, lambda: fn(x.f))

    def _passthrough(self, op: str, x: Value, key: str, consts: list[str], attrs: dict[str, Any],
                     fn: Callable[[torch.Tensor], torch.Tensor]) -> Value:
        """Data movement: the output keeps the input's quantization, values pass exactly."""
        if self.is_float:
            return Value(x.key, fn(x.f).shape, f=fn(x.f), spikes=x.spikes)
        t = self.graph.tensors[x.name]
        quant = None if t.quant is None else (t.scale, t.zero_point)
        (name,) = self._add_node(op, [x.name, *consts], [(key, t.dtype, quant)], attrs)
        f = fn(x.f) if x.f is not None else None
        return Value(x.key, self.graph.tensors[name].shape, f=f, name=name, spikes=x.spikes)

    def reshape(self, x: Value, shape: Sequence[int], key: str) -> Value:
        shape = [int(d) for d in shape]
        consts = [] if self.is_float else [self._i32(f"{key}/shape", shape)]
        return self._passthrough("RESHAPE", x, key, consts, {}, lambda u: u.reshape(shape))

    def transpose(self, x: Value, perm: Sequence[int], key: str) -> Value:
        perm = [int(p) for p in perm]
        consts = [] if self.is_float else [self._i32(f"{key}/perm", perm)]
        return self._passthrough("TRANSPOSE", x, key, consts, {}, lambda u: u.permute(*perm).contiguous())

    def take(self, x: Value, axis: int, start: int, stop: int, key: str, squeeze: bool = False) -> Value:
        """STRIDED_SLICE of ``start:stop`` on one axis (``squeeze``: drop the axis; needs ``stop = start + 1``)."""
        rank = len(x.shape)
        axis %= rank
        begin = [0] * rank
        end = list(x.shape)
        begin[axis], end[axis] = start, stop

        def fn(u: torch.Tensor) -> torch.Tensor:
            y = u.narrow(axis, start, stop - start)
            return y.squeeze(axis) if squeeze else y

        consts = [] if self.is_float else [self._i32(f"{key}/begin", begin), self._i32(f"{key}/end", end),
                                           self._i32(f"{key}/strides", [1] * rank)]
        attrs = {"shrink_axis_mask": 1 << axis} if squeeze else {}
        return self._passthrough("STRIDED_SLICE", x, key, consts, attrs, fn)

    def concat(self, xs: Sequence[Value], axis: int, key: str) -> Value:
        """CONCATENATION; every int8 input must already have the output's quantization (the first input's)."""
        axis %= len(xs[0].shape)
        if self.is_float:
            f = torch.cat([v.f for v in xs], dim=axis)
            return Value(xs[0].key, f.shape, f=f, spikes=all(v.spikes for v in xs))
        t0 = self.graph.tensors[xs[0].name]
        for v in xs[1:]:
            t = self.graph.tensors[v.name]
            if (t.quant is None) != (t0.quant is None) or (t.quant and (t.scale, t.zero_point) !=
                                                           (t0.scale, t0.zero_point)):
                raise AssertionError(f"concat {key}: inputs {xs[0].key} and {v.key} are quantized differently")
        quant = None if t0.quant is None else (t0.scale, t0.zero_point)
        (name,) = self._add_node("CONCATENATION", [v.name for v in xs], [(key, t0.dtype, quant)], {"axis": axis})
        f = torch.cat([v.f for v in xs], dim=axis) if all(v.f is not None for v in xs) else None
        return Value(xs[0].key, self.graph.tensors[name].shape, f=f, name=name, spikes=all(v.spikes for v in xs))

    def pad_const(self, x: Value, axis: int, before: int, after: int, key: str) -> Value:
        """Zero padding on one axis: CONCATENATION with constants holding real 0 (the zero point)."""
        axis %= len(x.shape)
        parts = []
        for n, where in ((before, "before"), (after, "after")):
            if n <= 0:
                parts.append(None)
                continue
            shape = list(x.shape)
            shape[axis] = n
            if self.is_float:
                parts.append(Value(x.key, shape, f=torch.zeros(shape, dtype=x.f.dtype)))
            else:
                s, z = self._tensor_q(x.name)
                name = self._const(f"{key}/{where}", np.full(shape, z, np.int8), (s, z))
                f = torch.zeros(shape) if x.f is not None else None
                parts.append(Value(x.key, shape, f=f, name=name))
        seq = [p for p in (parts[0], x, parts[1]) if p is not None]
        return x if len(seq) == 1 else self.concat(seq, axis, key)

    def bmm(self, a: Value, b: Value, key: str, adj_y: bool = False) -> Value:
        """BATCH_MATMUL ``a @ b`` (``b`` transposed on its last two axes with ``adj_y``)."""

        def fn(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return u @ (v.transpose(-1, -2) if adj_y else v)

        if self.is_float:
            return self._float_out(key, fn(a.f, b.f))
        (name,) = self._add_node("BATCH_MATMUL", [a.name, b.name], [(key, "int8", self.q(key))], {"adj_y": adj_y})
        return self._int_out(name, key, lambda: fn(a.f, b.f))

    def const_matrix(self, data: torch.Tensor, key: str) -> Value:
        """A constant operand of BATCH_MATMUL: symmetric per-tensor int8."""
        if self.is_float:
            return Value(key, data.shape, f=data)
        arr = data.detach().cpu().numpy().astype(np.float64)
        s = float(np.float32(max(np.abs(arr).max(initial=0.0), 1e-8) / 127.0))
        q = np.clip(round_half_away(arr / s), -127, 127).astype(np.int8)
        name = self._const(key, q, (s, 0))
        f = straight_through(data, dequantize(q, s, 0)) if self.grad else None
        return Value(key, q.shape, f=f, name=name)

    def softmax(self, x: Value, key: str) -> Value:
        """SOFTMAX over the last axis (output scale 1/256, zero point -128)."""
        fn = lambda u: torch.softmax(u, dim=-1)  # noqa: E731
        if self.is_float:
            return self._float_out(key, fn(x.f), observe=False)
        (name,) = self._add_node("SOFTMAX", [x.name], [(key, "int8", SOFTMAX_Q)], {})
        return self._int_out(name, key, lambda: fn(x.f))

    def clipped_softmax(self, x: Value, key: str, gamma: float, zeta: float = 1.0) -> Value:
        """CLIPPED_SOFTMAX ``clip((zeta - gamma) softmax(x) + gamma, 0, 1)``."""

        def fn(u: torch.Tensor) -> torch.Tensor:
            return torch.clamp((zeta - gamma) * torch.softmax(u, dim=-1) + gamma, 0.0, 1.0)

        if self.is_float:
            return self._float_out(key, fn(x.f), observe=False)
        quant = SOFTMAX_Q if zeta <= 1.0 else (1.0 / 255.0, -128)
        (name,) = self._add_node("CLIPPED_SOFTMAX", [x.name], [(key, "int8", quant)],
                                 {"gamma": float(gamma), "zeta": float(zeta)})
        return self._int_out(name, key, lambda: fn(x.f))

    def attention_gate(self, attn: Value, gate: Value, key: str) -> Value:
        """ATTENTION_GATE ``sigmoid(g) * attn`` (one gate per vector of the last axis)."""
        fn = lambda a, g: a * torch.sigmoid(g).unsqueeze(-1)  # noqa: E731
        if self.is_float:
            return self._float_out(key, fn(attn.f, gate.f))
        (name,) = self._add_node("ATTENTION_GATE", [attn.name, gate.name], [(key, "int8", self.q(key))], {})
        return self._int_out(name, key, lambda: fn(attn.f, gate.f))

    def hash_attention(self, hq: Value, hk: Value, v: Value, key: str, bits: int = 0) -> Value:
        """HASH_ATTENTION on int8 pre-sign codes (bit = value >= 0) or, with ``bits``, on packed codes (HASH_ENCODE's
        output)."""

        def fn(q: torch.Tensor, k: torch.Tensor, vv: torch.Tensor) -> torch.Tensor:
            return hash_attention_linear(sign_ste(q), sign_ste(k), vv)

        if self.is_float:
            return self._float_out(key, fn(hq.f, hk.f, v.f))
        (name,) = self._add_node("HASH_ATTENTION", [hq.name, hk.name, v.name], [(key, "int8", self.q(key))],
                                 {"bits": bits} if bits else {})
        return self._int_out(name, key, lambda: fn(hq.f, hk.f, v.f))

    def hash_encode(self, x: Value, kh: torch.nn.Module, key: str) -> Value:
        """HASH_ENCODE of tokens ``x [B, N, H d]`` with the binarized :class:`~edgefmr.nas.models.attention.KernelHash`
        ``kh``: packed codes ``[B, H, N, ceil(b/8)]`` (int mode); the float program and the QAT surrogate use the
        model's pre-sign values ``[B, H, N, b]`` (QAT: forward = the exact +-1 codes, straight-through)."""

        def fn(u: torch.Tensor) -> torch.Tensor:
            bsz, n, _ = u.shape
            heads = u.reshape(bsz, n, kh.heads, kh.dim).transpose(1, 2)
            unit = heads * torch.rsqrt(heads.square().sum(dim=-1, keepdim=True).clamp_min(1e-12))
            return kh.features(unit, detach_params=True)

        if self.is_float:
            return Value(key, (*x.shape[:-2], kh.heads, x.shape[-2], kh.bits), f=fn(x.f))
        a, table, p, off = hash_encode_constants(kh)
        ins = [x.name, self._const(f"{key}/anchors", a), self._const(f"{key}/table", table),
               self._const(f"{key}/proj", p), self._const(f"{key}/offset", off)]
        (name,) = self._add_node("HASH_ENCODE", ins, [(key, "uint8", None)], {})
        f = None
        if self.grad and self.execute:
            signs = torch.from_numpy(2.0 * unpack_bits(self.env[name], kh.bits).astype(np.float32) - 1.0)
            f = straight_through(fn(x.f), signs)
        return Value(key, self.graph.tensors[name].shape, f=f, name=name)

    def layer_norm(self, x: Value, weight: torch.Tensor, bias: torch.Tensor | None, eps: float, key: str) -> Value:
        """LAYER_NORM over the last axis with per-channel gamma (int8) and beta (int32, output LSBs)."""

        def fn(u: torch.Tensor, g: torch.Tensor, bb: torch.Tensor | None) -> torch.Tensor:
            return F.layer_norm(u, (u.shape[-1],), g, bb, eps)

        if self.is_float:
            return self._float_out(key, fn(x.f, weight, bias))

        s_y, z_y = self.q(key)
        gq, gs, bq = quantize_affine(weight.detach().cpu().numpy(), None if bias is None else
                                     bias.detach().cpu().numpy(), s_y)
        gname = self._const(f"{key}/gamma", gq, (gs, np.zeros(len(gs), np.int64)))
        bname = self._const(f"{key}/beta", bq, (s_y, 0))
        (name,) = self._add_node("LAYER_NORM", [x.name, gname, bname], [(key, "int8", (s_y, z_y))],
                                 {"epsilon": float(eps)})

        def sur() -> torch.Tensor:
            gf = straight_through(weight, torch.from_numpy(gq.astype(np.float32) * gs))
            bf = None if bias is None else straight_through(bias, torch.from_numpy(bq.astype(np.float32) *
                                                                                   np.float32(s_y)))
            return fn(x.f, gf, bf)

        return self._int_out(name, key, sur)

    def lut(self, x: Value, fn_name: str | Callable[[np.ndarray], np.ndarray],
            fn: Callable[[torch.Tensor], torch.Tensor], key: str) -> Value:
        """LUT: the pointwise function ``fn`` as a 256-entry table (``fn_name``: a make_lut name or the numpy
        form of ``fn``)."""
        if self.is_float:
            return self._float_out(key, fn(x.f))

        table = make_lut(fn_name, self._tensor_q(x.name), self.q(key))
        tname = self._const(f"{key}/table", table)
        (name,) = self._add_node("LUT", [x.name, tname], [(key, "int8", self.q(key))], {})
        return self._int_out(name, key, lambda: fn(x.f))

    def lif(self, x: Value, lif: torch.nn.Module, key: str, v0: Value | None = None,
            final_state: bool = False, membrane_bits: int = 12) -> tuple[Value, Value | None]:
        """LIF over axis 0 (time): spikes (int8 0/1, a spike worth 1) and, with ``final_state``, the int32
        membrane after the last step (the next chunk's ``v0``)."""

        def fn(u: torch.Tensor) -> torch.Tensor:
            return lif(u)

        if self.is_float:
            return self._float_out(key, lif_float(u=x.f, tau=lif.tau, threshold=lif.threshold), observe=False,
                                   spikes=True), None
        outs = [(key, "int8", SPIKE_Q), (f"{key}/v", "int32", None)]
        names = self._add_node("LIF", [x.name, v0.name if v0 is not None else None], outs,
                               {"tau": float(lif.tau), "threshold": float(lif.threshold),
                                "membrane_bits": membrane_bits})
        s = self._int_out(names[0], key, lambda: fn(x.f), spikes=True)
        vt = Value(f"{key}/v", self.graph.tensors[names[1]].shape, name=names[1]) if final_state else None
        return s, vt

    def state_input(self, key: str, shape: Sequence[int], dtype: str = "int32", values: np.ndarray | None = None,
                    quant: tuple[float, int] | None = None) -> Value:
        """A graph input carrying a streaming state (LIF membrane, LMU memory, conv buffer)."""
        assert self.b is not None
        name = self.b.input(key, tuple(shape), dtype, scale=None if quant is None else quant[0],
                            zero_point=0 if quant is None else quant[1])
        if self.execute:
            self.env[name] = np.zeros(tuple(shape), dtype) if values is None else np.asarray(values, dtype)
        return Value(key, shape, name=name)

    def lmu_update(self, u: Value, a_bar: np.ndarray, b_bar: np.ndarray, key: str, state_frac_bits: int,
                   a_frac_bits: int = 24, m0: Value | None = None, final_state: bool = False
                   ) -> tuple[Value, Value | None]:
        """LMU_UPDATE ``m_t = A m_{t-1} + B u_t`` over axis 0: states ``[T, *S, d]`` and the final int32 state."""
        a64 = torch.as_tensor(np.asarray(a_bar, np.float64))
        b64 = torch.as_tensor(np.asarray(b_bar, np.float64))

        def fn(uf: torch.Tensor) -> torch.Tensor:
            a, bb = a64.to(uf.dtype), b64.to(uf.dtype)
            m = torch.zeros(*uf.shape[1:], len(bb), dtype=uf.dtype)
            out = []
            for t in range(uf.shape[0]):
                m = m @ a.T + uf[t][..., None] * bb
                out.append(m)
            return torch.stack(out)

        if self.is_float:
            return self._float_out(key, fn(u.f)), None

        aq, bq = lmu_constants(np.asarray(a_bar), np.asarray(b_bar), a_frac_bits, state_frac_bits)
        an, bn = self._const(f"{key}/A", aq), self._const(f"{key}/B", bq)
        outs = [(key, "int8", self.q(key)), (f"{key}/m", "int32", None)]
        names = self._add_node("LMU_UPDATE", [u.name, an, bn, m0.name if m0 is not None else None], outs,
                               {"a_frac_bits": a_frac_bits, "state_frac_bits": state_frac_bits})
        y = self._int_out(names[0], key, lambda: fn(u.f))
        mt = Value(f"{key}/m", self.graph.tensors[names[1]].shape, name=names[1]) if final_state else None
        return y, mt

    def state_output(self, v: Value) -> None:
        """Mark a final-state tensor as a graph output (streaming graphs)."""
        if not self.is_float:
            self.b.output(v.name)


#: HASH_ENCODE constants of the lowering: the cosine grid (R steps per unit) and the features' scale (the RBF
#: feature in (0, 1] as 0..255: the byte features of the Cortex-M kernel's USADA8 projection).
HASH_RADIUS = 127
HASH_FEATURE_SCALE = 255


def hash_encode_constants(kh: torch.nn.Module) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(anchors int8 [H, m, d], feature table int16 [H, 2R+1], projection int8 [H, b, m], offsets int32 [H, b]) of a
    binarized KernelHash: the anchor and projection signs, ``T[h, t + R] = round(255 exp((t/R - 1) / sigma_h))``
    and ``offset = round(255 P_h mu_h)``."""
    if not kh.binary:
        raise EdgefmrError("HASH_ENCODE needs binarized anchors and projection (hash_binary)")
    a = torch.where(kh.anchors.detach() >= 0, 1, -1).numpy().astype(np.int8)
    p = torch.where(kh.proj.detach() >= 0, 1, -1).numpy().astype(np.int8)
    t = np.arange(-HASH_RADIUS, HASH_RADIUS + 1, dtype=np.float64) / HASH_RADIUS
    sigma = kh.sigma.detach().double().numpy()[:, None]
    scale = float(HASH_FEATURE_SCALE)
    table = np.clip(round_half_away(np.exp((t[None, :] - 1.0) / sigma) * scale), -32768, 32767).astype(np.int16)
    mu = kh.mu.detach().double().numpy()
    off = round_half_away(np.einsum("hbm,hm->hb", p.astype(np.float64), mu) * scale).astype(np.int32)
    return a, table, p, off


class Streams:
    """The state inputs and outputs of a streaming (chunk) graph: LIF membranes and LMU memories become graph
    inputs (``<key>/state_in``) and their final values graph outputs (``outs``, marked by the caller), when
    ``enabled`` (int mode only); otherwise the layers start from zero as in the whole-sequence program."""

    def __init__(self, ctx: Lowering, enabled: bool) -> None:
        self.ctx, self.enabled = ctx, enabled and not ctx.is_float
        self.outs: list[Value] = []

    def init(self, key: str, shape: tuple[int, ...]) -> Value | None:
        return self.ctx.state_input(f"{key}/state_in", shape) if self.enabled else None

    def lif(self, x: Value, lif: torch.nn.Module, key: str) -> Value:
        s, vt = self.ctx.lif(x, lif, key, v0=self.init(key, x.shape[1:]), final_state=self.enabled)
        if vt is not None:
            self.outs.append(vt)
        return s

    def lmu(self, u: Value, a: np.ndarray, b: np.ndarray, key: str, fm: int, a_frac_bits: int = 24) -> Value:
        m0 = self.init(key, (*u.shape[1:], len(b)))
        y, mt = self.ctx.lmu_update(u, a, b, key, fm, a_frac_bits, m0=m0, final_state=self.enabled)
        if mt is not None:
            self.outs.append(mt)
        return y


def lif_float(u: torch.Tensor, tau: float, threshold: float) -> torch.Tensor:
    """The forward pass of :class:`edgefmr.nas.models.lif.LIF` as plain tensor ops (same operations, same values): the
    float program needs no surrogate gradient and can then be traced (ONNX export)."""
    v = torch.zeros_like(u[0])
    out = []
    for t in range(u.shape[0]):
        h = v + (u[t] - v) / tau
        s = (h >= threshold).to(u.dtype)
        out.append(s)
        v = h * (1 - s)
    return torch.stack(out)
