"""The search's memory figure is the build's: memory_report == the arena `edgefmr build` reserves."""


import pytest
from paths import FIXTURES

from edgefmr.firmware.build import build
from edgefmr.firmware.cost import memory_report
from edgefmr.ir.model_io import load_model

FIX = FIXTURES


@pytest.mark.parametrize("board", ["qemu-netduinoplus2", "qemu-mps2-an500", "stm32f746g-disco"])
@pytest.mark.parametrize("tricks", [True, False])
def test_memory_report_equals_build_arena(tmp_path, board, tricks):
    g = load_model(FIX / "vit_digits_int8.tflite")
    rep = memory_report(g, board, tricks=tricks)
    man = build(g, board, tmp_path, tricks=tricks, run_make=False)
    assert rep["arena_bytes"] == man["predicted"]["arena"]
    assert rep["flash_constants_bytes"] == g.weight_bytes()
    # the constants the build writes (weights plus the kernels' parameters and tables), as the search counts them:
    # before identical arrays are merged, so never below what the build writes
    assert rep["flash_const_data_bytes"] >= man["predicted"]["const_bytes"] > rep["flash_constants_bytes"]
