"""The trainer (determinism, hooks), checkpoints and `edgefmr train`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edgefmr.commands.train import train as train_cmd
from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.vit import ViTConfig
from edgefmr.nas.tasks import load_task
from edgefmr.nas.train import evaluate, load_checkpoint, predict, save_checkpoint, shift_images, train

torch.set_num_threads(1)

SMALL = ["--set", "patch_size=4", "--set", "embed_dim=16", "--set", "heads=2", "--set", "depth=1"]


def test_cli_trains_and_writes_a_checkpoint(tmp_path) -> None:
    out = tmp_path / "m.pt"
    r = CliRunner().invoke(train_cmd, ["--family", "vit", "--task", "digits", *SMALL, "--epochs", "3",
                                       "--lr", "0.003", "--batch-size", "32", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["family"] == "vit" and res["task"] == "digits" and res["config"]["embed_dim"] == 16
    assert res["accuracy"] > 0.5 and res["macs"] > 0 and res["params"] > 0  # chance is 0.1
    model, info = load_checkpoint(out)
    t = load_task("digits")
    assert info["family"] == "vit" and info["task"] == "digits" and info["input_shape"] == (1, 8, 8)
    assert info["n_classes"] == 10 and info["edgefmr_version"]
    assert evaluate(model, t.x_test, t.y_test) == pytest.approx(res["accuracy"])


def test_cli_text_output_and_config_file(tmp_path) -> None:
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"patch_size": 4, "embed_dim": 16, "heads": 2, "depth": 1, "attention": "gated"}))
    out = tmp_path / "m.pt"
    r = CliRunner().invoke(train_cmd, ["--family", "vit", "--task", "digits", "--config", str(cfg),
                                       "--set", "activation=relu", "--epochs", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "vit on digits: test accuracy" in r.output and str(out) in r.output
    _, info = load_checkpoint(out)
    assert info["config"]["attention"] == "gated" and info["config"]["activation"] == "relu"


@pytest.mark.parametrize("args,message", [
    (["--task", "mnist"], "unknown task 'mnist'"),
    (["--task", "digits", "--set", "depht=2"], "unknown vit config key 'depht'"),
    (["--task", "digits", "--set", "depth"], "--set expects key=value"),
    (["--task", "digits", "--set", "depth=two"], "'depth': expected int, got 'two'"),
])
def test_cli_user_errors(tmp_path, args: list[str], message: str) -> None:
    r = CliRunner().invoke(train_cmd, ["--family", "vit", *args, "--epochs", "1", "--out", str(tmp_path / "m.pt")])
    assert isinstance(r.exception, EdgefmrError) and message in str(r.exception)


def test_cli_config_file_errors(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{depth: 2")
    for path, message in [(bad, "not a JSON file"), (tmp_path / "none.json", "does not exist")]:
        r = CliRunner().invoke(train_cmd, ["--family", "vit", "--task", "digits", "--config", str(path),
                                           "--out", str(tmp_path / "m.pt")])
        assert isinstance(r.exception, EdgefmrError) and message in str(r.exception)


def test_training_is_deterministic_and_hooks_run() -> None:
    t = load_task("digits")
    cfg = ViTConfig(patch_size=4, embed_dim=16, heads=2, depth=1, attention="hash")
    m1, a = train("vit", t, cfg, epochs=1, batch_size=128, seed=3, progress=False)
    m2, b = train("vit", t, cfg, epochs=1, batch_size=128, seed=3, progress=False)
    _, c = train("vit", t, cfg, epochs=1, batch_size=128, seed=4, progress=False)
    assert a["final_loss"] == b["final_loss"] and a["final_loss"] != c["final_loss"]
    np.testing.assert_array_equal(predict(m1, t.x_test), predict(m2, t.x_test))
    assert bool(m1.blocks[0].attn.hash.initialized)  # the hash layer was trained through extra_loss


def test_shift_images() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(200, 1, 5, 5)
    x[:, 0, 2, 2] = 1.0
    y = shift_images(x, 1, g)
    pos = y[:, 0].flatten(1).argmax(1)
    assert set(pos.tolist()) == {6, 7, 8, 11, 12, 13, 16, 17, 18}  # all 9 shifts of the centre pixel
    assert torch.equal(y.sum((1, 2, 3)), x.sum((1, 2, 3)))


def test_checkpoint_errors(tmp_path) -> None:
    t = load_task("digits")
    cfg = ViTConfig(patch_size=4, embed_dim=16, heads=2, depth=1)
    model, _ = train("vit", t, cfg, epochs=1, seed=0, progress=False)
    path = tmp_path / "ok.pt"
    save_checkpoint(path, "vit", cfg, "digits", t.input_shape, 10, model, {"accuracy": 0.5})
    ckpt = torch.load(path, weights_only=True)

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(EdgefmrError, match="not an edgefmr checkpoint"):
        load_checkpoint(junk)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(EdgefmrError, match="not an edgefmr checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save({**ckpt, "family": "cnn"}, tmp_path / "fam.pt")
    with pytest.raises(EdgefmrError, match="unknown family 'cnn'"):
        load_checkpoint(tmp_path / "fam.pt")
    torch.save({**ckpt, "config": {**ckpt["config"], "embed_dim": 32}}, tmp_path / "shape.pt")
    with pytest.raises(EdgefmrError, match="state dict does not match.*shape mismatch"):
        load_checkpoint(tmp_path / "shape.pt")
    torch.save({**ckpt, "config": {**ckpt["config"], "depth": 2}}, tmp_path / "depth.pt")
    with pytest.raises(EdgefmrError, match="state dict does not match.*missing"):
        load_checkpoint(tmp_path / "depth.pt")
    with pytest.raises(EdgefmrError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")


def test_cli_init_from_checkpoint(tmp_path) -> None:
    """Fine-tune a softmax checkpoint into a hash-attention model (EcoFormer's recipe)."""
    base = tmp_path / "soft.pt"
    r = CliRunner().invoke(train_cmd, ["--family", "vit", "--task", "digits", *SMALL, "--epochs", "1",
                                       "--out", str(base), "--json"])
    assert r.exit_code == 0, r.output
    soft, _ = load_checkpoint(base)
    out = tmp_path / "hash.pt"
    r = CliRunner().invoke(train_cmd, ["--family", "vit", "--task", "digits", *SMALL, "--set", "attention=hash",
                                       "--epochs", "1", "--lr", "1e-9", "--init", str(base), "--out", str(out),
                                       "--json"])
    assert r.exit_code == 0, r.output
    assert sorted(json.loads(r.output)["new_keys"]) == sorted(
        f"blocks.0.attn.hash.{k}" for k in ("anchors", "proj", "sigma", "mu", "initialized"))
    tuned, _ = load_checkpoint(out)
    w = "blocks.0.mlp.fc1.full.weight"
    torch.testing.assert_close(tuned.state_dict()[w], soft.state_dict()[w], atol=1e-6, rtol=0)  # lr ~ 0
    r = CliRunner().invoke(train_cmd, ["--family", "vit", "--task", "digits", "--set", "embed_dim=32",
                                       "--epochs", "1", "--init", str(base), "--out", str(out)])
    assert isinstance(r.exception, EdgefmrError) and "do not fit the model" in str(r.exception)


def test_distill_loss_is_the_tempered_kl() -> None:
    from edgefmr.nas.train import distill_loss

    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 10, generator=g), torch.randn(5, 10, generator=g)
    ref = torch.nn.functional.kl_div(torch.log_softmax(s / 3, -1), torch.log_softmax(t / 3, -1), log_target=True,
                                     reduction="batchmean") * 9
    assert torch.allclose(distill_loss(s, t, 3.0), ref) and float(ref) > 0
    assert float(distill_loss(t + 2.0, t, 3.0)) < 1e-6  # same distribution (logits shifted): no loss


def test_training_with_a_teacher_distils() -> None:
    t = load_task("digits")
    soft = ViTConfig(patch_size=4, embed_dim=16, heads=2, depth=1)
    teacher, _ = train("vit", t, soft, epochs=2, batch_size=128, seed=0, progress=False)
    cfg = ViTConfig(patch_size=4, embed_dim=16, heads=2, depth=1, attention="hash")
    _, plain = train("vit", t, cfg, epochs=1, batch_size=128, seed=1, progress=False)
    kd, a = train("vit", t, cfg, epochs=1, batch_size=128, seed=1, progress=False, teacher=teacher)
    _, b = train("vit", t, cfg, epochs=1, batch_size=128, seed=1, progress=False, teacher=teacher,
                 distill_weight=0.0)
    assert a["final_loss"] != plain["final_loss"] and not teacher.training
    assert b["final_loss"] == pytest.approx(plain["final_loss"])  # weight 0: the task loss alone
    # distilling only (weight 1) from a teacher that always says "3": the student learns to say 3
    class Three(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.one_hot(torch.full((len(x),), 3), 10).float() * 4.0

    only, _ = train("vit", t, cfg, epochs=1, batch_size=128, seed=1, progress=False, teacher=Three(),
                    distill_weight=1.0)
    assert (predict(only, t.x_test) == 3).mean() > 0.9 and (predict(kd, t.x_test) == 3).mean() < 0.5
    with pytest.raises(EdgefmrError, match="distill_weight"):
        train("vit", t, cfg, epochs=1, progress=False, teacher=teacher, distill_weight=1.5)
