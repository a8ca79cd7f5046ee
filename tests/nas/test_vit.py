"""MCUFormer-style ViT: configuration, shapes, low rank, per-layer attention, MACs and learning."""

from __future__ import annotations

import pytest
import torch

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.families import FAMILIES, get_family
from edgefmr.nas.models.macs import macs, matmul_macs, params
from edgefmr.nas.models.vit import ViT, ViTConfig
from edgefmr.nas.tasks import load_task
from edgefmr.nas.train import evaluate, train

torch.set_num_threads(1)


@pytest.mark.parametrize("shape,kw,tokens", [
    ((1, 8, 8), {"patch_size": 2}, 16),
    ((1, 8, 8), {"patch_size": 3, "pooling": "cls"}, 10),  # 8 -> padded to 9: 3 x 3 patches + class token
    ((64, 1), {"patch_size": 4, "activation": "relu"}, 16),
    ((50, 16), {"patch_size": 5, "attention": ["hash", "gated"], "depth": 2}, 10),
])
def test_shapes(shape: tuple[int, ...], kw: dict, tokens: int) -> None:
    torch.manual_seed(0)
    m = ViT(ViTConfig(embed_dim=16, heads=2, depth=kw.pop("depth", 1), **kw), shape, 7)
    assert m.n_tokens == tokens
    y = m(torch.rand(3, *shape))
    assert y.shape == (3, 7) and torch.isfinite(y).all()
    with pytest.raises(EdgefmrError, match="expected input"):
        m(torch.rand(3, 5, 5))


def test_patchify_layout() -> None:
    m = ViT(ViTConfig(patch_size=2, embed_dim=8, heads=2, depth=1), (1, 4, 4), 3)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    p = m.patchify(x)
    assert p.shape == (1, 4, 4)
    assert p[0, 0].tolist() == [0, 1, 4, 5] and p[0, 1].tolist() == [2, 3, 6, 7]
    assert p[0, 3].tolist() == [10, 11, 14, 15]


def test_low_rank_every_linear() -> None:
    full = ViT(ViTConfig(embed_dim=32, heads=2, depth=2, mlp_ratio=2.0), (1, 8, 8), 10)
    low = ViT(ViTConfig(embed_dim=32, heads=2, depth=2, mlp_ratio=2.0, rank_factor=0.25), (1, 8, 8), 10)
    assert params(low) < 0.6 * params(full)
    blk = low.blocks[0]
    assert blk.attn.qkv.rank == 8 and blk.attn.proj.rank == 8  # round(0.25 * 32)
    assert blk.mlp.fc1.rank == 8 and blk.mlp.fc2.rank == 8
    assert low.patch_embed.rank == 1  # round(0.25 * min(4, 32))
    assert low.head.weight.shape == (10, 32)  # the classifier stays full rank


def test_low_rank_linear_falls_back_to_full() -> None:
    from edgefmr.nas.models.layers import LowRankLinear

    assert LowRankLinear(4, 4, 0.75).rank is None  # 3 * (4 + 4) >= 4 * 4: no saving
    assert LowRankLinear(64, 64, 1.0).rank is None
    lr = LowRankLinear(64, 32, 0.5)
    assert lr.rank == 16 and lr.down.weight.shape == (16, 64) and lr.up.weight.shape == (32, 16)
    x = torch.randn(2, 64)
    torch.testing.assert_close(lr(x), x @ (lr.up.weight @ lr.down.weight).T + lr.up.bias)


def test_per_layer_attention_and_hash_loss() -> None:
    cfg = ViTConfig(embed_dim=16, heads=2, depth=3, attention=["softmax", "hash", "clipped"])
    m = ViT(cfg, (1, 8, 8), 10)
    assert [b.attn.variant for b in m.blocks] == ["softmax", "hash", "clipped"]
    m.train()
    m(torch.rand(4, 1, 8, 8))
    assert m.extra_loss() is not None and m.extra_loss() is None  # popped once
    m.eval()
    m(torch.rand(4, 1, 8, 8))
    assert m.extra_loss() is None


def test_config_errors_and_set() -> None:
    with pytest.raises(EdgefmrError, match="unknown vit config key 'depht'; valid: patch_size, embed_dim"):
        ViTConfig.from_dict({"depht": 2})
    with pytest.raises(EdgefmrError, match="2 entries; expected one per layer"):
        ViTConfig(depth=3, attention=["softmax", "hash"])
    with pytest.raises(EdgefmrError, match="unknown variant 'flash'"):
        ViTConfig(attention="flash")
    with pytest.raises(EdgefmrError, match="not a multiple of heads"):
        ViTConfig(embed_dim=30, heads=4)
    with pytest.raises(EdgefmrError, match="rank_factor.*\\(0, 1\\]"):
        ViTConfig(rank_factor=1.5)
    with pytest.raises(EdgefmrError, match="'pooling': expected 'cls' \\| 'mean'"):
        ViTConfig().set("pooling", "max")
    cfg = ViTConfig().set("depth", "2").set("attention", "hash,gated").set("rank_factor", "0.5")
    assert cfg.depth == 2 and cfg.attention == ["hash", "gated"] and cfg.rank_factor == 0.5
    three = ViTConfig(depth=3).set("attention", '["softmax","clipped","hash"]')
    assert three.attention == ["softmax", "clipped", "hash"]
    assert ViTConfig.from_dict(cfg.to_dict()) == cfg


def test_family_registry() -> None:
    assert list(FAMILIES) == ["vit", "spiking", "lmu"]
    assert get_family("vit") == (ViTConfig, ViT)
    with pytest.raises(EdgefmrError, match="unknown family 'cnn'; valid: vit, spiking, lmu"):
        get_family("cnn")


@pytest.mark.parametrize("variant", ["softmax", "clipped", "gated", "hash"])
def test_macs_match_pytorch_matmuls(variant: str) -> None:
    """Analytic MACs = PyTorch's counted matmuls, except the documented non-matmul multiplications."""
    cfg = ViTConfig(embed_dim=16, heads=2, depth=2, attention=variant, rank_factor=0.5)
    m = ViT(cfg, (1, 8, 8), 10)
    n, h, d = m.n_tokens, 2, 8
    got, counted = macs(m, (1, 8, 8)), matmul_macs(m, (1, 8, 8))
    if variant == "hash":  # the float implementation's matmuls with +-1 codes/anchors/projection are additions
        b, a = cfg.hash_bits, cfg.hash_anchors
        float_matmuls = 2 * n * a * d + 2 * n * b * a + 2 * n * b * d + n * b  # kernel, proj, kv, q.kv, q.ksum
        real = 2 * n * (d + 1 + a) + d + n * d  # binary anchors/projection: norm, scale, kernel argument
        assert got - counted == cfg.depth * h * (real - float_matmuls)
    else:
        extra = n * n + (n * n if variant == "clipped" else 0) + (n * d if variant == "gated" else 0)
        assert got - counted == cfg.depth * h * extra


def test_vit_learns_digits_quickly() -> None:
    t = load_task("digits")
    cfg = ViTConfig(patch_size=4, embed_dim=32, heads=2, depth=1, mlp_ratio=2.0)
    model, metrics = train("vit", t, cfg, epochs=4, lr=3e-3, batch_size=32, seed=0, progress=False)
    assert metrics["accuracy"] > 0.6  # chance is 0.1
    assert metrics["accuracy"] == evaluate(model, t.x_test, t.y_test)


def test_a_hash_checkpoint_saved_before_binary_anchors_loads_real_valued(tmp_path):
    from edgefmr.nas.train import build_model, load_checkpoint, save_checkpoint

    cfg = ViTConfig(embed_dim=16, depth=1, heads=2, patch_size=4, attention="hash")
    model = build_model("vit", cfg, (1, 8, 8), 10)
    save_checkpoint(tmp_path / "new.pt", "vit", cfg, "digits", (1, 8, 8), 10, model)
    ckpt = torch.load(tmp_path / "new.pt", weights_only=False)
    assert ckpt["config"]["hash_binary"] is True
    del ckpt["config"]["hash_binary"]  # as written before the option existed
    torch.save(ckpt, tmp_path / "old.pt")
    hashes = [m for m in load_checkpoint(tmp_path / "old.pt")[0].modules() if type(m).__name__ == "KernelHash"]
    assert hashes and not any(h.binary for h in hashes)
    hashes = [m for m in load_checkpoint(tmp_path / "new.pt")[0].modules() if type(m).__name__ == "KernelHash"]
    assert hashes and all(h.binary for h in hashes)
