"""Semihosting test images on QEMU boards: run an image built with `build(..., test_inputs=...)`, parse what it
printed (outputs, executed-instruction counts, stack, arena), and the measurements built on it (instructions of any
graph, of one FULLY_CONNECTED, a whole-model benchmark record)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.boards import Board, load_board
from edgefmr.device.qemu import qemu_command
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.build import build, graph_io, load_graph
from edgefmr.firmware.cost import Choices, make_plan
from edgefmr.ir import Graph, GraphBuilder, run
from edgefmr.ops.registry import call


@dataclass
class SemihostResult:
    """What a semihosting test image printed: outputs per record, counter ticks per inference, stack use."""

    outputs: list[list[np.ndarray]]
    ticks: list[int]
    stack_used: int
    stack_size: int
    counter: str
    clock_hz: int
    uart: str
    arena_bytes: int
    icount_shift: int = 0

    def instructions(self) -> list[float]:
        """Executed instructions per inference on QEMU (-icount shift=S: 2^S ns of virtual time per instruction,
        SysTick counts the core clock): ticks * 1e9 / (clock_hz * 2^S), exact to within one tick (S = 0: a tick is
        clock_hz / 1e9 of an instruction's time, e.g. 40 instructions at 25 MHz; S = 7: exact after rounding)."""
        if self.icount_shift:
            return [float(round(tk * 1e9 / (self.clock_hz * 2**self.icount_shift))) for tk in self.ticks]
        return [tk * 1e9 / self.clock_hz for tk in self.ticks]


def run_semihost(artifact: str | Path, g: Graph, timeout: float = 300.0, icount_shift: int = 0) -> SemihostResult:
    """Run a semihosting test image (main="semihost") under QEMU and parse what it printed; `icount_shift` is
    QEMU's -icount shift (SemihostResult.instructions)."""
    out = Path(artifact)
    manifest = json.loads((out / "manifest.json").read_text())
    board = load_board(manifest["board"])
    if not board.is_virtual:
        raise EdgefmrError(f"board {board.name} is not a QEMU board; semihosting test images run on QEMU")
    try:
        r = subprocess.run(qemu_command(board, out / "model.elf", "stdio", icount_shift=icount_shift),
                           capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise EdgefmrError(f"QEMU ({board.qemu.machine}) did not finish within {timeout} s") from None
    text = r.stderr.decode(errors="replace")
    if r.returncode != 0:
        raise EdgefmrError(f"the test image exited with {r.returncode} on {board.name}: {text[-400:]}")
    outs = graph_io(g, list(g.outputs))
    buffers: dict[tuple[int, int], bytearray] = {}
    ticks: dict[int, int] = {}
    stack = (0, 0)
    kind, clock, arena = "", 0, -1
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "O" and len(parts) in (4, 5):
            key = (int(parts[1]), int(parts[2]))
            buf = buffers.setdefault(key, bytearray())
            if int(parts[3]) != len(buf):
                raise EdgefmrError(f"semihost output out of order at {line[:40]!r}")
            buf += bytes.fromhex(parts[4] if len(parts) == 5 else "")
        elif parts[0] == "I":
            ticks[int(parts[1])] = int(parts[2])
        elif parts[0] == "S":
            stack = (int(parts[1]), int(parts[2]))
        elif parts[0] == "K":
            kind, clock = parts[1], int(parts[2])
        elif parts[0] == "A":
            arena = int(parts[1])
    n = len(ticks)
    result = []
    for rec in range(n):
        row = []
        for o, (name, shape, dt, nb) in enumerate(outs):
            buf = buffers.get((rec, o), bytearray())
            if len(buf) != nb:
                raise EdgefmrError(f"record {rec} output {name!r}: got {len(buf)} bytes, expected {nb}")
            row.append(np.frombuffer(bytes(buf), dt).reshape(shape).copy())
        result.append(row)
    return SemihostResult(result, [ticks[i] for i in range(n)], stack[0], stack[1], kind, clock,
                          r.stdout.decode(errors="replace"), arena, icount_shift)


#: The plan choices of kernel measurements: every Cortex-M kernel in its fastest variant (a one-node graph's arena
#: would otherwise always take the smaller-scratch ones).
FASTEST = Choices(lean=False)


def graph_instructions(g: Graph, board: str | Board, records: list[list[np.ndarray]], out_dir: str | Path, *,
                       optimized: bool = True, fuse: bool = True, choices: Choices = FASTEST) -> dict[str, Any]:
    """Executed instructions of one inference of `g` on a QEMU board (semihosting image, SysTick under -icount
    shift=0; the minimum over `records`), with the Cortex-M DSP kernels where they exist (`optimized`) or the
    portable ones only; every output is checked bit for bit against the reference interpreter. For a one-op graph
    this is the kernel's cost including its call, requantization and loop overheads. `fuse`: with the IR passes
    (edgefmr.firmware.cost.c_graph). `choices`: the plan's in-place and lean-variant choices (FASTEST by default;
    Choices() for what `edgefmr build` does). Keys: board, kernels (the Cortex-M kernels linked), instructions,
    bit_exact, counter, clock_hz."""

    m = build(g, board, out_dir, tricks=False, test_inputs=records, optimized=optimized, fuse=fuse, choices=choices)
    res = run_semihost(out_dir, g)
    exact = all(np.array_equal(a, run(g, r)[o]) for outs, r in zip(res.outputs, records, strict=True)
                for o, a in zip(g.outputs, outs, strict=True))
    return {"board": m["board"], "kernels": sorted(m["arm_kernels"]), "instructions": min(res.instructions()),
            "bit_exact": exact, "counter": res.counter, "clock_hz": res.clock_hz}


def fc_graph(rows: int, depth: int, cols: int, seed: int = 0) -> tuple[Graph, list[list[np.ndarray]]]:
    """One int8 FULLY_CONNECTED [rows, depth] x [cols, depth] (per-channel weights, bias, input zero point) with
    random weights from `seed`, and two random input records."""
    rng = np.random.default_rng(seed)
    gb = GraphBuilder({"name": f"fc_{rows}x{depth}x{cols}"})
    x = gb.input("x", (rows, depth), scale=0.05, zero_point=3)
    w = gb.const("w", rng.integers(-127, 128, (cols, depth)).astype(np.int8), scale=rng.uniform(0.001, 0.01, cols),
                 zero_point=0)
    b = gb.const("b", rng.integers(-2000, 2000, cols).astype(np.int32))
    gb.output(gb.op("FULLY_CONNECTED", [x, w, b], scale=0.2, zero_point=-5))
    return gb.build(), [[rng.integers(-128, 128, (rows, depth)).astype(np.int8)] for _ in range(2)]


def fc_instructions_per_mac(board: str | Board, rows: int, depth: int, cols: int, out_dir: str | Path, *,
                            optimized: bool = True, seed: int = 0) -> dict[str, Any]:
    """Executed instructions per MAC of fc_graph(rows, depth, cols, seed) on a QEMU board (graph_instructions), with
    the Cortex-M DSP kernel or the portable one. The figure covers the whole kernel call (unpacking,
    requantization, loop overheads), not just the inner loop (the dual-MAC SMLAD bound is 0.5)."""
    g, records = fc_graph(rows, depth, cols, seed)
    r = graph_instructions(g, board, records, out_dir, optimized=optimized)
    macs = rows * depth * cols
    return {"board": r["board"], "shape": [rows, depth, cols], "kernel": "arm" if r["kernels"] else "portable",
            "macs": macs, "instructions": r["instructions"], "instructions_per_mac": r["instructions"] / macs,
            "bit_exact": r["bit_exact"], "counter": r["counter"], "clock_hz": r["clock_hz"]}


def firmware_record(model: str | Path | Graph, board: str, records: list[list[np.ndarray]], out_dir: str | Path,
                    *, tricks: bool = True) -> dict[str, Any]:
    """One benchmark record of `model` on QEMU board `board`: a semihosting image running `records`, checked bit
    for bit against the reference interpreter. Keys: model, board, instructions_per_inference (QEMU executed-
    instruction count, SysTick under -icount shift=0), macs, arena_bytes_predicted (planner), arena_bytes_measured
    (reported by the running firmware), arena_symbol_bytes (ELF), flash_bytes (ELF image) and flash_bytes_predicted,
    peak_sram and peak_sram_no_tricks (planner, with the kernels' scratch), stack_high_water and stack_predicted,
    bit_exact."""

    g, name = load_graph(model)
    m = build(g, board, out_dir, tricks=tricks, test_inputs=records)
    res = run_semihost(out_dir, g)
    exact = all(np.array_equal(a, run(g, rec)[o]) for rec, outs in zip(records, res.outputs, strict=True)
                for o, a in zip(g.outputs, outs, strict=True))
    b = load_board(board)
    arm = frozenset(m["arm_kernels"])
    return {
        "model": name if not isinstance(model, Graph) else g.metadata.get("name", "<graph>"), "board": m["board"],
        "tricks": tricks, "instructions_per_inference": min(res.instructions()),
        "macs": sum(call(n, g).opdef.macs(call(n, g)) for n in g.nodes),
        "arena_bytes_predicted": m["predicted"]["arena_total"], "arena_bytes_measured": res.arena_bytes,
        "arena_symbol_bytes": sum(m["measured"]["arena_symbols"].values()),
        "flash_bytes": m["measured"]["flash"], "flash_bytes_predicted": m["predicted"]["flash"],
        "peak_sram": make_plan(g, b, tricks, arm).peak_bytes,
        "peak_sram_no_tricks": make_plan(g, b, False, arm).peak_bytes,
        "stack_high_water": res.stack_used, "stack_predicted": m["predicted"]["stack"], "bit_exact": exact,
        "kernels": "arm" if m["arm_kernels"] else "portable",
    }
