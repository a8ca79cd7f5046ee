"""`edgefmr build --streaming`, `run --stream` and `profile --stream` through the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stream_cases import frames, quantized, step_graph

from edgefmr.ir import save
from edgefmr.ir.streaming import run_stream, without_states


def edgefmr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgefmr.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def step(tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    d = tmp_path_factory.mktemp("stream")
    g = step_graph("lmu-spiking")
    save(g, d / "step.efm")
    x = frames(g, 2 * quantized("lmu-spiking").model.steps, seed=4).reshape(-1, 3)  # [steps, features]
    np.save(d / "frames.npy", x)
    want, _ = run_stream(g, x)
    return d, d / "step.efm", np.stack([w[0] for w in want])


def test_run_stream_interpreter_and_host(step):
    d, model, want = step
    r = edgefmr("run", str(model), "--stream", "--input", str(d / "frames.npy"), "--output", str(d / "i.npy"),
                "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["steps"] == len(want)
    np.testing.assert_array_equal(np.load(d / "i.npy"), want)
    r = edgefmr("build", str(model), "--board", "host", "--streaming", "--out", str(d / "host"))
    assert r.returncode == 0, r.stderr
    assert "persistent region" in r.stdout
    r = edgefmr("run", str(d / "host"), "--stream", "--input", str(d / "frames.npy"), "--output", str(d / "h.npy"))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(d / "h.npy"), want)


def test_stream_errors(step):
    d, model, _ = step
    save(without_states(step_graph("lmu-spiking")), d / "plain.efm")
    r = edgefmr("run", str(d / "plain.efm"), "--stream", "--input", str(d / "frames.npy"), "--output",
                str(d / "x.npy"))
    assert r.returncode == 2 and "not a step program" in r.stderr
    r = edgefmr("build", str(d / "plain.efm"), "--board", "host", "--streaming", "--out", str(d / "bad"))
    assert r.returncode == 2 and "--streaming needs a step program" in r.stderr
    r = edgefmr("run", str(model), "--input", str(d / "frames.npy"), "--output", str(d / "x.npy"))
    assert r.returncode == 2 and "run it with --stream" in r.stderr
    from edgefmr.firmware.build import build

    build(step_graph("lmu-spiking"), None, d / "unmade", streaming=True, run_make=False)  # a manifest suffices
    r = edgefmr("profile", str(d / "unmade"), "--out", str(d / "p.json"))
    assert r.returncode == 2 and "profile it with --stream" in r.stderr
    np.save(d / "wrong.npy", np.zeros((4, 5), np.int8))
    r = edgefmr("run", str(model), "--stream", "--input", str(d / "wrong.npy"), "--output", str(d / "x.npy"))
    assert r.returncode == 2 and "wrong.npy" in r.stderr


def test_plan_shows_the_state(step):
    _, model, _ = step
    r = edgefmr("plan", str(model), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["state_bytes"] > 0 and len([a for a in d["state"] if "view_of" not in a]) == 9
    assert "persistent state" in edgefmr("plan", str(model)).stdout


@pytest.mark.emulator
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_run_and_profile_stream_on_qemu(step):
    d, model, want = step
    r = edgefmr("build", str(model), "--board", "qemu-mps2-an386", "--streaming", "--out", str(d / "q"))
    assert r.returncode == 0, r.stderr
    r = edgefmr("run", str(d / "q"), "--stream", "--input", str(d / "frames.npy"), "--output", str(d / "q.npy"),
                "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["counter"] == "QEMU_INSTRUCTIONS" and len(info["counts"]) == len(want)
    np.testing.assert_array_equal(np.load(d / "q.npy"), want)
    r = edgefmr("profile", str(d / "q"), "--stream", "--count", "40", "--out", str(d / "p.json"))
    assert r.returncode == 0, r.stderr
    rep = json.loads((d / "p.json").read_text())
    assert rep["bit_exact_steps"] == rep["steps"] == 40
    s = rep["per_step"]
    assert 0 < s["min"] <= s["mean"] <= s["max"]
    sb = rep["state_bytes"]
    assert sb["device"] == sb["predicted"] == sb["elf"] > 0
    assert "instructions" in r.stdout and "persistent state" in r.stdout
