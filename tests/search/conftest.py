"""Shared fixtures of the search tests: a tiny ViT space on digits and its supernet, trained once per session into
a private cache directory (EDGEFMR_CACHE_DIR)."""

from __future__ import annotations

import json
import os

import pytest
import torch

torch.set_num_threads(1)

#: A small slice of the ViT space: 48 points, a supernet that trains in seconds.
TINY_VIT = {"patch_size": [4], "embed_dim": [8, 16], "depth": [1, 2], "heads": [1, 2], "mlp_ratio": [1.0, 2.0],
            "rank_factor": [1.0], "activation": ["relu"], "hash_bits": [4], "attention": ["softmax", "clipped"]}
TINY_EPOCHS = 6


@pytest.fixture(scope="session")
def search_cache(tmp_path_factory):
    """EDGEFMR_CACHE_DIR for the whole session (so every test and subprocess shares trained supernets)."""
    d = tmp_path_factory.mktemp("edgefmr-cache")
    old = os.environ.get("EDGEFMR_CACHE_DIR")
    os.environ["EDGEFMR_CACHE_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("EDGEFMR_CACHE_DIR", None)
    else:
        os.environ["EDGEFMR_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def tiny_space_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("space") / "tiny.json"
    p.write_text(json.dumps({"vit": TINY_VIT}))
    return str(p)


@pytest.fixture(scope="session")
def tiny_supernet(search_cache, tiny_space_file):
    """(task, space, settings, supernet, metrics) of the tiny ViT space on digits, as the search would train it."""
    from edgefmr.nas.search.space import load_space_file
    from edgefmr.nas.search.supernet import SupernetSettings, load_or_train
    from edgefmr.nas.tasks import load_task

    task = load_task("digits")
    space = load_space_file(tiny_space_file, ["vit"], task.input_shape)["vit"]
    settings = SupernetSettings(epochs=TINY_EPOCHS, seed=0)
    net, metrics, _, _ = load_or_train("vit", task, space, settings)
    return task, space, settings, net, metrics


@pytest.fixture
def search_settings(tiny_supernet, tiny_space_file):
    """A factory of SearchSettings on the tiny space (its cached supernet), digits, qemu-netduinoplus2."""
    from edgefmr.nas.search.driver import SearchSettings

    def make(trials: int, **kw):
        base = dict(task="digits", board="qemu-netduinoplus2", trials=trials, supernet_epochs=TINY_EPOCHS,
                    space_file=tiny_space_file, stack_bytes=1024, finetune_epochs=2, eval_samples=60)
        base.update(kw)
        return SearchSettings(**base)

    return make
