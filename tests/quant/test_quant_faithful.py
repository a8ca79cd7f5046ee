"""Faithful by construction: the fake-quant model and the IR interpreter give identical integer outputs, for one
model per family and attention variant (a test, not a tolerance); the float program is the PyTorch model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefmr.ir import run
from edgefmr.nas.train import build_model
from edgefmr.quant.lower import QuantOptions, evaluate_ir, quantize

torch.set_num_threads(1)

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
    return model


def data(shape: tuple[int, ...], n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, *shape)).astype(np.float32)


@pytest.mark.parametrize("case", list(CASES))
def test_fake_quant_equals_interpreter(case: str) -> None:
    family, shape, cfg, opts = CASES[case]
    model = make_model(family, shape, cfg)
    x = data(shape, 40)
    qm = quantize(model, family, x[:32], QuantOptions(calib_samples=32, **opts))
    xt = torch.as_tensor(x[32:])
    fq = qm.int_logits(xt)
    ir = evaluate_ir(qm.graph(), x[32:])["logits"]
    assert fq.dtype == np.int8 and ir.dtype == np.int8
    np.testing.assert_array_equal(fq, ir)
    assert len(np.unique(fq)) > 4  # the logits are not saturated or constant
    if not opts:  # the float program is the PyTorch model
        with torch.no_grad():
            ref = model(xt)
        torch.testing.assert_close(qm.float_logits(xt), ref, rtol=1e-4, atol=1e-4)


def test_every_intermediate_equal_for_one_sample() -> None:
    """Not only the logits: every tensor of the batch-1 fake-quant run equals the interpreter's."""
    family, shape, cfg, _ = CASES["vit-hash"]
    model = make_model(family, shape, cfg)
    x = data(shape, 33)
    qm = quantize(model, family, x[:32], QuantOptions(calib_samples=32))
    out, ctx = qm.fake_quant(torch.as_tensor(x[32:]))
    g = qm.graph()
    env = run(g, [ctx.env[g.inputs[0]]], keep_all=True)
    assert set(ctx.env) == set(env) - {n for n, t in g.tensors.items() if t.is_const}
    for name, value in ctx.env.items():
        np.testing.assert_array_equal(value, env[name], err_msg=name)


def test_qat_forward_is_the_integer_model_and_trains() -> None:
    family, shape, cfg, _ = CASES["vit-gated"]
    model = make_model(family, shape, cfg)
    x = data(shape, 40)
    y = np.arange(40) % 4
    qm = quantize(model, family, x[:32], QuantOptions(calib_samples=32))
    for p in qm.model.parameters():
        p.requires_grad_(True)
    out, ctx = qm.fake_quant(torch.as_tensor(x[:16]), grad=True)
    s, z = qm.qparams["head"]
    ints = ctx.ints(out)
    torch.testing.assert_close(out.f, torch.from_numpy((ints.astype(np.float32) - z) * np.float32(s)), rtol=0,
                               atol=0)
    np.testing.assert_array_equal(ints, qm.int_logits(x[:16]))
    torch.nn.functional.cross_entropy(out.f, torch.as_tensor(y[:16])).backward()
    w = qm.model.blocks[0].attn.qkv.full.weight
    assert w.grad is not None and float(w.grad.abs().sum()) > 0
    before = w.detach().clone()
    from edgefmr.quant.qat import train_qat

    hist = train_qat(qm, x, y, epochs=1, lr=1e-3, batch_size=16)
    assert len(hist["qat_loss"]) == 1 and np.isfinite(hist["qat_loss"][0])
    assert not torch.equal(before, qm.model.blocks[0].attn.qkv.full.weight)
    np.testing.assert_array_equal(qm.int_logits(x[32:]), evaluate_ir(qm.graph(), x[32:])["logits"])


def test_binarized_layers_use_binary_fully_connected() -> None:
    family, shape, cfg, opts = CASES["vit-binarized-mlp"]
    qm = quantize(make_model(family, shape, cfg), family, data(shape, 16), QuantOptions(calib_samples=16, **opts))
    g = qm.graph()
    binary = [n.outputs[0] for n in g.nodes if n.op == "BINARY_FULLY_CONNECTED"]
    assert binary == ["blocks.0.mlp.fc1", "blocks.0.mlp.fc2"]
    assert g.metadata["binarized"] == binary
