"""The cost model of a candidate: exact memory from the firmware planner on its lowered integer graph, latency from
the board's calibration table, and the hard constraints of a search.

* :func:`lower_for_cost` lowers a model (or a config, built with seeded random weights) to the integer IR with the
  quantization stage (:mod:`edgefmr.quant`): the same graph ``edgefmr quantize`` writes, calibrated on a few
  training samples (the graph's structure and sizes do not depend on the calibration).
* :func:`candidate_cost` asks the firmware stage, ``edgefmr.firmware.cost.hardware_cost(graph, board)`` - the one
  function it offers the search, the same plan ``edgefmr build`` makes - for the arena per
  memory region and the flash of the constants, and ``edgefmr.profiling.calibration`` for the latency: the board's
  profiled table (``edgefmr profile``) or the documented default of its core type.
* SRAM of a candidate = the planner's arena + the stack reserve (``stack_bytes``, the ``edgefmr build`` default of
  8 KiB) in the board's stack region; flash = the graph's constants as placed by the planner.
* FPGA boards (``kind = "fpga"``): :func:`candidate_cost` asks the FPGA estimator,
  ``edgefmr.firmware.hls.estimate(graph, board)`` - the same function ``edgefmr build --board pynq-z2`` writes to
  manifest.json - for DSP, BRAM36, LUT and FF and the latency at the board clock. "SRAM" is then the on-chip block
  RAM the design uses (BRAM36 x 4.5 KiB, region ``BRAM``, no stack), flash the weight bytes the design holds, and
  the board term of the constraints the worst of DSP, BRAM36, LUT and FF over the device's.
* :func:`constraints` turns a cost and the budgets into Optuna constraint values (``<= 0`` is feasible): SRAM,
  flash and latency budgets, and every board region's capacity. A candidate over any of them is infeasible - a
  hard constraint, never a penalty on the objectives.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from edgefmr.boards import Board, load_board
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.cost import HardwareCost, hardware_cost
from edgefmr.ir import Graph
from edgefmr.nas.models.config import FamilyConfig
from edgefmr.nas.tasks import Task
from edgefmr.nas.train import build_model
from edgefmr.ops.registry import call
from edgefmr.profiling.calibration import estimate, load_calibration
from edgefmr.quant.quantizer import QuantOptions, quantize

#: The stack reserved by ``edgefmr build`` unless told otherwise (its --stack default).
DEFAULT_STACK_BYTES = 8192
#: Names of the constraint values, in the order :func:`constraints` returns them.
CONSTRAINT_NAMES = ("sram_budget", "flash_budget", "latency_budget", "board_sram", "board_flash")
#: The latency source of FPGA candidates (the estimator's cycle count at the board clock).
FPGA_LATENCY_SOURCE = "fpga-estimator"


def lower_for_cost(model_or_config: nn.Module | FamilyConfig, task: Task, *, calib_samples: int = 32,
                   seed: int = 0) -> Graph:
    """The integer IR graph of a candidate (a family model, or a family config built with weights from ``seed``)."""
    if isinstance(model_or_config, FamilyConfig):
        family = type(model_or_config).family
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = build_model(family, model_or_config, task.input_shape, task.n_classes)
    else:
        model = model_or_config
        family = getattr(getattr(model, "cfg", None), "family", None)
        if family is None:
            raise EdgefmrError(f"lower_for_cost: {type(model).__name__} is not a family model (it has no cfg)")
    n = max(1, min(calib_samples, len(task.x_train)))
    opts = QuantOptions(calib_samples=n, batch_size=n)
    qm = quantize(model, family, np.asarray(task.x_train[:n]), opts)
    return qm.graph()


@dataclass(frozen=True)
class Budgets:
    """The search's limits: SRAM and flash in bytes, latency in seconds or cycles (None: no limit)."""

    sram: int | None = None
    flash: int | None = None
    latency: float | None = None
    latency_unit: str = "s"  # "s" or "cycles"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Cost:
    """What a candidate needs on a board (see the module docstring)."""

    board: str
    arena: dict[str, int]
    sram: dict[str, int]  # per region: arena + stack
    sram_total: int
    flash: int
    stack_bytes: int
    latency_cycles: float
    latency_seconds: float
    latency_source: str  # "measured" (profiled table) or "default"
    macs: int
    available: dict[str, int] = field(default_factory=dict)  # per region this candidate uses
    resources: dict[str, int] = field(default_factory=dict)  # FPGA only: dsp, bram36, lut, ff
    resources_available: dict[str, int] = field(default_factory=dict)  # FPGA only: the device's

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _macs(graph: Graph) -> int:
    total = 0
    for node in graph.nodes:
        c = call(node, graph)
        total += int(c.opdef.macs(c))
    return total


def candidate_cost(graph: Graph, board: Board | str, *, stack_bytes: int = DEFAULT_STACK_BYTES,
                   table: dict[str, Any] | None = None) -> Cost:
    """Memory (the firmware stage's hardware_cost) and latency (calibration table; the estimator's cycles on an
    FPGA board) of a lowered graph on ``board`` (a Board or a name)."""
    b = load_board(board) if isinstance(board, str) else board
    if b.kind == "fpga":
        return fpga_cost(graph, b)
    if b.kind != "mcu":
        raise EdgefmrError(f"board {b.name} is an {b.kind} board: the search's cost model covers MCU and FPGA boards")
    hw = hardware_cost(graph, b)
    sram = dict(hw.arena)
    assert b.defaults is not None
    sram[b.defaults.stack] = sram.get(b.defaults.stack, 0) + int(stack_bytes)
    available = dict(hw.available)
    for r in sram:
        available.setdefault(r, int(b.region(r).size))
    if table is None:
        table = latency_table(b)
    est = estimate(graph, table)
    return Cost(board=b.name, arena=dict(hw.arena), sram=sram, sram_total=int(sum(sram.values())),
                flash=hw.flash_constants, stack_bytes=int(stack_bytes),
                latency_cycles=float(est["cycles"]), latency_seconds=float(est["seconds"]),
                latency_source=str(table.get("source", "default")), macs=_macs(graph), available=available)


def fpga_cost(graph: Graph, board: Board | str) -> Cost:
    """Resources, on-chip memory and latency of a lowered graph on an FPGA board, from the FPGA estimator (through
    the firmware stage's hardware_cost)."""
    hw: HardwareCost = hardware_cost(graph, board)
    assert hw.cycles is not None and hw.clock_hz is not None
    return Cost(board=hw.board, arena=dict(hw.arena), sram=dict(hw.arena), sram_total=hw.arena["BRAM"],
                flash=hw.flash_constants, stack_bytes=0, latency_cycles=hw.cycles,
                latency_seconds=hw.cycles / hw.clock_hz, latency_source=FPGA_LATENCY_SOURCE,
                macs=_macs(graph), available=dict(hw.available), resources=dict(hw.resources),
                resources_available=dict(hw.resources_available))


def latency_table(board: Board | str) -> dict[str, Any]:
    """The board's calibration table: profiled by ``edgefmr profile``, else the default of its core type. FPGA boards
    have none (their latency is the estimator's): a table naming only its source."""
    b = load_board(board) if isinstance(board, str) else board
    if b.kind == "fpga":
        return {"source": FPGA_LATENCY_SOURCE}
    return load_calibration(b)


def constraints(cost: Cost, budgets: Budgets, board: Board | str) -> list[float]:
    """Constraint values in :data:`CONSTRAINT_NAMES` order; a candidate is feasible when all are <= 0.

    Budget terms are (needed - budget) / budget; board terms the worst (needed - available) / available over the
    SRAM regions, and the same for flash. A missing budget gives -1.
    """
    b = load_board(board) if isinstance(board, str) else board

    def rel(need: float, limit: float | None) -> float:
        return -1.0 if limit is None else (need - limit) / max(limit, 1e-12)

    lat = cost.latency_seconds if budgets.latency_unit == "s" else cost.latency_cycles
    if cost.resources:  # an FPGA design: the device's DSP, BRAM, LUT and FF; no flash of its own
        board_sram = max((need - cost.resources_available[r]) / cost.resources_available[r]
                         for r, need in cost.resources.items())
        board_flash = -1.0
    else:
        board_sram = max((need - cost.available[r]) / cost.available[r] for r, need in cost.sram.items())
        fr = b.flash_region().name
        board_flash = (cost.flash - cost.available[fr]) / cost.available[fr]
    return [rel(cost.sram_total, budgets.sram), rel(cost.flash, budgets.flash), rel(lat, budgets.latency),
            board_sram, board_flash]


def feasible(values: list[float]) -> bool:
    return all(v <= 0 for v in values)


# ------------------------------------------------------------------------------------------ parsing

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)(i?[bB])?\s*$")
_TIME = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(s|ms|us|cycles)?\s*$")


#: the largest size a budget may state: a 32-bit address space
MAX_SIZE = 1 << 32


def parse_size(text: str, option: str) -> int:
    """Bytes from ``256KB``, ``256K``, ``256KiB``, ``1MB``, ``4096`` or ``4096B`` (K = 1024, M = 1024 * 1024)."""
    m = _SIZE.match(str(text))
    if not m:
        raise EdgefmrError(f"{option} {text!r}: expected a size such as 256KB, 1MB or 65536")
    n = float(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    if n <= 0:
        raise EdgefmrError(f"{option} {text!r}: must be > 0")
    if n > MAX_SIZE:
        raise EdgefmrError(f"{option} {text!r}: beyond 4 GiB, the 32-bit address space of every board edgefmr "
                           f"targets; valid: up to the board's memory (e.g. 256KB)")
    return int(n)


def parse_latency(text: str, option: str = "--latency-budget") -> tuple[float, str]:
    """(value, unit) from ``50ms``, ``0.05s``, ``20000us`` (seconds) or ``2e6cycles``; a bare number is seconds."""
    m = _TIME.match(str(text))
    if not m:
        raise EdgefmrError(f"{option} {text!r}: expected a time such as 50ms, 0.2s, 800us or cycles such as "
                           "2e6cycles")
    v = float(m.group(1))
    unit = m.group(2) or "s"
    if v <= 0:
        raise EdgefmrError(f"{option} {text!r}: must be > 0")
    if unit == "cycles":
        return v, "cycles"
    return v * {"s": 1.0, "ms": 1e-3, "us": 1e-6}[unit], "s"


def format_bytes(n: float) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{int(n)} B"
