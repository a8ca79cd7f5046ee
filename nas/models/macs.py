"""Analytic cost of a model: multiply-accumulates per inference and parameter count.

:func:`macs` runs one forward pass on a zero input of batch 1 and adds, through forward hooks:

* ``nn.Linear``: output elements x in_features;
* ``nn.Conv1d`` / ``nn.Conv2d``: output elements x in_channels / groups x kernel size;
* any module with a method ``macs_extra(inputs, output) -> int``: the multiplications it does
  outside those layers (e.g. an attention core's Q K^T and A V, a hash encoding, an LMU's
  state update). A family that multiplies with ``torch.matmul``/``einsum`` inside its own
  modules must declare them this way; :func:`matmul_macs` (PyTorch's flop counter) is the
  cross-check used in tests.

A layer called several times (time steps, shared weights) is counted at every call.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def params(model: nn.Module) -> int:
    """Number of parameters (trainable and frozen)."""
    return sum(p.numel() for p in model.parameters())


def _zero_input(input_shape: tuple[int, ...]) -> torch.Tensor:
    return torch.zeros(1, *input_shape)


def macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one inference (batch 1) of ``model`` on inputs of ``input_shape``."""
    total = 0

    def hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Linear):
            total += output.numel() * mod.in_features
        elif isinstance(mod, nn.Conv1d | nn.Conv2d):
            total += output.numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
        extra = getattr(mod, "macs_extra", None)
        if extra is not None:
            total += int(extra(inputs, output))

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(_zero_input(tuple(input_shape)))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def matmul_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of every matmul/conv PyTorch executes in one inference (batch 1), from its flop counter."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(_zero_input(tuple(input_shape)))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
