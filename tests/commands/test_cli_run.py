"""`edgefmr run` through the CLI: interpreter, host C build and a QEMU board give the same bytes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from paths import FIXTURES

FIX = FIXTURES
MODEL = FIX / "cnn_digits_int8.tflite"


def edgefmr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgefmr.cli", *args], capture_output=True, text=True, timeout=600)


def run_model(tmp_path: Path, name: str, *extra: str) -> np.ndarray:
    out = tmp_path / f"{name}.npy"
    r = edgefmr("run", str(MODEL), "--input", str(FIX / "digits_test_x.npy"), "--output", str(out), "--json", *extra)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["inputs"] == 32 and info["output_shape"] == [32, 1, 10]
    return np.load(out)


def test_run_float_input_is_quantized(tmp_path):
    x = np.load(FIX / "digits_test_x.npy")[:4]
    xf = ((x.astype(np.float32) + 128) / 255).astype(np.float32)  # the fixture input's scale 1/255, zp -128
    np.save(tmp_path / "xf.npy", xf)
    r = edgefmr("run", str(MODEL), "--input", str(tmp_path / "xf.npy"), "--output", str(tmp_path / "y.npy"))
    assert r.returncode == 0, r.stderr
    ref = edgefmr("run", str(MODEL), "--input", str(FIX / "digits_test_x.npy"), "--output", str(tmp_path / "r.npy"))
    assert ref.returncode == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.load(tmp_path / "r.npy")[:4])


def test_run_bad_input_shape(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 7), np.int8))
    r = edgefmr("run", str(MODEL), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert r.returncode == 2 and "does not fit the model input [1, 8, 8, 1]" in r.stderr and "Traceback" not in r.stderr


def test_run_host_build_equals_interpreter(tmp_path):
    np.testing.assert_array_equal(run_model(tmp_path, "host", "--board", "host", "--no-tricks"),
                                  run_model(tmp_path, "ref"))


@pytest.mark.emulator
def test_run_on_qemu_equals_interpreter(tmp_path):
    out = tmp_path / "q.npy"
    r = edgefmr("run", str(MODEL), "--input", str(FIX / "digits_test_x.npy"), "--output", str(out),
                "--board", "qemu-netduinoplus2", "--no-tricks")
    assert r.returncode == 0, r.stderr
    assert "instructions per inference" in r.stdout and "not cycles" in r.stdout
    np.testing.assert_array_equal(np.load(out), run_model(tmp_path, "ref"))


@pytest.mark.slow
def test_build_and_run_fpga_csim_equals_interpreter(tmp_path):
    art = tmp_path / "hls"
    r = edgefmr("build", str(MODEL), "--board", "pynq-z2", "--out", str(art))
    assert r.returncode == 0, r.stderr
    assert (art / "manifest.json").is_file()
    np.testing.assert_array_equal(_run_artifact(tmp_path, art), run_model(tmp_path, "ref"))


def _run_artifact(tmp_path, art):
    out = tmp_path / "fpga.npy"
    r = edgefmr("run", str(art), "--input", str(FIX / "digits_test_x.npy"), "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert "HLS C simulation" in r.stdout
    return np.load(out)
