"""Quantize a trained model of any family and lower it to the integer IR.

``quantize(model, family, x_calib, options)`` runs the float program on calibration batches (observers), chooses
int8 quantization parameters, optionally trains with quantization in the loop (QAT, :mod:`edgefmr.quant.qat`),
and returns a :class:`QuantizedModel`: ``graph()`` is the IR (batch 1), ``fake_quant(x)`` the integer model on a
batch (the same kernels, so its integer outputs equal the IR interpreter's), ``float_logits(x)`` the float
reference. :func:`evaluate_ir` measures accuracy on the IR reference interpreter (``edgefmr.ir.run``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from edgefmr.errors import EdgefmrError
from edgefmr.ir import Graph, run
from edgefmr.ops.quantize import affine_quantize
from edgefmr.quant import lmu, spiking, vit
from edgefmr.quant.lowering import FLOAT, INT, Lowering, Value
from edgefmr.quant.observers import OBSERVERS, Observer, qparams
from edgefmr.quant.qat import train_qat

#: family -> its lowering program ``program(ctx, model, x, options) -> Value``.
PROGRAMS = {"vit": vit.program, "spiking": spiking.program, "lmu": lmu.program}
METHODS = ("ptq", "qat")
SOFTMAXES = ("standard", "clipped")
LAYERNORMS = ("integer", "decomposed")


@dataclass
class QuantOptions:
    """How to quantize: method, softmax override, binarized layers, observer and calibration/QAT settings."""

    method: str = "ptq"
    softmax: str | None = None  # None: each attention layer's own; "standard" | "clipped"
    binarize: tuple[str, ...] = ()  # fnmatch patterns of linear-layer keys
    layernorm: str = "integer"  # ViT: "integer" (LAYER_NORM) or "decomposed" (TFLite builtins)
    observer: str = "minmax"
    percentile: float = 99.99
    calib_samples: int = 1024
    batch_size: int = 64
    qat_epochs: int = 3
    qat_lr: float = 2e-4
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.method not in METHODS:
            raise EdgefmrError(f"unknown quantization method {self.method!r}; valid: {', '.join(METHODS)}")
        if self.softmax is not None and self.softmax not in SOFTMAXES:
            raise EdgefmrError(f"unknown softmax {self.softmax!r}; valid: {', '.join(SOFTMAXES)}")
        if self.layernorm not in LAYERNORMS:
            raise EdgefmrError(f"unknown layernorm {self.layernorm!r}; valid: {', '.join(LAYERNORMS)}")
        if self.observer not in OBSERVERS:
            raise EdgefmrError(f"unknown observer {self.observer!r}; valid: {', '.join(OBSERVERS)}")
        if not 50.0 < self.percentile <= 100.0:
            raise EdgefmrError(f"percentile must be in (50, 100], got {self.percentile}")
        if self.calib_samples < 1 or self.batch_size < 1 or self.qat_epochs < 0:
            raise EdgefmrError("calib_samples and batch_size must be >= 1 and qat_epochs >= 0")

    def program_options(self) -> dict[str, Any]:
        return {"softmax": self.softmax, "layernorm": self.layernorm, **self.extra}


def program_of(family: str) -> Callable[[Lowering, nn.Module, torch.Tensor, dict[str, Any]], Value]:
    """The lowering program of a family."""
    if family not in PROGRAMS:
        raise EdgefmrError(f"family {family!r} cannot be quantized; valid: {', '.join(PROGRAMS)}")
    return PROGRAMS[family]


def batches(x: np.ndarray | torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    xt = torch.as_tensor(np.asarray(x, np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    for i in range(0, len(xt), batch_size):
        yield xt[i: i + batch_size]


class QuantizedModel:
    """A model with its calibrated quantization: the float, fake-quant and IR forms of one program."""

    def __init__(self, family: str, model: nn.Module, options: QuantOptions, observers: dict[str, Observer],
                 linear_keys: list[str], residual_keys: list[str]) -> None:
        self.family, self.model, self.options = family, model, options
        self.observers = observers
        self.linear_keys = linear_keys
        self.residual_keys = residual_keys
        self.program = program_of(family)
        self.qparams: dict[str, tuple[float, int]] = {}
        self.choose_qparams()

    def choose_qparams(self) -> None:
        """(Re)compute every activation's int8 quantization from the observers."""
        o = self.options
        self.qparams = {k: qparams(obs, o.observer, o.percentile) for k, obs in self.observers.items()}

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.model.input_shape)

    def context(self, mode: str = INT, **kw: Any) -> Lowering:
        return Lowering(mode, qparams=self.qparams, binarize=self.options.binarize, **kw)

    def float_logits(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The float program's logits on this (possibly QAT-tuned) model."""
        return float_logits(self.family, self.model, x, self.options)

    def fake_quant(self, x: torch.Tensor, grad: bool = False) -> tuple[Value, Lowering]:
        """Run the integer model on the batch ``x`` (its kernels executed at once); returns (logits, context).

        The logits' integers are ``ctx.ints(value)``; with ``grad`` its ``.f`` is the straight-through float.
        """
        ctx = self.context(INT, execute=True, grad=grad)
        with torch.set_grad_enabled(grad):
            out = self.program(ctx, self.model, x, self.options.program_options())
        return out, ctx

    def int_logits(self, x: np.ndarray | torch.Tensor, batch_size: int = 128) -> np.ndarray:
        """Integer logits of the fake-quant model over ``x`` (int8 ``[N, classes]``)."""
        self.model.eval()
        outs = []
        for xb in batches(x, batch_size):
            v, ctx = self.fake_quant(xb)
            outs.append(ctx.ints(v))
        return np.concatenate(outs)

    def graph(self, batch: int = 1, metadata: dict[str, Any] | None = None) -> Graph:
        """The integer IR graph (validated)."""
        meta = {"name": f"{self.family}_int8", "family": self.family, **(metadata or {})}
        ctx = self.context(INT, metadata=meta)
        x = torch.zeros(batch, *self.input_shape)
        with torch.no_grad():
            self.program(ctx, self.model, x, self.options.program_options())
        ctx.graph.metadata["attention_tags"] = ctx.tags
        ctx.graph.metadata["binarized"] = list(ctx.binarized)
        return ctx.b.build()


@torch.no_grad()
def float_logits(family: str, model: nn.Module, x: np.ndarray | torch.Tensor, options: QuantOptions) -> torch.Tensor:
    """The float program's logits: the float model with the options' softmax override and binarized layers."""
    program = program_of(family)
    model.eval()
    outs = []
    for xb in batches(x, 256):
        ctx = Lowering(FLOAT, binarize=options.binarize, record=False)
        outs.append(program(ctx, model, xb, options.program_options()).f)
    return torch.cat(outs)


def calibrate(family: str, model: nn.Module, x_calib: np.ndarray | torch.Tensor, options: QuantOptions
              ) -> tuple[dict[str, Observer], Lowering]:
    """Observers of every activation of the float program over ``x_calib`` (in batches)."""
    program = program_of(family)
    observers: dict[str, Observer] = {}
    ctx = None
    model.eval()
    with torch.no_grad():
        for xb in batches(x_calib, options.batch_size):
            ctx = Lowering(FLOAT, observers=observers, binarize=options.binarize)
            program(ctx, model, xb, options.program_options())
    assert ctx is not None
    return observers, ctx


def check_binarize(patterns: tuple[str, ...], linear_keys: list[str], binarized: list[str]) -> None:
    """Every --binarize pattern must match a linear layer."""
    import fnmatch

    for p in patterns:
        if not any(fnmatch.fnmatchcase(k, p) for k in linear_keys):
            raise EdgefmrError(f"--binarize pattern {p!r} matches no linear layer; valid layers: "
                               f"{', '.join(linear_keys)}")


def quantize(model: nn.Module, family: str, x_calib: np.ndarray, options: QuantOptions | None = None, *,
             x_train: np.ndarray | None = None, y_train: np.ndarray | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> QuantizedModel:
    """Calibrate ``model`` on ``options.calib_samples`` samples of ``x_calib`` drawn with ``options.seed`` (a copy
    is quantized; the caller's model is untouched) and, for QAT, fine-tune it with the integer model in the loop on
    ``(x_train, y_train)``."""
    options = options or QuantOptions()
    options.check()
    model = copy.deepcopy(model).eval()
    for p in model.parameters():
        p.requires_grad_(options.method == "qat")
    pick = np.random.default_rng(options.seed).permutation(len(x_calib))[: options.calib_samples]
    observers, ctx = calibrate(family, model, np.asarray(x_calib)[np.sort(pick)], options)
    check_binarize(options.binarize, ctx.linear_keys, ctx.binarized)
    qm = QuantizedModel(family, model, options, observers, list(ctx.linear_keys), list(ctx.residual_keys))
    if options.method == "qat" and options.qat_epochs > 0:
        if x_train is None or y_train is None:
            raise EdgefmrError("QAT needs training data")

        train_qat(qm, x_train, y_train, progress=progress)
    for p in qm.model.parameters():
        p.requires_grad_(False)
    return qm


def evaluate_ir(g: Graph, x: np.ndarray, y: np.ndarray | None = None,
                progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run every sample on the IR reference interpreter; integer logits, predictions and accuracy."""

    t = g.tensors[g.inputs[0]]
    xq = affine_quantize(np.asarray(x, np.float32).reshape(len(x), *t.shape), t.scale, t.zero_point, t.dtype)
    out = []
    for i, xi in enumerate(xq):
        out.append(run(g, [xi])[g.outputs[0]])
        if progress is not None:
            progress(i + 1, len(xq))
    logits = np.stack(out).reshape(len(x), -1)
    res: dict[str, Any] = {"logits": logits, "pred": logits.argmax(-1)}
    if y is not None:
        res["accuracy"] = float((res["pred"] == np.asarray(y)).mean())
    return res


def options_dict(o: QuantOptions) -> dict[str, Any]:
    d = asdict(o)
    d["binarize"] = list(o.binarize)
    return d
