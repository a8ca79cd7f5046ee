"""`edgefmr validate --board`: each layer's output read back from the board gives the very metrics of the
interpreter's (the board computes the same bits), on every layer the firmware stores whole."""

import numpy as np
import pytest
from paths import FIXTURES

from edgefmr.profiling.validate import validate

pytestmark = pytest.mark.emulator


def test_validate_on_qemu_equals_interpreter():
    x = np.load(FIXTURES / "digits_test_x.npy")[:2]
    model, ref = str(FIXTURES / "vit_digits_int8.tflite"), str(FIXTURES / "vit_digits_float.tflite")
    board = validate(model, ref, x, board="qemu-netduinoplus2")
    host = {r["tensor"]: r for r in validate(model, ref, x)["tensors"]}
    assert board["backend"] == "qemu-netduinoplus2" and board["mapped"] >= 40 and not board["unmapped"]
    for r in board["tensors"]:
        h = host[r["tensor"]]
        for k in ("cosine", "l2r", "max_abs_error", "top1_agreement"):
            assert r[k] == h[k], (r["tensor"], k)
    assert board["outputs"][0]["tensor"] == "StatefulPartitionedCall_1:0"
