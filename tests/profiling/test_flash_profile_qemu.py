"""Acceptance of `edgefmr flash` then `edgefmr profile` on QEMU boards with the ViT digits fixture: flashed and
confirmed (banner, model hash), then 120 digits bit-exact with the reference interpreter, the per-layer table,
report.json and the board's calibration table."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from paths import FIXTURES

from edgefmr.commands.flash import flash as flash_cmd
from edgefmr.commands.profile import profile as profile_cmd
from edgefmr.profiling.calibration import node_count

HAVE_TOOLS = bool(shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"))


@pytest.mark.emulator
@pytest.mark.parametrize("board", ["qemu-netduinoplus2", "qemu-mps2-an500"])
def test_flash_then_profile_vit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, board: str) -> None:
    if not HAVE_TOOLS:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    from edgefmr.firmware.build import build
    from edgefmr.nas.tasks import load_task

    t0 = time.monotonic()
    monkeypatch.setenv("EDGEFMR_CALIBRATION_DIR", str(tmp_path / "cal"))
    art = tmp_path / "art"
    m = build(FIXTURES / "vit_digits_int8.tflite", board, art)
    # digits from the task (floats in [0, 1], NCHW) as the model's NHWC input; profile quantizes them
    x = load_task("digits").x_test[:120].transpose(0, 2, 3, 1).astype(np.float32)
    np.save(tmp_path / "digits.npy", x)

    r = CliRunner().invoke(flash_cmd, [str(art), "--board", board, "--json"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    fl = json.loads(r.output)
    assert fl["method"] == "qemu" and fl["banner"] == f"EFM-PROTO 1 {board} {m['model_hash']}"

    out = tmp_path / "report.json"
    r = CliRunner().invoke(profile_cmd, [str(art), "--board", board, "--inputs", str(tmp_path / "digits.npy"),
                                         "--runs", "3", "--out", str(out), "--calibrate"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    rep = json.loads(out.read_text())
    # the rich summary: agreement, the per-layer table, the calibration file
    assert "bit-exact with the reference interpreter: 120 / 120" in r.output
    assert "executed instructions (QEMU -icount, not cycles)" in r.output
    assert "instr/MAC" in r.output and "CONV_2D" in r.output and "cortex-m" in r.output
    assert f"written:{tmp_path / 'cal' / board}.json" in "".join(r.output.split())
    assert all(len(line) <= 80 for line in r.output.splitlines())

    assert rep["agreement"] == {"bit_exact": 120, "total": 120, "mismatched_inputs": [], "max_abs_diff": 0}
    assert rep["model_hash"] == m["model_hash"] and rep["board"] == board
    assert rep["counter"]["kind"] == "QEMU_INSTRUCTIONS" and rep["counter"]["quantum"] == 1
    lat = rep["latency"]
    assert 0 < lat["min"] <= lat["mean"] <= lat["max"] and lat["seconds_mean"] is None
    assert lat["whole_run"]["runs"] == 3 and lat["whole_run"]["min"] <= lat["whole_run"]["max"]
    layers = rep["layers"]
    assert [row["name"] for row in layers] == [row["name"] for row in m["layers"]]
    assert sum(row["count_mean"] for row in layers) == pytest.approx(lat["mean"], rel=1e-12)
    assert sum(row["share"] for row in layers) == pytest.approx(1.0)
    assert sum(row["macs"] for row in layers) == rep["macs"] == 297_280
    assert rep["per_mac"] == pytest.approx(lat["mean"] / 297_280)
    mem = rep["memory"]
    assert mem["arena_bytes"] == mem["arena_predicted"] == m["predicted"]["arena_total"]
    assert 0 < mem["stack_used"] < mem["stack_bytes"]
    # a clean link: nothing damaged; resends only where an answer was later than the adaptive timeout
    link = rep["link"]
    assert link["naks"] == link["bad_crc"] == 0 and link["retries"] == link["timeouts"] + link["gaps"], link
    cal = json.loads((tmp_path / "cal" / f"{board}.json").read_text())
    assert cal == rep["calibration"] and cal["unit"] == "instructions" and cal["source"] == "measured"
    assert cal["profiles"][0]["model_hash"] == m["model_hash"] and cal["profiles"][0]["inputs"] == 120
    # coefficients per kernel path (the patch embedding's small-depth CONV_2D path, ...) and per op type
    assert {"CONV_2D/small", "FULLY_CONNECTED/panels", "BATCH_MATMUL/pair", "SOFTMAX"} <= set(cal["ops"])
    assert {"CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX"} <= set(cal["op_types"])
    # one equation per profiled layer; the CONV_2D layer runs alone and is the only one: the fit reproduces it
    eqs = cal["equations"][m["model_hash"]]
    assert [e["count"] for e in eqs] == [row["count_mean"] for row in layers if row["nodes"]]
    conv = next(e for e in eqs if [n[0] for n in e["nodes"]] == ["CONV_2D/small"])
    c = cal["ops"]["CONV_2D/small"]
    assert c["layers"] == 1
    pred = sum(node_count(c, *n[2:]) for n in conv["nodes"])
    assert pred == pytest.approx(conv["count"], rel=1e-3)  # NNLS solves to its convergence tolerance
    print(f"{board}: flash + profile of 120 inputs in {time.monotonic() - t0:.1f} s")


@pytest.mark.emulator
def test_profile_on_a_noisy_link_is_still_exact_and_counts_retries(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """1% of the link's bytes corrupted both ways (and 0.1% dropped, 0.1% inserted): every output still bit-exact,
    the latency figures equal a clean session's, and the report counts the retries."""
    if not HAVE_TOOLS:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    from edgefmr.device.transport import FaultPlan, FaultyTransport
    from edgefmr.firmware.build import build
    from edgefmr.profiling.profile import profile_artifact

    monkeypatch.setenv("EDGEFMR_CALIBRATION_DIR", str(tmp_path / "cal"))
    art = tmp_path / "art"
    build(FIXTURES / "cnn_digits_int8.tflite", "qemu-mps2-an500", art)
    plan = dict(corrupt=0.01, drop=0.001, insert=0.001)
    noisy = []

    def wrap(t):
        noisy.append(FaultyTransport(t, tx=FaultPlan(**plan), rx=FaultPlan(**plan), seed=7))
        return noisy[-1]

    clean = profile_artifact(art, count=16, runs=2, write_calibration=False)
    t0 = time.monotonic()
    rep = profile_artifact(art, count=16, runs=2, write_calibration=False, timeout=0.2, wrap=wrap)
    print(f"noisy session {time.monotonic() - t0:.1f} s, link {rep['link']}")
    assert rep["agreement"]["bit_exact"] == rep["agreement"]["total"] == 16
    assert rep["link"]["retries"] > 0 and rep["link"]["naks"] > 0 and clean["link"]["naks"] == 0
    assert noisy[0].tx.stats.corrupted + noisy[0].rx.stats.corrupted > 0
    assert (rep["latency"]["mean"], rep["latency"]["min"], rep["latency"]["max"]) == (
        clean["latency"]["mean"], clean["latency"]["min"], clean["latency"]["max"])
    assert [r["count_mean"] for r in rep["layers"]] == [r["count_mean"] for r in clean["layers"]]
