"""Spike-driven Transformer: config checking, SDSA semantics and cost, firing rates, op counts, learning."""

from __future__ import annotations

import pytest
import torch

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.families import FAMILIES
from edgefmr.nas.models.lif import LIF
from edgefmr.nas.models.macs import macs
from edgefmr.nas.models.spiking import (
    SpikeDrivenSelfAttention,
    SpikingConfig,
    SpikingTransformer,
    firing_rates,
    measure_firing_rates,
    op_counts,
    ops_summary,
)

torch.set_num_threads(1)

SMALL = {"T": 2, "embed_dim": 32, "depth": 1, "heads": 2, "patch_size": 2, "stem_dim": 16, "mlp_ratio": 2.0}


def test_registered_family():
    assert FAMILIES["spiking"] == (SpikingConfig, SpikingTransformer)


def test_config_rejects_unknown_and_invalid_values():
    with pytest.raises(EdgefmrError, match="unknown spiking config key 'dim'.*T, embed_dim, depth"):
        SpikingConfig.from_dict({"dim": 3})
    with pytest.raises(EdgefmrError, match="'tau'"):
        SpikingConfig.from_dict({"tau": 0.5})
    with pytest.raises(EdgefmrError, match="'attention'.*'nope'.*valid: sdsa, softmax"):
        SpikingConfig.from_dict({"attention": "nope"})
    with pytest.raises(EdgefmrError, match="'attention'.*3 entries.*depth=2"):
        SpikingConfig.from_dict({"depth": 2, "attention": ["sdsa", "sdsa", "sdsa"]})
    with pytest.raises(EdgefmrError, match="'heads'"):
        SpikingConfig.from_dict({"embed_dim": 30, "heads": 4})
    with pytest.raises(EdgefmrError, match="patch_size"):
        SpikingTransformer(SpikingConfig(patch_size=3), (1, 8, 8), 10)
    assert SpikingConfig().set("attention", "sdsa,hash").set("depth", "2").layer_attention() == ["sdsa", "hash"]


@pytest.mark.parametrize("shape", [(1, 8, 8), (64, 1), (50, 16)])
def test_forward_shapes_and_gradients(shape):
    torch.manual_seed(0)
    model = SpikingTransformer(SpikingConfig.from_dict(SMALL), shape, 5)
    x = torch.rand(3, *shape)
    y = model(x)
    assert y.shape == (3, 5) and torch.isfinite(y).all()
    y.sum().backward()
    assert model.conv1.weight.grad.abs().sum() > 0  # surrogate gradients reach the first layer


def test_sdsa_is_mask_and_add():
    torch.manual_seed(0)
    cfg = SpikingConfig.from_dict(SMALL)
    attn = SpikeDrivenSelfAttention(cfg).eval()
    x = torch.randn(2, 3, 10, 32) * 2
    captured = {}
    for name in ("lif_q", "lif_k", "lif_v"):
        getattr(attn, name).register_forward_hook(lambda m, i, o, name=name: captured.__setitem__(name, o))
    attn.proj.register_forward_hook(lambda m, i, o: captured.__setitem__("proj_in", i[0]))
    attn(x)
    q, k, v = captured["lif_q"], captured["lif_k"], captured["lif_v"]
    for s in (q, k, v):
        assert set(s.unique().tolist()) <= {0.0, 1.0}
    # V ⊙ LIF(column sum over tokens of Q ⊙ K), with a fresh LIF of the attention threshold
    g = LIF(cfg.tau, cfg.attn_threshold)((q * k).sum(dim=2, keepdim=True))
    assert torch.equal(captured["proj_in"], v * g)


def _rows(model):
    return {r[0]: r for r in model.synapses()}


def test_sdsa_cost_is_linear_in_tokens_and_multiplication_free():
    cfg = SpikingConfig.from_dict({**SMALL, "patch_size": 1, "rpe": False})
    per_token = []
    for length in (16, 64, 256):
        model = SpikingTransformer(cfg, (length, 1), 10)
        rows = [r for r in model.synapses() if ".attn." in r[0]]
        assert all(kind != "mult" and src for _, kind, src, _, _ in rows)  # every op reads spikes
        per_token.append(sum(r[3] for r in rows) / length)
    assert per_token[0] == per_token[1] == per_token[2]
    soft = SpikingTransformer(SpikingConfig.from_dict({**SMALL, "patch_size": 1, "attention": "softmax"}),
                              (64, 1), 10)
    assert any(kind == "mult" and ".attn." in name for name, kind, *_ in soft.synapses())


def test_cost_macs_matches_dense_count():
    for att in ("sdsa", "softmax", "clipped", "gated", "hash"):
        model = SpikingTransformer(SpikingConfig.from_dict({**SMALL, "attention": att}), (1, 8, 8), 10)
        assert macs(model, (1, 8, 8)) == model.dense_macs()


def test_firing_rates_and_op_counts():
    torch.manual_seed(0)
    model = SpikingTransformer(SpikingConfig.from_dict(SMALL), (1, 8, 8), 10)
    x = torch.rand(20, 1, 8, 8)
    for m in model.modules():  # running BN statistics from one batch, so that eval-mode neurons fire
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 1.0
    with torch.no_grad():
        model.train()(x)
    rates = measure_firing_rates(model, x)
    lifs = [n for n, m in model.named_modules() if isinstance(m, LIF)]
    assert list(rates) == lifs and "blocks.0.attn.lif_attn" in rates
    assert all(0.0 <= r <= 1.0 for r in rates.values()) and any(r > 0 for r in rates.values())
    assert firing_rates(model) == rates
    # the measured rate is the mean of the spikes the layer emitted
    seen = []
    h = model.blocks[0].mlp.lif_hidden.register_forward_hook(lambda m, i, o: seen.append(o))
    model.eval()
    with torch.no_grad():
        model(x)
    h.remove()
    assert rates["blocks.0.mlp.lif_hidden"] == pytest.approx(float(seen[0].mean()))
    rows = {r["layer"]: r for r in op_counts(model)}
    fc2 = rows["blocks.0.mlp.fc2"]
    assert fc2["accumulates"] == pytest.approx(rates["blocks.0.mlp.lif_hidden"] * fc2["dense_ops"])
    assert fc2["multiplications"] == 0
    assert rows["conv1"]["multiplications"] == rows["conv1"]["dense_ops"] > 0  # real-valued input
    s = ops_summary(model)
    assert s["multiplications"] == rows["conv1"]["dense_ops"] + rows["head"]["dense_ops"]
    assert s["addition_share"] > 0.5


def test_learns_digits_well_above_chance():
    from edgefmr.nas.tasks import load_task
    from edgefmr.nas.train import train

    task = load_task("digits")
    cfg = {**SMALL, "threshold": 0.5}
    model, metrics = train("spiking", task, cfg, epochs=6, lr=1e-2, progress=False, seed=0)
    assert metrics["accuracy"] > 0.5  # chance is 0.1


def test_mixed_attention_layers_train_with_hash_loss():
    torch.manual_seed(0)
    cfg = SpikingConfig.from_dict({**SMALL, "depth": 2, "attention": ["sdsa", "hash"]})
    model = SpikingTransformer(cfg, (1, 8, 8), 10).train()
    y = model(torch.rand(8, 1, 8, 8))
    extra = model.extra_loss()
    assert extra is not None and extra.requires_grad
    (y.sum() + extra).backward()


def test_checkpoint_roundtrip(tmp_path):
    from edgefmr.nas.train import load_checkpoint, save_checkpoint

    cfg = SpikingConfig.from_dict({**SMALL, "depth": 2, "attention": ["sdsa", "gated"]})
    model = SpikingTransformer(cfg, (1, 8, 8), 10).eval()
    save_checkpoint(tmp_path / "s.pt", "spiking", cfg, "digits", (1, 8, 8), 10, model)
    loaded, info = load_checkpoint(tmp_path / "s.pt")
    x = torch.rand(3, 1, 8, 8)
    assert info["config"]["attention"] == ["sdsa", "gated"] and torch.equal(loaded(x), model(x))
