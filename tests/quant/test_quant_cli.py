"""`edgefmr quantize`: a run end to end, and one-line errors for bad input."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from edgefmr.nas.tasks import load_task
from edgefmr.nas.train import build_model, save_checkpoint, train

torch.set_num_threads(1)

CFG = {"patch_size": 4, "embed_dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 1.0}


def cli(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the real CLI entry point (errors printed as one line, exit 2); returns the exit code."""
    from edgefmr import cli as cli_mod
    from edgefmr.commands.quantize import quantize

    if "quantize" not in cli_mod.cli.commands:
        cli_mod.cli.add_command(quantize)
    monkeypatch.setattr(sys, "argv", ["edgefmr", "quantize", *argv])
    try:
        cli_mod.main()
    except SystemExit as e:
        return int(e.code or 0)
    return 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> str:
    task = load_task("digits")
    model, metrics = train("vit", task, CFG, epochs=4, lr=5e-3, progress=False)
    assert metrics["accuracy"] > 0.4
    path = tmp_path_factory.mktemp("ckpt") / "vit.pt"
    save_checkpoint(path, "vit", model.cfg, task.name, task.input_shape, task.n_classes, model, metrics)
    return str(path)


def test_quantize_writes_model_and_report(trained: str, tmp_path, monkeypatch, capsys) -> None:
    out, rep = tmp_path / "m.efm", tmp_path / "q.json"
    code = cli([trained, "--task", "digits", "--out", str(out), "--report", str(rep), "--eval-samples", "60",
                "--softmax", "clipped", "--json"], monkeypatch)
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    report = json.loads(rep.read_text())
    assert printed == report
    for key in ("float_accuracy", "int_accuracy", "activations", "macs", "attention_ops", "max_abs_activation",
                "kurtosis"):
        assert key in report
    assert report["attention"] == ["clipped"] and report["fake_quant_equals_ir"] is True
    acts = {a["tensor"]: a for a in report["activations"]}
    assert acts["blocks.0.res2"]["max_abs"] > 0 and acts["blocks.0.res2"]["kurtosis"] > 0
    assert report["attention_ops"]["qk_mults"] == 4 * 4 * 8 * 2  # N^2 d H for 4 tokens, head dim 8, 2 heads

    from edgefmr.ir import load
    from edgefmr.quant.quantizer import evaluate_ir

    g = load(out)
    assert "CLIPPED_SOFTMAX" in {n.op for n in g.nodes}
    t = load_task("digits")
    acc = evaluate_ir(g, t.x_test[:60], t.y_test[:60])["accuracy"]
    assert round(acc, 4) == report["int_accuracy"]


def _bad(argv: list[str], tmp_path, monkeypatch, capsys) -> str:
    code = cli([*argv, "--out", str(tmp_path / "m.efm"), "--report", str(tmp_path / "q.json")], monkeypatch)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "m.efm").exists()
    return err


def test_unknown_attention_name(trained, tmp_path, monkeypatch, capsys) -> None:
    err = _bad([trained, "--task", "digits", "--attention", "linformer"], tmp_path, monkeypatch, capsys)
    assert "unknown attention 'linformer'" in err and "softmax, gated, hash, sdsa" in err


def test_attention_the_model_was_not_trained_with(trained, tmp_path, monkeypatch, capsys) -> None:
    err = _bad([trained, "--task", "digits", "--attention", "hash"], tmp_path, monkeypatch, capsys)
    assert "trained with softmax attention" in err and "--attention hash" in err


def test_task_input_shape_mismatch(trained, tmp_path, monkeypatch, capsys) -> None:
    err = _bad([trained, "--task", "seq-digits"], tmp_path, monkeypatch, capsys)
    assert "[64, 1]" in err and "[1, 8, 8]" in err


def test_untrained_checkpoints(tmp_path, monkeypatch, capsys) -> None:
    task = load_task("digits")
    torch.manual_seed(0)
    model = build_model("vit", CFG, task.input_shape, task.n_classes)
    cfg = model.cfg
    no_record = tmp_path / "fresh.pt"
    save_checkpoint(no_record, "vit", cfg, task.name, task.input_shape, task.n_classes, model)
    err = _bad([str(no_record), "--task", "digits"], tmp_path, monkeypatch, capsys)
    assert "untrained" in err and "fresh.pt" in err
    claims = tmp_path / "claims.pt"  # a training record, but random weights
    save_checkpoint(claims, "vit", cfg, task.name, task.input_shape, task.n_classes, model,
                    {"accuracy": 0.9, "epochs": 5})
    err = _bad([str(claims), "--task", "digits"], tmp_path, monkeypatch, capsys)
    assert "chance level" in err


def test_mismatched_checkpoint(trained, tmp_path, monkeypatch, capsys) -> None:
    ckpt = torch.load(trained, weights_only=True)
    ckpt["config"]["embed_dim"] = 32
    bad = tmp_path / "mismatch.pt"
    torch.save(ckpt, bad)
    err = _bad([str(bad), "--task", "digits"], tmp_path, monkeypatch, capsys)
    assert "mismatch.pt" in err and "does not match" in err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    err = _bad([str(tmp_path / "junk.pt"), "--task", "digits"], tmp_path, monkeypatch, capsys)
    assert "not an edgefmr checkpoint" in err


@pytest.mark.parametrize("argv,needle", [
    (["--method", "awq"], "unknown --method 'awq'; valid: ptq, qat"),
    (["--softmax", "sparse"], "unknown --softmax 'sparse'; valid: standard, clipped"),
    (["--binarize", "blocks.*.nothing"], "matches no linear layer; valid layers: "),
    (["--observer", "mse"], "unknown observer 'mse'"),
])
def test_bad_options(trained, tmp_path, monkeypatch, capsys, argv, needle) -> None:
    err = _bad([trained, "--task", "digits", *argv], tmp_path, monkeypatch, capsys)
    assert needle in err


def test_missing_model(tmp_path, monkeypatch, capsys) -> None:
    err = _bad([str(tmp_path / "nope.pt"), "--task", "digits"], tmp_path, monkeypatch, capsys)
    assert "does not exist" in err


def test_qat_method_runs_and_stays_faithful(trained, tmp_path, monkeypatch, capsys) -> None:
    rep = tmp_path / "q.json"
    code = cli([trained, "--task", "digits", "--method", "qat", "--qat-epochs", "1", "--eval-samples", "40",
                "--out", str(tmp_path / "m.efm"), "--report", str(rep)], monkeypatch)
    assert code == 0
    report = json.loads(rep.read_text())
    assert report["method"] == "qat" and report["fake_quant_equals_ir"] is True
    assert np.isfinite(report["int_accuracy"]) and report["int_accuracy"] > 0.3


def test_exports_and_export_errors(trained, tmp_path, monkeypatch, capsys) -> None:
    pytest.importorskip("onnxruntime")
    rep = tmp_path / "q.json"
    argv = [trained, "--task", "digits", "--eval-samples", "20", "--out", str(tmp_path / "m.efm"),
            "--report", str(rep), "--onnx", str(tmp_path / "f.onnx"), "--onnx-qdq", str(tmp_path / "q.onnx")]
    assert cli(argv, monkeypatch) == 0
    ex = json.loads(rep.read_text())["exports"]
    assert ex["onnx"]["prediction_agreement"] == 1.0 and ex["onnx_qdq"]["basic"]["max_lsb_diff"] <= 3
    capsys.readouterr()
    code = cli([*argv[:-4], "--tflite", str(tmp_path / "m.tflite")], monkeypatch)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and err.startswith("error: export failed: tflite: ") and "LAYER_NORM" in err
    assert (tmp_path / "m.efm").exists() and not (tmp_path / "m.tflite").exists()


@pytest.mark.slow
def test_stream_out(trained, tmp_path, monkeypatch, capsys) -> None:
    """--stream-out writes an LMU's one-step program with its states marked; a ViT is refused."""
    from edgefmr.ir import load
    from edgefmr.ir.streaming import frame_inputs, state_pairs

    task = load_task("seq-digits")
    model, metrics = train("lmu", task, {"order": 4, "hidden": 16, "memory_size": 4, "mlp_ratio": 1.0}, epochs=2,
                           lr=1e-2, progress=False)
    ckpt = tmp_path / "lmu.pt"
    save_checkpoint(ckpt, "lmu", model.cfg, task.name, task.input_shape, task.n_classes, model, metrics)
    step = tmp_path / "step.efm"
    code = cli([str(ckpt), "--task", "seq-digits", "--out", str(tmp_path / "m.efm"), "--report",
                str(tmp_path / "q.json"), "--stream-out", str(step), "--calib-samples", "64", "--eval-samples", "100",
                "--json"], monkeypatch)
    assert code == 0
    rep = json.loads(capsys.readouterr().out)["stream_out"]
    g = load(step)
    assert rep["states"] == len(state_pairs(g)) >= 2 and rep["state_bytes"] > 0
    assert rep["frame_shape"] == list(g.tensor(frame_inputs(g)[0]).shape)
    bad = tmp_path / "bad"
    bad.mkdir()
    msg = _bad([trained, "--task", "digits", "--stream-out", str(bad / "vs.efm")], bad, monkeypatch, capsys)
    assert "--stream-out" in msg and "'vit'" in msg
