"""Attention variants: softmax, clipped softmax, gated, EcoFormer hashing, and their op counts."""

from __future__ import annotations

import pytest
import torch

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.attention import (
    ATTENTIONS,
    KernelHash,
    MultiHeadAttention,
    _normalize,
    attention_op_counts,
    collect_extra_loss,
    hash_attention_linear,
    hash_attention_quadratic,
    make_attention,
    sign_ste,
)

torch.set_num_threads(1)


def _heads(m: MultiHeadAttention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return m._split(x)


@pytest.mark.parametrize("variant", ATTENTIONS)
def test_shapes_and_gradients(variant: str) -> None:
    torch.manual_seed(0)
    m = make_attention(variant, 16, 4, rank_factor=0.5)
    x = torch.randn(3, 9, 16, requires_grad=True)
    y = m(x)
    assert y.shape == (3, 9, 16) and torch.isfinite(y).all()
    (y.square().mean() + (collect_extra_loss(m) or 0)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    first = m.qkv.down.weight  # low-rank Q/K/V linear: in -> 8 -> out
    assert first.shape == (8, 16) and first.grad is not None and first.grad.abs().sum() > 0


def test_softmax_matches_reference() -> None:
    torch.manual_seed(1)
    m = make_attention("softmax", 8, 2)
    x = torch.randn(2, 5, 8)
    q, k, v = _heads(m, x)
    ref = torch.softmax(q @ k.transpose(-1, -2) / 2.0, -1) @ v
    expected = m.proj(ref.transpose(1, 2).reshape(2, 5, 8))
    torch.testing.assert_close(m(x), expected)


def test_clipped_softmax_formula_and_exact_zeros() -> None:
    torch.manual_seed(2)
    m = make_attention("clipped", 8, 2, clip_alpha=0.5)
    x = torch.randn(4, 10, 8) * 3
    q, k, _ = _heads(m, x)
    p = torch.softmax(q @ k.transpose(-1, -2) / 2.0, -1)
    gamma = -0.5 / 10
    expected = ((1 - gamma) * p + gamma).clamp(0, 1)
    got = m.attention_weights(q, k)
    torch.testing.assert_close(got, expected)
    assert (got == 0).any() and got.min() >= 0 and got.max() <= 1
    assert ((got == 0) == (p < -gamma / (1 - gamma))).all()


def test_gated_attention_scales_each_head() -> None:
    torch.manual_seed(3)
    g = make_attention("gated", 8, 2)
    s = make_attention("softmax", 8, 2)
    s.load_state_dict({k: v for k, v in g.state_dict().items() if not k.startswith("gate")})
    torch.nn.init.normal_(g.gate.weight)
    x = torch.randn(2, 6, 8)
    q, k, v = _heads(g, x)
    heads = torch.softmax(q @ k.transpose(-1, -2) / 2.0, -1) @ v  # [B, H, N, d]
    gate = torch.sigmoid(g.gate(x))  # [B, N, H]
    expected = g.proj((heads * gate.transpose(1, 2).unsqueeze(-1)).transpose(1, 2).reshape(2, 6, 8))
    torch.testing.assert_close(g(x), expected)
    assert not torch.allclose(g(x), s(x))


def test_hash_linear_form_equals_quadratic() -> None:
    torch.manual_seed(4)
    hq = torch.where(torch.randn(2, 3, 20, 8) > 0, 1.0, -1.0)
    hk = torch.where(torch.randn(2, 3, 20, 8) > 0, 1.0, -1.0)
    v = torch.randn(2, 3, 20, 5)
    lin = hash_attention_linear(hq, hk, v)
    torch.testing.assert_close(lin, hash_attention_quadratic(hq, hk, v))
    # the weights are the number of equal bits: a key equal to the query outweighs its complement
    s = (8 + hq[0, 0, :1] @ hk[0, 0].T) / 2
    assert torch.equal(s[0], (hq[0, 0, 0] == hk[0, 0]).sum(-1).float())


def test_sign_ste() -> None:
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5], requires_grad=True)
    y = sign_ste(x)
    assert y.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("binary", [True, False])
def test_hash_functions_learn_the_attention_map(binary: bool) -> None:
    """Training the hash (anchors, projection) on the KSH loss makes codes agree with the attention map."""
    torch.manual_seed(5)
    heads, n, d = 2, 16, 8
    centers = torch.randn(heads, 4, d)
    q = _normalize(centers[:, torch.arange(n) % 4] + 0.3 * torch.randn(8, heads, n, d))
    k = _normalize(centers[:, torch.arange(n) % 4] + 0.3 * torch.randn(8, heads, n, d))
    logits = q @ k.transpose(-1, -2)
    h = KernelHash(heads, d, bits=8, anchors=8, binary=binary)
    h.init_from(k)

    def agreement() -> float:  # do codes rank each query's top-4 keys above its bottom-4?
        with torch.no_grad():
            s = h.codes(q) @ h.codes(k).transpose(-1, -2)
        top = s.gather(-1, logits.topk(4, -1).indices).mean()
        bottom = s.gather(-1, logits.topk(4, -1, largest=False).indices).mean()
        return float(top - bottom)

    before, loss0 = agreement(), float(h.loss(q, k, logits, 4).detach())
    opt = torch.optim.Adam(h.parameters(), lr=0.05)
    for _ in range(150):
        loss = h.loss(q, k, logits, 4)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(h.loss(q, k, logits, 4).detach()) < 0.6 * loss0
    assert agreement() > before + 2.0 and agreement() > 6.0


def test_hash_layer_initialises_from_data_and_reports_loss() -> None:
    torch.manual_seed(6)
    m = make_attention("hash", 16, 2, hash_bits=6, hash_anchors=5)
    assert not bool(m.hash.initialized)
    m.eval()
    m(torch.randn(2, 7, 16))
    assert m.pop_extra_loss() is None and not bool(m.hash.initialized)
    m.train()
    m(torch.randn(2, 7, 16))
    assert bool(m.hash.initialized)
    loss = m.pop_extra_loss()
    assert loss is not None and loss.ndim == 0 and loss.requires_grad
    assert m.pop_extra_loss() is None
    loss.backward()
    assert m.hash.proj.grad is not None and m.qkv.full.weight.grad is None  # q, k are detached in the loss
    assert m.hash.anchors.grad is not None and m.hash.anchors.grad.abs().sum() > 0  # straight-through sign


def test_binary_hash_uses_sign_anchors_and_projection() -> None:
    """Binary (default): anchors exactly +-1/sqrt(d) (unit norm), projection exactly +-1; the real variant keeps
    L2-normalised anchors and the raw projection; forward uses these effective values."""
    torch.manual_seed(7)
    heads, d = 2, 8
    m = make_attention("hash", heads * d, heads, hash_bits=6, hash_anchors=5)
    kh = m.hash
    assert kh.binary
    m.train()
    m(torch.randn(4, 9, heads * d))  # initialises the anchors from keys
    a, p = kh.effective_anchors(), kh.effective_proj()
    assert a.shape == (heads, 5, d) and p.shape == (heads, 6, 5)
    assert torch.equal(a.abs(), torch.full_like(a, d**-0.5))
    assert torch.equal(torch.sign(a), torch.where(kh.anchors >= 0, 1.0, -1.0))
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(heads, 5))
    assert torch.equal(p.abs(), torch.ones_like(p))
    x = _normalize(torch.randn(3, heads, 7, d))
    with torch.no_grad():
        phi = torch.exp((x @ a.transpose(-1, -2) - 1.0) / kh.sigma.view(1, -1, 1, 1)) - kh.mu.view(1, heads, 1, 5)
        want = torch.where(phi @ p.transpose(-1, -2) >= 0, 1.0, -1.0)
    assert torch.equal(kh.codes(x), want)
    real = KernelHash(heads, d, bits=6, anchors=5, binary=False)
    torch.testing.assert_close(real.effective_anchors(), _normalize(real.anchors))
    assert torch.equal(real.effective_proj(), real.proj)
    assert not torch.equal(real.effective_anchors().abs(), torch.full((heads, 5, d), d**-0.5))


@pytest.mark.parametrize("binary", [True, False])
def test_op_counts_linear_vs_quadratic(binary: bool) -> None:
    d = 16
    soft = {n: attention_op_counts("softmax", n, d, 4) for n in (16, 64, 256)}
    hsh = {n: attention_op_counts("hash", n, d, 4, hash_bits=8, hash_anchors=8, hash_binary=binary)
           for n in (16, 64, 256)}
    for c in (soft, hsh):
        assert all(v["mults"] > 0 and v["adds"] > 0 for v in c.values())
    # hash: linear in tokens (equal increments per token), no multiplications in the similarities
    assert (hsh[256]["mults"] - hsh[64]["mults"]) == 4 * (hsh[64]["mults"] - hsh[16]["mults"])
    assert (hsh[256]["adds"] - hsh[64]["adds"]) == 4 * (hsh[64]["adds"] - hsh[16]["adds"])
    assert all(v["qk_mults"] == 0 for v in hsh.values())
    # softmax: quadratic
    assert soft[64]["qk_mults"] == 16 * soft[16]["qk_mults"] == 16 * 16 * 16 * d * 4
    assert soft[64]["mults"] == 4 * (2 * 64 * 64 * d + 64 * 64)
    for n in (64, 256):
        assert hsh[n]["mults"] <= 0.3 * soft[n]["mults"]
    # exact hash count for one head: 2N(d + 1 + m) + d + N d (binary), 2N(d + m d + m + m b) + d + N d (real)
    enc = 4 + 1 + 3 if binary else 4 + 12 + 3 + 6
    got = attention_op_counts("hash", 10, 4, 1, hash_bits=2, hash_anchors=3, hash_binary=binary)
    assert got["mults"] == 2 * 10 * enc + 4 + 40
    # additions do not depend on binarization (a multiply-accumulate becomes a signed add)
    assert got["adds"] == attention_op_counts("hash", 10, 4, 1, hash_bits=2, hash_anchors=3,
                                              hash_binary=not binary)["adds"]


def test_binary_hash_cuts_multiplications_at_every_length() -> None:
    """The ViT's default hash settings (those of the families bench): >= 70 % fewer multiplications than softmax at
    16, 64 and 256 tokens; the layer's own count (used by the MACs) follows its binarization."""
    from edgefmr.nas.models.vit import ViTConfig

    cfg = ViTConfig()
    heads, d = cfg.heads, cfg.embed_dim // cfg.heads
    kw = {"hash_bits": cfg.hash_bits, "hash_anchors": cfg.hash_anchors}
    assert cfg.hash_binary
    for n in (16, 64, 256):
        soft = attention_op_counts("softmax", n, d, heads)["mults"]
        assert attention_op_counts("hash", n, d, heads, **kw)["mults"] <= 0.3 * soft
    real = attention_op_counts("hash", 16, d, heads, hash_binary=False, **kw)["mults"]
    assert real > attention_op_counts("softmax", 16, d, heads)["mults"] * 0.3  # the real-valued encoding is not
    x = (torch.randn(2, 16, heads * d),)
    for binary in (True, False):
        layer = make_attention("hash", heads * d, heads, hash_binary=binary, **kw)
        want = attention_op_counts("hash", 16, d, heads, hash_binary=binary, **kw)["mults"]
        assert layer.macs_extra(x, x[0]) == 2 * want


def test_bad_variant_and_options() -> None:
    with pytest.raises(EdgefmrError, match="unknown attention variant 'linear'.*softmax, clipped, gated, hash"):
        make_attention("linear", 8, 2)
    with pytest.raises(EdgefmrError, match="multiple of heads"):
        make_attention("softmax", 10, 3)
    with pytest.raises(EdgefmrError, match="unknown attention option 'bits'"):
        make_attention("hash", 8, 2, bits=4)
