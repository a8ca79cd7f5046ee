"""Quantization-aware training: the integer model in the training loop.

Every forward pass runs the fake-quant model (:meth:`~edgefmr.quant.quantizer.QuantizedModel.fake_quant` with
``grad=True``): each op's forward value is its integer kernel's result (dequantized), so the loss is the integer
model's loss; gradients flow through the float form of each op with weights fake-quantized by a straight-through
estimator (binarized layers through a straight-through sign), spikes through the LIF's surrogate gradient. The
activation quantization stays as calibrated; BatchNorm statistics stay frozen (the model is in eval mode, and
folded BatchNorms are refolded at every step from the trained parameters).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from edgefmr.errors import EdgefmrError


def train_qat(qm: Any, x: np.ndarray, y: np.ndarray, *, epochs: int | None = None, lr: float | None = None,
              batch_size: int | None = None, seed: int | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Fine-tune ``qm.model`` in place with the integer model in the loop; returns the loss per epoch."""
    o = qm.options
    epochs = o.qat_epochs if epochs is None else epochs
    lr = o.qat_lr if lr is None else lr
    batch_size = o.batch_size if batch_size is None else batch_size
    seed = o.seed if seed is None else seed
    model = qm.model
    model.eval()
    params = [p for p in model.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(np.asarray(x, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    n = len(yt)
    steps = epochs * math.ceil(n / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    step = 0
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total, count = 0.0, 0
        for i in range(0, n, batch_size):
            idx = perm[i: i + batch_size]
            out, _ = qm.fake_quant(xt[idx], grad=True)
            loss = loss_fn(out.f, yt[idx])
            if not torch.isfinite(loss):
                raise EdgefmrError(f"QAT diverged (loss {loss.item()}) in epoch {epoch + 1}; try a lower --qat-lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            total += loss.item() * len(idx)
            count += len(idx)
            if progress is not None:
                progress("qat", step, steps)
        losses.append(total / count)
    for p in params:
        p.requires_grad_(False)
    return {"qat_loss": losses, "qat_epochs": epochs, "qat_lr": lr}
