"""plan = build (issue #18): the plan `edgefmr plan`/`analyze`/the search make is the arena the build reserves, on
every .tflite fixture and on the default model of every family, and MCUFormer's tricks never make it larger."""

import numpy as np
import pytest
from paths import FIXTURES

from edgefmr.boards import load_board
from edgefmr.firmware.build import build, generate_firmware
from edgefmr.firmware.cost import build_arm_kernels, make_plan, memory_report
from edgefmr.ir.model_io import load_model

INT8 = sorted(p for p in FIXTURES.glob("*_int8.tflite"))
BOARD = "qemu-mps2-an500"  # 4 MiB: every fixture fits; Cortex-M7 with DSP, so the kernels' scratch counts


def _family_graph(family: str):
    from edgefmr.nas.train import build_model
    from edgefmr.quant.quantizer import QuantOptions, quantize

    shape = (64, 1) if family == "lmu" else (1, 8, 8)
    model = build_model(family, {}, shape, 10).eval()
    x = np.random.default_rng(0).uniform(0, 1, (16, *shape)).astype(np.float32)
    return quantize(model, family, x, QuantOptions(calib_samples=16)).graph()


def _models():
    return [pytest.param(str(p), id=p.stem) for p in INT8] + [
        pytest.param(f, id=f"default-{f}", marks=pytest.mark.slow if f == "spiking" else ())
        for f in ("vit", "spiking", "lmu")]


@pytest.mark.parametrize("model", _models())
def test_plan_equals_build_and_tricks_never_larger(tmp_path, model):
    g = load_model(model) if model.endswith(".tflite") else _family_graph(model)
    b = load_board(BOARD)
    arm = build_arm_kernels(b)
    for tricks in (True, False):
        p = make_plan(g, b, tricks, arm)
        man = build(g, BOARD, tmp_path / str(tricks), tricks=tricks, run_make=False)
        assert man["predicted"]["arena"] == dict(p.arena_bytes)
        assert memory_report(g, b, tricks)["arena_bytes"] == man["predicted"]["arena"]
    with_tricks = sum(make_plan(g, b, True, arm).arena_bytes.values())
    without = sum(make_plan(g, b, False, arm).arena_bytes.values())
    assert with_tricks <= without


def test_layer_memory_rows_add_up():
    fw = generate_firmware(str(FIXTURES / "vit_digits_int8.tflite"), BOARD)
    rows = fw.layers()
    assert sum(r["const_bytes"] for r in rows) == fw.generated.const_bytes
    assert max(r["live_bytes"] for r in rows) == fw.plan.peak_bytes
    assert all(r["scratch_bytes"] >= 0 and r["activation_bytes"] > 0 for r in rows)
    assert {r["kernel"] for r in rows} <= {"portable", "cortex-m", "none"}
