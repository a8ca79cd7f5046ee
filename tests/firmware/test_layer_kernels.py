"""The build's manifest names the kernel each layer runs (portable C, its Cortex-M variant, or no code), so profile and
the report can say why a layer is slow."""

from __future__ import annotations

from paths import FIXTURES

from edgefmr.firmware.build import build
from edgefmr.ir.model_io import load_model


def _kernels(manifest: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in manifest["layers"]:
        out.setdefault(row["op"], set()).add(row["kernel"])
    return out


def test_layers_name_their_kernel(tmp_path):
    g = load_model(FIXTURES / "cnn_digits_int8.tflite")
    dsp = _kernels(build(g, "qemu-netduinoplus2", tmp_path / "m4", tricks=False, run_make=False))
    host = _kernels(build(g, "host", tmp_path / "host", tricks=False, run_make=False))
    assert dsp["FULLY_CONNECTED"] <= {"cortex-m", "portable"} and "cortex-m" in dsp["DEPTHWISE_CONV_2D"] | dsp[
        "FULLY_CONNECTED"]
    assert all(k <= {"portable", "none"} for k in host.values()), host
    assert host["RESHAPE"] <= {"none", "portable"}
    portable = _kernels(build(g, "qemu-netduinoplus2", tmp_path / "p", tricks=False, run_make=False, optimized=False))
    assert "cortex-m" not in set().union(*portable.values())
