"""Supernets: every point is a slice of the shared weights, training learns, the cache is reused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefmr.errors import EdgefmrError
from edgefmr.nas.search.space import default_space
from edgefmr.nas.search.supernet import (
    Scorer,
    Supernet,
    SupernetSettings,
    cache_path,
    load_or_train,
    split_validation,
)
from edgefmr.nas.tasks import load_task

torch.set_num_threads(1)


@pytest.mark.parametrize("family,task,n", [("vit", "digits", 25), ("spiking", "digits", 10), ("lmu", "seq-digits", 15)])
def test_every_point_is_a_slice_and_the_standalone_model_equals_the_shared_forward(family, task, n):
    t = load_task(task)
    sp = default_space(family, t.input_shape)
    net = Supernet(sp, t.input_shape, t.n_classes).eval()
    rng = np.random.default_rng(1)
    x = torch.as_tensor(t.x_train[:4])
    for i in range(n):
        v = sp.sample(rng, "max" if i == 0 else ("min" if i == 1 else None))
        with torch.no_grad():
            shared, _ = net.forward_subnet(v, x)
            alone = net.subnet(v)(x)
        torch.testing.assert_close(shared, alone, rtol=0, atol=0)


def test_weights_are_shared_by_leading_slices_and_qkv_blocks():
    t = load_task("digits")
    sp = default_space("vit", t.input_shape).with_choices({"rank_factor": [1.0], "patch_size": [4]})
    net = Supernet(sp, t.input_shape, t.n_classes)
    base = {"patch_size": 4, "depth": 1, "heads": 2, "mlp_ratio": 2.0, "rank_factor": 1.0, "activation": "gelu",
            "hash_bits": 4, "attention": ["softmax"]}
    small = net.state_for({**base, "embed_dim": 16})
    big = net.state_for({**base, "embed_dim": 32})
    assert torch.equal(small["head.weight"], big["head.weight"][:, :16])
    assert torch.equal(small["blocks.0.mlp.fc1.full.weight"], big["blocks.0.mlp.fc1.full.weight"][:32, :16])
    q_s, k_s, v_s = small["blocks.0.attn.qkv.full.weight"].split(16)
    q_b, k_b, v_b = big["blocks.0.attn.qkv.full.weight"].split(32)
    assert torch.equal(q_s, q_b[:16, :16]) and torch.equal(k_s, k_b[:16, :16]) and torch.equal(v_s, v_b[:16, :16])
    # the two patch sizes have their own embedding (keyed), the blocks are shared
    sp2 = default_space("vit", t.input_shape).with_choices({"rank_factor": [1.0], "patch_size": [2, 4]})
    net2 = Supernet(sp2, t.input_shape, t.n_classes)
    assert any(k.startswith("patch_embed.full.weight@patch_size=2") for k in net2.index)
    assert any(k.startswith("pos_embed@patch_size=4") for k in net2.index)


def test_gradients_reach_the_shared_weights():
    t = load_task("seq-digits")
    sp = default_space("lmu", t.input_shape)
    net = Supernet(sp, t.input_shape, t.n_classes).train()
    v = sp.sample(np.random.default_rng(0), "min")
    logits, _ = net.forward_subnet(v, torch.as_tensor(t.x_train[:8]))
    logits.sum().backward()
    key = "blocks.0.w_m.weight"
    g = net.weights[net.index[key][1]].grad
    d, m = v["order"], v["memory_size"]
    assert g is not None and g[:, :m, :d].abs().sum() > 0
    assert g[:, m:, :].abs().sum() == 0 and g[:, :, d:].abs().sum() == 0  # outside the slice: untouched


def test_training_learns_and_the_cache_is_reused(tiny_supernet, search_cache):
    task, space, settings, net, metrics = tiny_supernet
    assert metrics["val_accuracy_max"] > 0.35, metrics  # chance is 0.1
    sc = Scorer(net, task, settings)
    accs = [sc.accuracy(space.sample(np.random.default_rng(i))) for i in range(6)]
    assert min(accs) > 0.15, accs
    again, m2, path, trained = load_or_train("vit", task, space, settings)
    assert not trained and path == cache_path("vit", task, space, settings) and path.is_relative_to(search_cache)
    assert m2 == metrics
    for k in net.index:
        assert torch.equal(net.tensor(k), again.tensor(k))
    other = SupernetSettings(epochs=settings.epochs + 1)
    assert cache_path("vit", task, space, other) != path


def test_validation_split_is_held_out_from_training():
    t = load_task("digits")
    x_tr, y_tr, x_val, y_val = split_validation(t, 0.15)
    assert len(x_tr) + len(x_val) == len(t.x_train) and 0.1 < len(x_val) / len(t.x_train) < 0.2
    assert set(np.unique(y_val)) == set(range(10))
    rows = {r.tobytes() for r in x_tr}
    assert sum(r.tobytes() in rows for r in x_val) < 5  # digits has a few duplicate images; not the split's doing


def test_bad_settings_are_errors():
    with pytest.raises(EdgefmrError, match="val_fraction"):
        SupernetSettings(val_fraction=0.7).check()
