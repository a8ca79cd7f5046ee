"""Firmware on QEMU boards: bit-exactness, executed instructions, memory predicted vs measured, FC kernel efficiency."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

NOTE = """One record per model x QEMU board: a semihosting image runs the inputs (the first 4 digits test images of
tests/fixtures) and its outputs are compared bit for bit with the reference interpreter. instructions_per_inference
is QEMU's executed-instruction count (SysTick under -icount, resolution about 6 instructions on netduinoplus2 and
40 on mps2-an500; the minimum over the inputs), not cycles. arena_bytes_predicted comes from the planner,
arena_bytes_measured is what the running firmware reports, flash_bytes is the ELF image (flash_bytes_predicted is
the build's prediction). peak_sram_no_tricks plans the same model without MCUFormer's tricks. The `fc` rows are
the int8 FULLY_CONNECTED kernel alone: executed instructions per MAC of the whole kernel call (unpacking,
requantization, loop overheads) with the Cortex-M DSP kernel (SXTB16 + SMLAD) and with the portable C kernel;
the dual-MAC SMLAD bound is 0.5 instructions per MAC."""

FIX = Path(__file__).parent.parent / "tests" / "fixtures"
BOARDS = ["qemu-netduinoplus2", "qemu-mps2-an500"]
FC_SHAPES = [(16, 256, 256), (144, 192, 192)]


def run() -> list[dict]:
    from edgefmr.device.semihost import fc_instructions_per_mac, firmware_record
    from edgefmr.ir.model_io import load_model

    x = np.load(FIX / "digits_test_x.npy")[:4, None]
    out: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("vit_digits_int8.tflite", "cnn_digits_int8.tflite"):
            g = load_model(FIX / name)
            for board in BOARDS:
                rec = firmware_record(g, board, [[xi] for xi in x], Path(tmp) / f"{name}-{board}")
                rec["model"] = name
                out.append(rec)
        for shape in FC_SHAPES:
            for optimized in (True, False):
                r = fc_instructions_per_mac("qemu-netduinoplus2", *shape, Path(tmp) / f"fc{shape}{optimized}",
                                            optimized=optimized)
                out.append({"model": f"fc {shape[0]}x{shape[1]}x{shape[2]}", "board": r["board"],
                            "kernels": r["kernel"], "macs": r["macs"], "instructions_per_inference": r["instructions"],
                            "instructions_per_mac": round(r["instructions_per_mac"], 3),
                            "smlad_bound_per_mac": 0.5, "bit_exact": r["bit_exact"]})
    return out
