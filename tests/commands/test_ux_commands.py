"""Issue #18: analyze, validate, tasks, the report's one-model rule, 80-column output and latency in ms."""

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from paths import FIXTURES

from edgefmr.commands._term import drop_scope, is_numeric, short_name
from edgefmr.errors import EdgefmrError

VIT = FIXTURES / "vit_digits_int8.tflite"
VIT_FLOAT = FIXTURES / "vit_digits_float.tflite"
X = FIXTURES / "digits_test_x.npy"


def edgefmr(*args: str, env: dict | None = None) -> SimpleNamespace:
    """The CLI in this process (as `edgefmr.cli.main` runs it: a user error is one line and exit 2), piped: no
    terminal, no $COLUMNS."""
    from click.testing import CliRunner

    from edgefmr.cli import cli

    r = CliRunner().invoke(cli, list(args), env={"COLUMNS": None, **(env or {})})
    if isinstance(r.exception, EdgefmrError):
        return SimpleNamespace(returncode=2, stdout=r.stdout, stderr=f"error: {r.exception}\n")
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return SimpleNamespace(returncode=r.exit_code, stdout=r.stdout, stderr=r.stderr)


def _fits_80(text: str) -> None:
    long = [ln for ln in text.splitlines() if len(ln) > 80]
    assert not long, long[:3]
    cut = re.findall(r"(?:^|\s)(?:0x[0-9A-Fa-f]*|[\d.,]+)…", text)  # a number or address cut short
    assert not cut, cut


# ------------------------------------------------------------------------------------------------ analyze

def test_analyze_json_per_layer_and_totals(tmp_path):
    r = edgefmr("analyze", str(VIT), "--board", "qemu-netduinoplus2", "--json",
                env={"EDGEFMR_CALIBRATION_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    layers = a["layers"]
    assert {r["kernel"] for r in layers} <= {"portable", "cortex-m", "none"} and "cortex-m" in {
        r["kernel"] for r in layers}
    assert sum(r["flash_bytes"] for r in layers) == a["totals"]["flash_bytes"]
    assert sum(r["macs"] for r in layers) == a["totals"]["macs"] == 297_280
    assert abs(sum(r["latency_ms"] for r in layers) - a["latency"]["total_ms"]) < 1e-9
    assert a["latency"]["total_ms"] > 0 and "default table of the core type cortex-m4" in a["latency"]["basis"]
    assert "168 MHz" in a["latency"]["basis"]
    sram = a["regions"]["SRAM"]
    assert sram["arena"] == sum(a["totals"]["arena_bytes"].values()) and sram["available"] == 128 * 1024
    assert a["fits"] is True


def test_analyze_text_80_columns_and_fpga(tmp_path):
    r = edgefmr("analyze", str(VIT), "--board", "qemu-netduinoplus2", env={"EDGEFMR_CALIBRATION_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    _fits_80(r.stdout)
    assert "297,280" in r.stdout and "cortex-m" in r.stdout and "ms estimated" in r.stdout
    f = edgefmr("analyze", str(VIT), "--board", "pynq-z2", "--json")
    assert f.returncode == 0, f.stderr
    fa = json.loads(f.stdout)
    assert {r["kernel"] for r in fa["layers"]} == {"hls"} and fa["latency"]["total_ms"] > 0


# ------------------------------------------------------------------------------------------------ validate

def test_validate_against_float_tflite_maps_every_tensor():
    from edgefmr.profiling.validate import validate

    rep = validate(str(VIT), str(VIT_FLOAT), np.load(X)[:8])
    assert rep["inputs"] == 8 and rep["mapped"] == rep["compared"] == 82 and not rep["unmapped"]
    (out,) = rep["outputs"]
    assert out["cosine"] > 0.98 and out["l2r"] < 0.2 and out["top1_agreement"] >= 0.875
    for row in rep["tensors"]:
        assert -1.0 <= row["cosine"] <= 1.0 + 1e-9 and row["l2r"] >= 0 and row["max_abs_error"] >= 0
    # the fused FULLY_CONNECTED names of the int8 model (LayerNorm folded in) map to the float model's
    fused = [r for r in rep["tensors"] if r["tensor"] != r["reference"]]
    assert fused and all(r["tensor"].endswith(r["reference"].split("/")[-1] + "1") or ";" in r["tensor"]
                         for r in fused)


def test_validate_on_the_host_c_build_equals_the_interpreter():
    from edgefmr.profiling.validate import validate

    x = np.load(X)[:2]
    host = validate(str(VIT), str(VIT_FLOAT), x, board="host")
    interp = {r["tensor"]: r for r in validate(str(VIT), str(VIT_FLOAT), x)["tensors"]}
    assert host["backend"] == "host" and host["mapped"] >= 10 and host["outputs"]
    for r in host["tensors"]:
        assert {k: r[k] for k in ("cosine", "l2r", "max_abs_error")} == {
            k: interp[r["tensor"]][k] for k in ("cosine", "l2r", "max_abs_error")}


def test_validate_cli_json_and_errors(tmp_path):
    x8 = tmp_path / "x8.npy"
    np.save(x8, np.load(X)[:8])
    r = edgefmr("validate", str(VIT), "--reference", str(VIT_FLOAT), "--input", str(x8), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mapped"] == 82
    t = edgefmr("validate", str(VIT), "--reference", str(VIT_FLOAT), "--input", str(x8))
    assert t.returncode == 0 and "82 of 82 tensors mapped" in " ".join(t.stdout.split())
    _fits_80(t.stdout)
    bad = tmp_path / "ref.h5"
    bad.write_bytes(b"x")
    e = edgefmr("validate", str(VIT), "--reference", str(bad), "--input", str(x8))
    assert e.returncode == 2 and "unknown reference format" in e.stderr


def test_validate_onnx_reference(tmp_path):
    """An .onnx reference (exported here from a float torch model) maps by tensor name where names agree and always
    at the outputs."""
    import torch

    from edgefmr.profiling.validate import onnx_reference

    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    path = tmp_path / "m.onnx"
    torch.onnx.export(m, torch.zeros(1, 1, 8, 8), str(path), input_names=["x"], output_names=["y"], dynamo=False)
    x = np.random.default_rng(0).uniform(0, 1, (3, 1, 8, 8, 1)).astype(np.float32)
    outs, names = onnx_reference(str(path), x.reshape(3, 1, 8, 8))
    assert names == ["y"]
    with torch.no_grad():
        want = m(torch.from_numpy(x.reshape(3, 1, 8, 8))).numpy()
    np.testing.assert_allclose(np.stack([o["y"][0] for o in outs]), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["vit-softmax", "lmu-gelu"])
def test_validate_pt_reference_maps_the_lowered_activations(tmp_path, case):
    """An edgefmr .pt: its float program's activations map to the IR tensors by key; the layout-only tensors
    (reshapes the float program does not name) are listed as unmapped."""
    from quant_cases import CASES, data, make_model

    from edgefmr.ir import save
    from edgefmr.nas.train import make_config, save_checkpoint
    from edgefmr.profiling.validate import validate
    from edgefmr.quant.quantizer import QuantOptions, quantize

    fam, shape, cfg, _ = CASES[case]
    m = make_model(fam, shape, cfg)
    x = data(shape, 16)
    save_checkpoint(tmp_path / "m.pt", fam, make_config(fam, cfg), "t", shape, 4, m, {})
    g = quantize(m, fam, x, QuantOptions(calib_samples=16)).graph()
    save(g, tmp_path / "m.efm")
    rep = validate(str(tmp_path / "m.efm"), str(tmp_path / "m.pt"), x[:4])
    assert rep["mapped"] >= 12 and rep["mapped"] + len(rep["unmapped"]) == rep["compared"]
    assert all(r["cosine"] > 0.99 for r in rep["tensors"])
    (out,) = rep["outputs"]
    assert out["tensor"] == g.outputs[0] and out["l2r"] < 0.05


# ------------------------------------------------------------------------------------------------ tasks

def test_tasks_list_every_builtin_with_docs(tmp_path):
    from edgefmr.nas.tasks import BUILTIN_TASKS

    r = edgefmr("tasks", "list", "--json")
    assert r.returncode == 0, r.stderr
    infos = json.loads(r.stdout)
    assert [i["name"] for i in infos] == list(BUILTIN_TASKS)
    assert all(i["description"] and i["test"] > 0 for i in infos)
    docs = (FIXTURES.parents[1] / "docs" / "tasks.md").read_text()
    assert all(f"`{n}`" in docs for n in BUILTIN_TASKS)


def test_tasks_export(tmp_path):
    r = edgefmr("tasks", "export", "digits", "--split", "test", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    x, y = np.load(info["inputs"]), np.load(info["labels"])
    assert x.dtype == np.float32 and x.shape == (359, 1, 8, 8) and y.dtype == np.int64 and y.shape == (359,)
    assert 0.0 <= x.min() and x.max() <= 1.0 and set(np.unique(y)) == set(range(10))
    bad = edgefmr("tasks", "export", "no-such-task", "--out", str(tmp_path))
    assert bad.returncode == 2 and "unknown task" in bad.stderr


# ------------------------------------------------------------------------------------------------ report

def _write(p, d):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(d))


def test_report_refuses_files_of_different_models(tmp_path):
    from edgefmr.report import collect

    _write(tmp_path / "build" / "manifest.json", {"format": "edgefmr-build", "board": "qemu-netduinoplus2",
                                                   "model": "kws.efm", "model_hash": "a" * 64})
    _write(tmp_path / "q" / "quant.json", {"float_accuracy": 0.9, "int_accuracy": 0.8, "model_hash": "b" * 64})
    with pytest.raises(EdgefmrError) as e:
        collect(tmp_path)
    msg = str(e.value)
    assert "2 different models" in msg and "manifest.json" in msg and "quant.json" in msg
    _write(tmp_path / "q" / "quant.json", {"float_accuracy": 0.9, "int_accuracy": 0.8, "model_hash": "a" * 64})
    data = collect(tmp_path)
    assert data.quant is not None and data.manifest is not None


def test_report_names_kernels_bytes_and_ms(tmp_path):
    from edgefmr.report import write_report

    layer = {"index": 0, "name": "blocks.0/fc1", "op": "FULLY_CONNECTED", "kernel": "cortex-m", "nodes": [0],
             "count_mean": 16800.0, "share": 1.0, "macs": 16384, "per_mac": 1.03, "ms": 0.1, "flash_bytes": 2176,
             "activation_bytes": 1536}
    _write(tmp_path / "profile.json", {
        "format": "edgefmr-profile", "board": "qemu-netduinoplus2", "model_hash": "c" * 64,
        "counter": {"unit": "instructions", "label": "executed instructions"}, "layers": [layer], "macs": 16384,
        "per_mac": 1.03, "latency": {"unit": "instructions", "mean": 16800.0, "ms_mean": 0.1,
                                     "ms_basis": "instructions / 168 MHz board clock"},
        "agreement": {"bit_exact": 4, "total": 4, "max_abs_diff": 0},
        "accuracy": {"labels": "y.npy", "correct": 3, "total": 4, "accuracy": 0.75}, "memory": {}})
    page = (tmp_path / "report.html")
    write_report(tmp_path, page)
    text = page.read_text()
    for s in ("cortex-m", "2,176", "1,536", "0.100", "16,800 instructions = 0.100 ms", "3/4 = 75.00%"):
        assert s in text, s


# ------------------------------------------------------------------------------------------------ 80 columns

def test_short_names():
    n = ("vit_digits_1/ln1_0_1/mul_1;vit_digits_1/ln1_0_1/add_1;vit_digits_1/attn0_1/q_1/Tensordot;"
         "vit_digits_1/attn0_1/q_1/BiasAdd1")
    assert short_name(n, 40) == "vit_digits_1/attn0_1/q_1/BiasAdd1 (+3)"
    s = short_name(n, 24)
    assert len(s) <= 24 and s.endswith("BiasAdd1 (+3)")
    assert drop_scope(["m/a", "m/b;m/c", "x"]) == ["a", "b;c", "x"]
    assert all(is_numeric(c) for c in ("1,536", "0x08000000", "12.5%", "4.29 ms", "640 KiB", "—", "144 BRAM36"))
    assert not is_numeric("cortex-m4")
    import io

    from rich.console import Console

    from edgefmr.commands._term import table, two_lines

    con = Console(width=80, record=True, file=io.StringIO())
    con.print(table(("layer",), [(two_lines("OP", "m/w[bold]", 20),)]))
    assert "m/w[bold]" in con.export_text()  # names are not read as markup


@pytest.mark.parametrize("name", ["nucleo-l4r5zi", "qemu-netduinoplus2", "nucleo-h743zi"])
def test_boards_show_80_columns_addresses_whole(name):
    from edgefmr.boards import load_board

    r = edgefmr("boards", "show", name)
    assert r.returncode == 0, r.stderr
    _fits_80(r.stdout)
    for reg in load_board(name).memory:
        assert f"0x{reg.origin:08X}" in r.stdout and f"0x{reg.end - 1:08X}" in r.stdout
    assert "a model can use for its arena" in r.stdout


def test_boards_list_80_columns():
    r = edgefmr("boards", "list")
    assert r.returncode == 0
    _fits_80(r.stdout)
    assert "qemu-netduinoplus2" in r.stdout and "384 KiB" in r.stdout  # nucleo-l4r5zi's arena region SRAM3


def test_profile_summary_80_columns(capsys, monkeypatch):
    from edgefmr.commands.profile import print_report

    monkeypatch.delenv("COLUMNS", raising=False)
    layer = {"index": 0, "name": "vit_digits_1/ln1_0_1/mul_1;vit_digits_1/attn0_1/q_1/BiasAdd1", "op":
             "FULLY_CONNECTED", "kernel": "cortex-m", "nodes": [0], "count_mean": 1234567.0, "share": 1.0,
             "macs": 16384, "per_mac": 75.35, "ms": 7.349, "flash_bytes": 2176, "activation_bytes": 1024}
    rep = {"artifact": "out/a", "board": "qemu-netduinoplus2", "core": "cortex-m4", "core_clock_hz": 168_000_000,
           "model_hash": "d" * 64, "firmware_version": "edgefmr-proto-1", "inputs": {"source": "4 inputs"},
           "agreement": {"bit_exact": 4, "total": 4}, "counter": {"unit": "instructions", "label": "executed "
                                                                  "instructions (QEMU -icount, not cycles)",
                                                                  "quantum": 1},
           "latency": {"mean": 1234567.0, "min": 1234560, "max": 1234570, "whole_run": None, "ms_mean": 7.349,
                       "ms_basis": "instructions / 168 MHz board clock"},
           "macs": 16384, "per_mac": 75.35, "layers": [layer],
           "memory": {"arena_bytes": 2832, "arena_predicted": 2832, "stack_bytes": 8192, "stack_used": 900,
                      "stack_predicted": 928},
           "link": {"requests": 10, "retries": 0, "timeouts": 0, "naks": 0},
           "accuracy": {"labels": "y.npy", "correct": 3, "total": 4, "accuracy": 0.75}}
    print_report(rep, "r.json")
    out = capsys.readouterr().out
    _fits_80(out)
    for s in ("1,234,567", "7.349", "2,176", "1,024", "cortex-m", "75.35", "3 / 4 = 75.00%", "instr"):
        assert s in out


def test_search_table_80_columns(capsys, monkeypatch):
    from edgefmr.commands.search import _print_table

    monkeypatch.delenv("COLUMNS", raising=False)
    arch = {"patch": 4, "embed_dim": 32, "depth": 2, "heads": 2, "mlp_ratio": 2.0, "attention": ["softmax", "gated"]}
    rows = [{"number": i, "family": "vit", "arch": {**arch, "depth": i + 1}, "accuracy": 0.9123,
             "latency_s": 0.0123456, "sram": 123456, "flash": 234567, "macs": 1_234_567} for i in range(3)]
    _print_table({"pareto": rows, "chosen": {"number": 1}, "feasible": 10, "trials": 12, "board": "qemu-netduinoplus2",
                  "latency_source": "measured"})
    out = capsys.readouterr().out
    _fits_80(out)
    assert "embed=32" in out and "depth=2" in out and "depth=3" in out
    assert "every row: patch=4 embed=32 heads=2 mlp=2 attn=soft/gate" in " ".join(out.split())
    assert "12.346" in out and "120.6" in out and "profiled on qemu-netduinoplus2" in " ".join(out.split())
    assert "attn=soft/gate" in out


def test_board_typo_did_you_mean():
    r = edgefmr("boards", "show", "qemu-netduino")
    assert r.returncode == 2 and "did you mean 'qemu-netduinoplus2'" in r.stderr


def test_progress_bars_keep_numbers_whole(capsys, monkeypatch):
    from edgefmr.commands._term import progress_bar

    monkeypatch.delenv("COLUMNS", raising=False)
    bar = progress_bar(info=True)
    bar.start()
    t = bar.add_task("check the smallest architectures", total=4, info="")
    bar.update(t, completed=4)
    t = bar.add_task("evaluate on the IR interpreter", total=359, info="12 feasible, best 78.7% of the trials so far")
    bar.update(t, completed=359)
    bar.stop()
    err = capsys.readouterr().err
    _fits_80(err)
    assert "359/359" in err and "0:00:0" in err and "78.7%" in err


def test_small_things(tmp_path):
    """The --port advice never names a deleted temporary folder; float64 inputs are taken as float."""
    import tempfile
    from pathlib import Path

    from edgefmr.device.connection import board_session
    from edgefmr.ir.model_io import load_model, prepare_input

    tmp_art = Path(tempfile.gettempdir()) / "edgefmr-run-abc123"
    with pytest.raises(EdgefmrError) as e, board_session(tmp_art, {"board": "nucleo-f411re"}):
        pass
    assert "edgefmr-run-abc123" not in str(e.value) and "edgefmr build MODEL --board nucleo-f411re" in str(e.value)
    with pytest.raises(EdgefmrError) as e, board_session(tmp_path, {"board": "nucleo-f411re"}):
        pass
    assert f"edgefmr flash {tmp_path} --port PORT" in str(e.value)
    g = load_model(VIT)
    x = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 1))
    q64, _ = prepare_input(g, x, "x.npy")
    q32, _ = prepare_input(g, x.astype(np.float32), "x.npy")
    np.testing.assert_array_equal(q64, q32)
