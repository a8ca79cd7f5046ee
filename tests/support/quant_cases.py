"""Small models of every family and attention variant for the quantization tests (random weights, active spikes)."""

from __future__ import annotations

import numpy as np
import torch

from edgefmr.nas.train import build_model

IMG = (1, 8, 8)
SEQ = (16, 3)

VIT = {"patch_size": 2, "embed_dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0}
CASES = {
    "vit-softmax": ("vit", IMG, {**VIT, "attention": "softmax"}, {}),
    "vit-clipped": ("vit", IMG, {**VIT, "attention": "clipped"}, {}),
    "vit-softmax-as-clipped": ("vit", IMG, {**VIT, "attention": "softmax"}, {"softmax": "clipped"}),
    "vit-gated": ("vit", IMG, {**VIT, "attention": "gated", "depth": 2}, {}),
    "vit-hash": ("vit", IMG, {**VIT, "attention": "hash", "hash_bits": 6, "hash_anchors": 4}, {}),
    "vit-relu-cls-lowrank-pad": ("vit", (1, 7, 7), {**VIT, "activation": "relu", "pooling": "cls",
                                                    "rank_factor": 0.5, "patch_size": 3}, {}),
    "vit-sequence": ("vit", SEQ, {**VIT, "patch_size": 3}, {}),
    "vit-binarized-mlp": ("vit", IMG, VIT, {"binarize": ("blocks.*.mlp.*",)}),
    "spiking-sdsa": ("spiking", IMG, {"T": 2, "embed_dim": 16, "depth": 1, "stem_dim": 8, "mlp_ratio": 2.0,
                                      "threshold": 0.5}, {}),
    "spiking-softmax-sequence": ("spiking", SEQ, {"T": 2, "embed_dim": 16, "depth": 1, "stem_dim": 8, "heads": 2,
                                                  "attention": "softmax", "rpe": False, "threshold": 0.5}, {}),
    "lmu-gelu": ("lmu", SEQ, {"order": 6, "hidden": 16, "memory_size": 4, "patch": 2, "kernel": 3}, {}),
    "lmu-relu-image-mean": ("lmu", IMG, {"order": 4, "hidden": 16, "memory_size": 4, "patch": 1, "kernel": 2,
                                         "act": "relu", "pool": "mean"}, {}),
    "lmu-spiking": ("lmu", SEQ, {"order": 6, "hidden": 16, "memory_size": 4, "patch": 1, "kernel": 3,
                                 "spiking": True, "pool": "mean", "threshold": 0.5}, {}),
}


def make_model(family: str, shape: tuple[int, ...], cfg: dict, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(family, cfg, shape, 4).eval()
    gain = (2.0, 4.0) if family != "vit" else (0.5, 1.5)  # spiking layers of a random model need drive to fire
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that folding them is tested
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(*gain)
                m.bias.uniform_(-0.3, 0.6)
        for name, w in model.named_parameters():
            if ".gate." in name:  # gates that differ by token and head (at initialization they are one constant)
                w.uniform_(-2.0, 2.0)
    return model


def data(shape: tuple[int, ...], n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, *shape)).astype(np.float32)
