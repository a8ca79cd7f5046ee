"""Faithful by construction: the fake-quant model and the IR interpreter give identical integer outputs, for one
model per family and attention variant (a test, not a tolerance); the float program is the PyTorch model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quant_cases import CASES, data, make_model

from edgefmr.ir import run
from edgefmr.quant.quantizer import QuantOptions, evaluate_ir, quantize

torch.set_num_threads(1)


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


@pytest.mark.parametrize("case", ["vit-gated", "vit-hash"])
def test_qat_forward_is_the_integer_model_and_trains(case: str) -> None:
    """The QAT forward is the integer model (for hash: HASH_ENCODE's codes, the surrogate carrying the gradient
    to the Q/K linear); one epoch moves the weights and the integer model stays equal to the interpreter."""
    family, shape, cfg, _ = CASES[case]
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


@pytest.mark.parametrize("binary", [True, False])
def test_hash_codes_of_integer_model_match_float_model(binary: bool) -> None:
    """The lowered hash encoding uses the model's effective anchors/projection: binarized ones go to one HASH_ENCODE
    per side (the signs as +-1, packed codes), real ones to the pipeline of builtins (not +-127); the integer codes
    give the float model's hash bits on most tokens."""
    from edgefmr.nas.models.attention import _normalize
    from edgefmr.ops.binary_fully_connected import unpack_bits

    family, shape, cfg, _ = CASES["vit-hash"]
    model = make_model(family, shape, {**cfg, "hash_binary": binary})
    x = data(shape, 48)
    qm = quantize(model, family, x[:32], QuantOptions(calib_samples=32))
    g = qm.graph()
    ops = [n.op for n in g.nodes]
    assert (ops.count("HASH_ENCODE") == 2 * len(model.blocks)) == binary
    assert ("LAYER_NORM" in [n.op for n in g.nodes if "attn.q" in n.outputs[0]]) != binary
    names = ("blocks.0.attn.q_code/anchors", "blocks.0.attn.q_code/proj") if binary else \
        ("blocks.0.attn.q_anchors", "blocks.0.attn.q_proj")
    for name in names:
        vals = np.unique(np.abs(g.tensors[name].data.astype(np.int64)))
        assert vals.tolist() == [1] if binary else vals.tolist() != [127], (name, vals)
    att = model.blocks[0].attn
    seen: list[torch.Tensor] = []
    hook = att.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    xt = torch.as_tensor(x[32:])
    with torch.no_grad():
        model(xt)
    hook.remove()
    with torch.no_grad():
        q, k, _ = att._split(seen[0])
        ref = {"q": att.hash.features(_normalize(q), True) >= 0, "k": att.hash.features(_normalize(k), True) >= 0}
    _, ctx = qm.fake_quant(xt)
    for side in ("q", "k"):
        key = f"blocks.0.attn.{side}_code"
        if binary:
            bits = torch.from_numpy(unpack_bits(ctx.env[key], att.hash.bits).astype(bool))
        else:
            _, z = qm.qparams[key]
            bits = torch.from_numpy(ctx.env[key].astype(np.int64) >= int(np.asarray(z).item()))
        agree = (bits == ref[side]).float().mean().item()
        assert agree > (0.95 if binary else 0.9), (side, agree)
