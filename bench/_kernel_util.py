"""Shared measurement for bench/kernels.py: one op instance, portable vs Cortex-M kernels, on both QEMU cores."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgefmr.device.semihost import graph_instructions
from edgefmr.ir import Graph

#: The QEMU boards of the kernel bench: Cortex-M4 (STM32F405) and Cortex-M7.
BOARDS = ("qemu-netduinoplus2", "qemu-mps2-an500")


def op_records(op: str, shape: str, g: Graph, records: list[list[np.ndarray]], units: int, unit: str,
               target: float | None = None, boards: tuple[str, ...] = BOARDS) -> list[dict]:
    """One record per board: executed instructions per `unit` ("MAC" or "element"; `units` of them per inference)
    of graph `g` (usually one node) with the portable kernels and with the Cortex-M kernels, both checked bit for
    bit against the interpreter. `target` is the issue's bound on the Cortex-M figure (M4), if any."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for board in boards:
            arm = graph_instructions(g, board, records, Path(tmp) / f"{board}-arm")
            ref = graph_instructions(g, board, records, Path(tmp) / f"{board}-ref", optimized=False)
            rec = {"kind": "op", "op": op, "shape": shape, "board": board, "unit": unit, "units": units,
                   "portable_per_unit": round(ref["instructions"] / units, 3),
                   "arm_per_unit": round(arm["instructions"] / units, 3),
                   "speedup": round(ref["instructions"] / max(arm["instructions"], 1), 2),
                   "arm_kernels": ",".join(arm["kernels"]) or "-",
                   "bit_exact": arm["bit_exact"] and ref["bit_exact"]}
            if target is not None:
                rec["target_per_unit"] = target
                rec["meets_target"] = rec["arm_per_unit"] <= target
            out.append(rec)
    return out
