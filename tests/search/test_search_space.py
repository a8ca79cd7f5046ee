"""Search spaces: defaults valid for the built-in tasks, Optuna round trip, overrides and their errors."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from edgefmr.errors import EdgefmrError
from edgefmr.nas.search.space import (
    arch_key,
    check_space,
    default_space,
    load_space_file,
)
from edgefmr.nas.tasks import load_task
from edgefmr.nas.train import build_model


@pytest.mark.parametrize("family,task", [("vit", "digits"), ("spiking", "digits"), ("lmu", "seq-digits"),
                                         ("vit", "kws-synth"), ("lmu", "digits")])
def test_default_space_points_are_valid_models(family, task):
    t = load_task(task)
    sp = default_space(family, t.input_shape)
    check_space(sp, t.input_shape, t.n_classes)
    rng = np.random.default_rng(0)
    for _ in range(15):
        v = sp.sample(rng)
        cfg = sp.config(v)
        if sp.attention:
            assert len(v["attention"]) == v["depth"]
            assert cfg.layer_attention() == v["attention"]
        build_model(family, cfg, t.input_shape, t.n_classes)


def test_every_dimension_of_the_issue_is_searched():
    vit = default_space("vit", (1, 8, 8))
    names = {d.name for d in vit.dims}
    assert {"depth", "embed_dim", "heads", "mlp_ratio", "rank_factor", "patch_size"} <= names
    assert set(vit.attention) == {"softmax", "clipped", "gated", "hash"}
    spk = {d.name for d in default_space("spiking", (1, 8, 8)).dims}
    assert {"T", "threshold", "attn_threshold", "embed_dim", "depth"} <= spk
    lmu = {d.name for d in default_space("lmu", (64, 1)).dims}
    assert {"order", "theta", "hidden"} <= lmu


def test_suggest_round_trip_with_an_optuna_trial():
    sp = default_space("vit", (1, 8, 8))
    v = sp.sample(np.random.default_rng(3))
    params = sp.params_of(v)
    assert sp.from_params(params) == v
    assert sp.suggest(optuna.trial.FixedTrial(params)) == v


def test_conditional_dimension_only_when_its_parent_has_the_value():
    sp = default_space("lmu", (64, 1))
    rng = np.random.default_rng(0)
    seen = {True: 0, False: 0}
    for _ in range(40):
        v = sp.sample(rng)
        seen[v["spiking"]] += 1
        assert ("threshold" in v) == v["spiking"]
    assert seen[True] and seen[False]


def test_sandwich_points_and_extremes():
    sp = default_space("vit", (1, 8, 8))
    rng = np.random.default_rng(0)
    big, small = sp.sample(rng, "max"), sp.sample(rng, "min")
    assert big["embed_dim"] == 64 and big["depth"] == 4 and small["embed_dim"] == 16 and small["depth"] == 1
    ex = sp.extremes()
    # every shape choice and every attention variant appears at the largest sizes
    assert {e["patch_size"] for e in ex} == set(sp.dim("patch_size").choices)
    assert {e["attention"][0] for e in ex} == set(sp.attention)
    assert all(e["embed_dim"] == 64 for e in ex)
    assert arch_key("vit", big) != arch_key("vit", small)


def test_overrides_and_their_errors(tmp_path):
    sp = default_space("vit", (1, 8, 8))
    small = sp.with_choices({"embed_dim": [16, 32], "attention": ["hash"], "fixed": {"pooling": "cls"}})
    assert small.dim("embed_dim").choices == (16, 32) and small.attention == ("hash",)
    assert small.config(small.sample(np.random.default_rng(0))).pooling == "cls"
    assert small.key() != sp.key()
    with pytest.raises(EdgefmrError, match="'width' is not a dimension of the vit space; valid: patch_size"):
        sp.with_choices({"width": [1]})
    with pytest.raises(EdgefmrError, match="fixed.embed_dim is also a search dimension"):
        sp.with_choices({"fixed": {"embed_dim": 8}})
    with pytest.raises(EdgefmrError, match="embed_dim=24, heads=16 is not a valid combination"):
        check_space(sp.with_choices({"embed_dim": [24], "heads": [16]}), (1, 8, 8), 10)
    f = tmp_path / "s.json"
    f.write_text("{bad")
    with pytest.raises(EdgefmrError, match="not valid JSON"):
        load_space_file(str(f), ["vit"], (1, 8, 8))
    f.write_text(json.dumps({"cnn": {}}))
    with pytest.raises(EdgefmrError, match="unknown family 'cnn'; valid: vit, spiking, lmu"):
        load_space_file(str(f), ["vit"], (1, 8, 8))
    f.write_text(json.dumps({"vit": {"depth": [2]}}))
    assert load_space_file(str(f), ["vit"], (1, 8, 8))["vit"].dim("depth").choices == (2,)


def test_space_size_counts_conditional_and_per_layer_choices():
    sp = default_space("vit", (1, 8, 8)).with_choices(
        {"patch_size": [4], "embed_dim": [16], "heads": [1], "mlp_ratio": [1.0], "rank_factor": [1.0],
         "activation": ["relu"], "hash_bits": [4], "depth": [1, 2], "attention": ["softmax", "hash"]})
    assert sp.size() == 2 + 4
