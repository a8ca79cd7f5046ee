"""`edgefmr search` on the command line: errors, the impossible budget, a tiny search with its table and files;
the training-free proxies."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from edgefmr.errors import EdgefmrError
from edgefmr.nas.search.proxies import PROXIES, rank_correlation, score

torch.set_num_threads(1)


def cli(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "edgefmr.cli", "search", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize("args,msg", [
    (["--sram-budget", "lots"], "error: --sram-budget 'lots': expected a size such as 256KB"),
    (["--latency-budget", "soon"], "error: --latency-budget 'soon': expected a time such as 50ms"),
    (["--family", "cnn"], "error: --family: unknown family 'cnn'; valid: vit, spiking, lmu"),
    (["--sampler", "grid"], "error: unknown sampler 'grid'; valid: tpe, nsga2, random"),
    (["--board", "nope"], "error: unknown board"),
])
def test_bad_options_are_errors_before_any_work(tmp_path, args, msg):
    from click.testing import CliRunner

    from edgefmr.cli import cli as group

    base = {"--task": "digits", "--board": "qemu-netduinoplus2", "--out": str(tmp_path / "out")}
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    r = CliRunner().invoke(group, ["search", *[x for kv in base.items() for x in kv]])
    assert isinstance(r.exception, EdgefmrError), r.output
    assert msg.removeprefix("error: ") in str(r.exception)
    assert not (tmp_path / "out").exists()


def test_impossible_budget_ends_with_the_smallest_footprint(tmp_path):
    r = cli("--task", "digits", "--board", "qemu-netduinoplus2", "--sram-budget", "8KB", "--out", str(tmp_path),
            "--json")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "error: no architecture meets the budgets on qemu-netduinoplus2: the smallest SRAM footprint found is" \
        in r.stderr
    assert "none fits the memory of board" not in r.stderr  # 8 KB is a budget, not the board's limit
    assert r.stderr.rstrip().endswith("of the smallest architectures of the space checked)")


def test_tiny_search_prints_the_pareto_front_and_writes_the_model(tmp_path, search_settings):
    s = search_settings(5)
    r = cli("--task", "digits", "--board", "qemu-netduinoplus2", "--space", s.space_file, "--supernet-epochs",
            str(s.supernet_epochs), "--stack-bytes", "1024", "--trials", "5", "--finetune-epochs", "2",
            "--eval-samples", "60", "--sram-budget", "64KB", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Pareto front:" in r.stdout and "chosen: trial" in r.stdout
    assert f"edgefmr build {tmp_path / 'model.efm'} --board qemu-netduinoplus2" in r.stdout
    for f in ("model.efm", "model.pt", "search.json", "pareto.png", "search.db"):
        assert (tmp_path / f).is_file(), f
    rep = json.loads((tmp_path / "search.json").read_text())
    assert rep["trials"] == 5 and rep["chosen"]["sram"] <= 64 * 1024
    # the table the latency model reads is named (issue #18), the column says what its figures are
    assert "latency model:" in r.stderr and rep["latency_table"]["path"] and "est. ms" in r.stdout
    assert rep["chosen"]["model_hash"]
    # run again: the finished search neither fine-tunes again nor rewrites model.efm
    before = (tmp_path / "model.efm").stat().st_mtime_ns
    again = cli("--task", "digits", "--board", "qemu-netduinoplus2", "--space", s.space_file, "--supernet-epochs",
                str(s.supernet_epochs), "--stack-bytes", "1024", "--trials", "5", "--finetune-epochs", "2",
                "--eval-samples", "60", "--sram-budget", "64KB", "--out", str(tmp_path))
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "model.efm").stat().st_mtime_ns == before
    assert json.loads((tmp_path / "search.json").read_text())["chosen"]["model_hash"] == rep["chosen"]["model_hash"]


@pytest.mark.parametrize("name", PROXIES)
def test_proxies_score_every_family(name):
    from edgefmr.nas.models.lmu import LMUConfig
    from edgefmr.nas.models.vit import ViTConfig
    from edgefmr.nas.tasks import load_task

    digits, seq = load_task("digits"), load_task("seq-digits")
    a = score(name, "vit", ViTConfig(embed_dim=16, depth=1, heads=2, patch_size=4), digits, batch=16)
    b = score(name, "vit", ViTConfig(embed_dim=32, depth=2, heads=2, patch_size=4), digits, batch=16)
    c = score(name, "lmu", LMUConfig(order=4, hidden=16, memory_size=2), seq, batch=16)
    assert all(np.isfinite([a, b, c])) and a != b
    if name == "synflow":
        assert b > a  # more parameters on the path: more synaptic flow


def test_rank_correlation_and_unknown_proxy():
    r = rank_correlation([1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.5, 0.4])
    assert r["n"] == 5 and r["kendall_tau"] == pytest.approx(0.8) and r["spearman_rho"] == pytest.approx(0.9)
    assert rank_correlation([1, 2], [1, 2])["kendall_tau"] is None
    with pytest.raises(EdgefmrError, match="unknown proxy 'zen'; valid: synflow, jacob_cov, hidden_cov"):
        score("zen", "vit", None, None)


def test_fpga_search_uses_the_fpga_estimator(tmp_path, search_settings):
    from edgefmr.firmware.hls import estimate
    from edgefmr.ir import load

    s = search_settings(4)
    r = cli("--task", "digits", "--board", "pynq-z2", "--space", s.space_file, "--supernet-epochs",
            str(s.supernet_epochs), "--trials", "4", "--finetune-epochs", "1", "--eval-samples", "60",
            "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "BRAM36" in r.stdout and "DSP" in r.stdout and "chosen: trial" in r.stdout
    rep = json.loads((tmp_path / "search.json").read_text())
    assert rep["latency_source"] == "fpga-estimator"
    c = rep["chosen"]
    est = estimate(load(tmp_path / "model.efm"), "pynq-z2")
    assert c["final_cost"]["resources"] == {k: est["total"][k] for k in ("dsp", "bram36", "lut", "ff")}
    assert c["final_cost"]["latency_cycles"] == est["total"]["cycles"] and c["prediction_matches_final"]
    for row in rep["rows"]:
        assert row["resources"] and row["feasible"] == all(v <= 0 for v in row["constraints"])


def test_impossible_fpga_budget_names_the_smallest_design(tmp_path):
    r = cli("--task", "digits", "--board", "pynq-z2", "--sram-budget", "1KB", "--out", str(tmp_path))
    assert r.returncode == 2
    assert "the smallest on-chip memory found is" in r.stderr and "BRAM36" in r.stderr
    assert "of the smallest architectures of the space checked)" in r.stderr
