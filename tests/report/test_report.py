"""`edgefmr report`: sections found from real plan files, drawn plots checked in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from paths import ROOT

from edgefmr.commands.plan import plan as plan_cmd
from edgefmr.commands.report import report as report_cmd
from edgefmr.errors import EdgefmrError
from edgefmr.report import collect, write_report

TFLITE = ROOT / "tests" / "fixtures" / "vit_digits_int8.tflite"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BOARD = "qemu-netduinoplus2"


def _profile(n_layers: int) -> dict:
    layers = [{"index": i, "name": f"layer{i}", "op": "FULLY_CONNECTED", "nodes": [i], "count_mean": 1000.0 * (i + 1),
               "count_min": 1000.0 * (i + 1), "count_max": 1000.0 * (i + 1), "share": 1 / n_layers,
               "macs": 100 * (i + 1) if i % 2 else 0, "per_mac": 10.0 if i % 2 else None} for i in range(n_layers)]
    return {"format": "edgefmr-profile", "version": 1, "board": BOARD,
            "counter": {"kind": "QEMU_INSTRUCTIONS", "unit": "instructions",
                        "label": "executed instructions (QEMU -icount, not cycles)"},
            "inputs": {"count": 10}, "agreement": {"bit_exact": 9, "total": 10, "max_abs_diff": 1},
            "latency": {"unit": "instructions", "mean": sum(la["count_mean"] for la in layers)},
            "layers": layers, "macs": 2000, "per_mac": 12.5,
            "memory": {"arena_bytes": 2240, "arena_predicted": 2240, "stack_used": 600, "stack_predicted": 700},
            "float": {"l2r_mean": 0.04, "cosine_mean": 0.999, "top1_agreement": 0.98}}


def _quant() -> dict:
    return {"float_accuracy": 0.9, "int_accuracy": 0.88, "test_samples": 50, "method": "ptq",
            "max_abs_activation": 7.5, "kurtosis": 9.0, "attention_ops": {"mults": 100, "adds": 120},
            "activations": [{"tensor": f"t{i}", "max_abs": 0.5 + i, "kurtosis": 3.0 + i, "residual": i == 2}
                            for i in range(5)]}


def _search() -> dict:
    rows = [{"number": i, "family": "vit", "arch": {"d": i}, "accuracy": 0.5 + 0.05 * i, "latency_s": 0.002 * (i + 1),
             "sram": 4000 * (i + 1), "feasible": i < 5} for i in range(7)]
    front = [r for r in rows if r["feasible"]]
    return {"format": "edgefmr-search", "version": 1, "board": BOARD, "task": "digits", "families": ["vit"],
            "budgets": {"sram": 20000, "flash": None, "latency": 0.011, "latency_unit": "s"}, "trials": 7,
            "feasible": 5, "pareto": front, "chosen": front[-1], "rows": rows}


@pytest.fixture()
def full_dir(tmp_path: Path) -> Path:
    """A folder with a real `edgefmr plan --json` output (and its model) plus profile, quant and search reports."""
    d = tmp_path / "run"
    d.mkdir()
    shutil.copy(TFLITE, d / "model.tflite")
    res = CliRunner().invoke(plan_cmd, [str(d / "model.tflite"), "--board", BOARD, "--json"])
    assert res.exit_code == 0, res.output
    (d / "plan.json").write_text(res.output)
    (d / "report.json").write_text(json.dumps(_profile(6)))
    (d / "q.json").write_text(json.dumps(_quant()))
    (d / "search").mkdir()
    (d / "search" / "search.json").write_text(json.dumps(_search()))
    return d


def test_collect_finds_every_section_and_both_plans(full_dir: Path) -> None:
    data = collect(full_dir)
    assert data.sections() == ["board", "pareto", "memory", "latency", "accuracy"]
    assert set(data.plans) == {True, False}
    # the plan without tricks runs one step per node, so it has more steps than the fused plan
    assert len(data.plans[False]["layers"]) > len(data.plans[True]["layers"])
    assert data.board.name == BOARD
    assert data.notes == []


def test_sections_follow_the_data(tmp_path: Path) -> None:
    (tmp_path / "q.json").write_text(json.dumps(_quant()))
    data = collect(tmp_path)
    assert data.sections() == ["accuracy"]
    html = (Path(write_report(tmp_path)["html"])).read_text()
    assert "id='accuracy'" in html and "id='memory'" not in html and "id='pareto'" not in html


def test_empty_or_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(EdgefmrError, match="no manifest.json"):
        collect(tmp_path)
    res = subprocess.run([str(ROOT / ".venv" / "bin" / "edgefmr"), "report", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("error:") and "not a folder" in res.stderr


def test_png_dir_writes_static_plots(full_dir: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(report_cmd, [str(full_dir), "--out", str(tmp_path / "r.html"),
                                    "--png", str(tmp_path / "png")])
    assert res.exit_code == 0, res.output
    for sec in ("board", "pareto", "memory", "latency", "accuracy"):
        png = tmp_path / "png" / f"{sec}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert (tmp_path / "png" / f"{sec}.svg").read_text().count("<path") > 5


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (scripts/setup.sh installs it)")
def test_report_renders_in_headless_chromium(full_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = CliRunner().invoke(report_cmd, [str(full_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    # self-contained: nothing to fetch
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic", f"--user-data-dir={tmp_path / 'ud'}"]
    art = ROOT / "out" / "test-artifacts"
    art.mkdir(parents=True, exist_ok=True)
    shot = art / "report.png"
    shot.unlink(missing_ok=True)
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1400,3000", out.as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    print(f"report screenshot: {shot}")
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", out.as_uri()], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    sections = dict(re.findall(r'<section id="(\w+)" class="report-section">(.*?)</section>', dom, flags=re.S))
    assert sorted(sections) == sorted(["board", "pareto", "memory", "latency", "accuracy"])
    for name, body in sections.items():
        svgs = re.findall(r"<svg\b.*?</svg>", body, flags=re.S)
        assert svgs, f"section {name} has no plot"
        for svg in svgs:
            assert 'id="axes_1"' in svg, f"section {name}: the plot has no axes"
            assert svg.count("<path") > 10, f"section {name}: the plot draws nothing"
