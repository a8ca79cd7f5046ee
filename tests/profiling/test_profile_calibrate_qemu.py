"""`edgefmr profile` writes the board's calibration table only with --calibrate (issue #18), reports the board's
accuracy with --labels, names each layer's kernel and bytes, and states ms at the board clock."""

import json
import subprocess
import sys

import numpy as np
import pytest
from paths import FIXTURES

pytestmark = pytest.mark.emulator


def test_profile_calibrate_and_labels(tmp_path):
    cal = tmp_path / "cal"
    env_py = [sys.executable, "-m", "edgefmr.cli"]
    import os

    env = {**os.environ, "EDGEFMR_CALIBRATION_DIR": str(cal)}
    art = tmp_path / "art"
    b = subprocess.run([*env_py, "build", str(FIXTURES / "vit_digits_int8.tflite"), "--board", "qemu-netduinoplus2",
                        "--out", str(art), "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert b.returncode == 0, b.stderr
    np.save(tmp_path / "x.npy", np.load(FIXTURES / "digits_test_x.npy")[:3])
    np.save(tmp_path / "y.npy", np.load(FIXTURES / "digits_test_y.npy")[:3])

    def profile(*extra: str) -> dict:
        r = subprocess.run([*env_py, "profile", str(art), "--inputs", str(tmp_path / "x.npy"), "--runs", "0",
                            "--out", str(tmp_path / "p.json"), "--json", *extra], capture_output=True, text=True,
                           env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    rep = profile("--labels", str(tmp_path / "y.npy"), "--float-model", str(FIXTURES / "vit_digits_float.tflite"))
    assert rep["float"]["cosine_mean"] > 0.98 and rep["float"]["model"].endswith("vit_digits_float.tflite")
    assert not (cal / "qemu-netduinoplus2.json").exists() and "calibration_path" not in rep
    assert rep["accuracy"]["total"] == 3 and 0 <= rep["accuracy"]["correct"] <= 3
    lat = rep["latency"]
    assert lat["ms_mean"] == pytest.approx(lat["mean"] / 168e6 * 1e3) and "168 MHz" in lat["ms_basis"]
    man = json.loads((art / "manifest.json").read_text())
    for row, layer in zip(rep["layers"], man["layers"], strict=True):
        assert row["kernel"] == layer["kernel"] and row["flash_bytes"] == layer["const_bytes"]
        assert row["activation_bytes"] == layer["activation_bytes"]
    rep = profile("--calibrate")
    assert (cal / "qemu-netduinoplus2.json").is_file() and rep["calibration_path"].startswith(str(cal))
