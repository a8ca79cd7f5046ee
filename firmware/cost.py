"""What a model costs on a board, as the firmware stage would build it: the one entry point for earlier questions
(the search's cost model, `plan`, the report) so that they never reach inside the planner or a code generator.

* :func:`make_plan` - the memory plan `edgefmr build` makes: the planner with the scratch of the kernels the build
  links (Cortex-M variants on boards with the DSP extension).
* :func:`memory_report` - that plan's arena per region, flash of the constants and fit, as a dict.
* :func:`hardware_cost` - memory on an MCU board, or resources, on-chip memory and estimator cycles on an FPGA board,
  as one typed :class:`HardwareCost`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgefmr.boards import Board, load_board
from edgefmr.errors import EdgefmrError
from edgefmr.firmware import planner
from edgefmr.firmware.c import codegen
from edgefmr.firmware.c.codegen import arm_kernels_available
from edgefmr.firmware.c.emitters import kernel_scratch, lean_savings
from edgefmr.firmware.hls import estimate
from edgefmr.firmware.schedule import DEFAULT_BLOCK_ROWS, build_schedule
from edgefmr.ir import Graph
from edgefmr.ir.passes import fold_transposes_origin, optimize_origin

#: Bytes of one BRAM36 block (36 Kib): the unit of an FPGA design's on-chip memory.
BRAM36_BYTES = 36 * 1024 // 8


def build_arm_kernels(board: Board | None, optimized: bool = True) -> frozenset[str]:
    """The kernels a build for `board` uses in their Cortex-M variants (those need the DSP extension)."""
    return arm_kernels_available() if board is not None and board.dsp and optimized else frozenset()


def c_graph(g: Graph, tricks: bool, fuse: bool = True) -> tuple[Graph, list[list[int]]]:
    """The graph the C build compiles and, for each of its nodes, the indices of the nodes of `g` it computes: `g`
    after the IR passes (LayerNorm chains fused: edgefmr.ir.passes.optimize_origin) unless not `fuse`, with the
    TRANSPOSEs that only feed BATCH_MATMUL operands folded into the products' operand strides (fold_transposes),
    except those inside a fused attention step of the schedule (with `tricks`, which computes the transposes head by
    head itself). Every result is the same bit for bit."""
    out, origin = optimize_origin(g) if fuse else (g, [[i] for i in range(len(g.nodes))])
    if fuse and any(n.op == "TRANSPOSE" for n in out.nodes):
        keep: set[int] = set()
        if tricks:
            keep = {i for s in build_schedule(out, tricks=True).steps if s.kind == "attention" for i in s.nodes}
        folded, fold_origin = fold_transposes_origin(out, exclude=keep)
        if len(folded.nodes) != len(out.nodes):
            origin = [sorted(o for j in js for o in origin[j]) for js in fold_origin]
            out = folded
    return out, origin


@dataclass(frozen=True)
class Choices:
    """How the build plans memory: `block_rows` tokens per fused row block; `in_place` convolutions (planner.plan)
    and `lean` smaller-scratch kernel variants: True always, False never, None (the default) where they make the
    arena smaller."""

    block_rows: int = DEFAULT_BLOCK_ROWS
    in_place: bool | None = None
    lean: bool | None = None


def _plan(g: Graph, board: Board | None, tricks: bool, arm: frozenset[str], ch: Choices,
          lean: frozenset[str] = frozenset()) -> planner.Plan:
    p = planner.plan(g, board, tricks=tricks, scratch=kernel_scratch(g, arm, lean), block_rows=ch.block_rows,
                     in_place=ch.in_place)
    p.arm_kernels = arm
    p.lean_nodes = lean
    return p


def _slim(g: Graph, board: Board | None, p: planner.Plan, ch: Choices) -> planner.Plan:
    """`p` with the smaller-scratch kernel variants (e.g. FULLY_CONNECTED in blocks of four rows instead of six) of
    the nodes where they make the arena smaller (all of them with ch.lean, none with ch.lean False): adding them one
    at a time, largest saving first (one that leaves the arena as it is but takes a step off its peak is kept too:
    several steps may reach the peak), or, when that is larger, taking them all and giving back those that are free
    (the arena does not grow without them), whichever arena is smaller."""

    def key(q: planner.Plan) -> tuple[int, int]:
        return q.arena_size, sum(la.extent >= q.arena_size for la in q.layers)

    if ch.lean is False:
        return p
    saving = lean_savings(g, p.arm_kernels)
    order = sorted(saving, key=lambda k: (-saving[k], k))
    every = _plan(g, board, p.tricks, p.arm_kernels, ch, frozenset(saving))
    if ch.lean or not saving:
        return every
    for k in order:
        q = _plan(g, board, p.tricks, p.arm_kernels, ch, p.lean_nodes | {k})
        if key(q) < key(p):
            p = q
    if every.arena_size < p.arena_size:
        p = every
        for k in reversed(order):
            q = _plan(g, board, p.tricks, p.arm_kernels, ch, p.lean_nodes - {k})
            if q.arena_size <= p.arena_size:
                p = q
    return p


def _fits(p: planner.Plan, board: Board | None) -> bool:
    if board is None:
        return True
    try:
        p.check_fits(board)
    except EdgefmrError:
        return False
    return True


def _lean(g: Graph, board: Board | None, tricks: bool, arm: frozenset[str], ch: Choices) -> planner.Plan:
    """The plan with the Cortex-M kernels `arm` (slimmed); when their scratch makes the arena overflow the board,
    less the kernels whose scratch matters most (largest first, each left out only when that lowers the peak) until
    it fits."""
    p = _slim(g, board, _plan(g, board, tricks, arm, ch), ch)
    if not arm or _fits(p, board):
        return p
    cost = {k: sum(kernel_scratch(g, frozenset({k})).values()) for k in arm}
    for k in sorted((k for k in arm if cost[k]), key=lambda k: -cost[k]):
        q = _plan(g, board, tricks, p.arm_kernels - {k}, ch, p.lean_nodes)
        if q.peak_bytes < p.peak_bytes:
            p = q
        if _fits(p, board):
            break
    return p


def plan_compiled(g: Graph, board: Board | None, tricks: bool, arm: frozenset[str] = frozenset(),
                  block_rows: int = DEFAULT_BLOCK_ROWS, choose: bool = True, choices: Choices | None = None
                  ) -> planner.Plan:
    """The memory plan of a graph as the C build compiles it (c_graph's result), with the scratch the kernels need
    (`arm`: the kernels that may be built in their Cortex-M variants; a kernel whose scratch would make the arena
    overflow the board is built portable: Plan.arm_kernels lists those kept), and with `tricks` MCUFormer's fusions
    are used only when they do not make the arena larger than one step per node does (Plan.tricks says which was
    chosen; `choose=False` keeps `tricks` as given). `choices` (its block_rows replaces `block_rows`): in-place
    convolutions and lean kernel variants (Plan.lean_nodes)."""
    ch = choices or Choices(block_rows=block_rows)
    p = _lean(g, board, tricks, arm, ch)
    if tricks and choose:
        q = _lean(g, board, False, arm, ch)
        if sum(q.arena_bytes.values()) < sum(p.arena_bytes.values()):
            return q
    return p


def make_plan(g: Graph, board: Board | None, tricks: bool, arm: frozenset[str] = frozenset(),
              fuse: bool = True, block_rows: int = DEFAULT_BLOCK_ROWS, choose: bool = True,
              choices: Choices | None = None) -> planner.Plan:
    """The memory plan `edgefmr build` makes for `g` on `board`: the plan of c_graph(g) (unless not `fuse`) with the
    kernels' scratch."""
    return plan_compiled(c_graph(g, tricks, fuse)[0], board, tricks, arm, block_rows, choose, choices)


def const_data_bytes(cg: Graph, plan: planner.Plan, board: Board | None) -> int:
    """Bytes of constant data the C build of `cg` (c_graph's result) laid out by `plan` writes to model.c, as the
    code generator counts them (weights, biases and the kernels' precomputed parameters and tables, each array
    padded as the build pads it) before identical arrays are merged: the build's `const_bytes` never exceeds it,
    and it depends on the graph's shapes only, not on the weights' values (so a candidate costed with random weights
    costs the same once trained)."""
    gen = codegen.generate(cg, plan, default_region=board.defaults.arena if board is not None and board.defaults
                           else None, arm=plan.arm_kernels, model_hash="0" * 16, sizes_only=True)
    return int(gen.const_bytes_unmerged)


def _board(board: Board | str | None) -> Board | None:
    return load_board(board) if isinstance(board, str) else board


def memory_report(graph: Graph, board: Board | str | None = None, tricks: bool = True) -> dict[str, Any]:
    """Exact memory of `graph` on `board`: the plan `edgefmr build` makes (kernel scratch included).

    Returns {"board", "tricks", "region", "arena_bytes": {region: bytes}, "arena_total", "peak_bytes",
    "flash_constants_bytes", "flash_const_data_bytes", "requires_fused_codegen", "fits", "available": {region:
    bytes}, "state_bytes"} where `fits` and `available` (the arena region's and the flash region's sizes) are None/{}
    without a board. `flash_constants_bytes` counts the graph's constant tensors, `flash_const_data_bytes` every
    constant array the build writes to model.c (those tensors plus the kernels' per-channel multipliers, shifts,
    folded zero-point sums and tables: :func:`const_data_bytes`); `state_bytes` is the persistent state of a
    streaming step program (0 otherwise).
    """
    b = _board(board)
    cg = c_graph(graph, tricks)[0]
    p = plan_compiled(cg, b, tricks, build_arm_kernels(b))
    rep: dict[str, Any] = {"board": p.board, "tricks": tricks, "region": p.region, "arena_bytes": dict(p.arena_bytes),
                           "arena_total": sum(p.arena_bytes.values()), "peak_bytes": p.peak_bytes,
                           "flash_constants_bytes": graph.weight_bytes(),
                           "flash_const_data_bytes": const_data_bytes(cg, p, b),
                           "requires_fused_codegen": p.requires_fused_codegen, "fits": None, "available": {},
                           "state_bytes": p.state_bytes}
    if b is not None:
        fr = b.flash_region()
        rep["available"] = {p.region: b.region(p.region).size, fr.name: fr.size}
        try:
            p.check_fits(b)
            rep["fits"] = True
        except EdgefmrError:
            rep["fits"] = False
    return rep


@dataclass(frozen=True)
class HardwareCost:
    """A model's cost on one board as the firmware stage builds it.

    MCU boards: `arena` is the planner's arena per SRAM region, `available` each used region's size (and the flash
    region's), `flash_constants` the bytes of constant data the build writes (memory_report's
    `flash_const_data_bytes`). FPGA boards: `arena` is {"BRAM": bytes of the BRAM36 blocks
    the design uses}, `resources`/`resources_available` DSP, BRAM36, LUT and FF, and `cycles` the estimator's
    latency at `clock_hz`."""

    board: str
    kind: str
    arena: dict[str, int]
    available: dict[str, int]
    flash_constants: int
    resources: dict[str, int] = field(default_factory=dict)
    resources_available: dict[str, int] = field(default_factory=dict)
    cycles: float | None = None
    clock_hz: float | None = None


def hardware_cost(graph: Graph, board: Board | str) -> HardwareCost:
    """Memory (MCU: the build's plan with MCUFormer's tricks) or resources and cycles (FPGA: the estimator
    `edgefmr build --board <fpga>` uses) of `graph` on `board`."""
    b = _board(board)
    assert b is not None
    if b.kind == "fpga":
        est = estimate(graph, b, check=False)
        tot = est["total"]
        res = {r: int(tot[r]) for r in est["available"]}
        return HardwareCost(board=b.name, kind="fpga", arena={"BRAM": res["bram36"] * BRAM36_BYTES},
                            available={"BRAM": int(est["available"]["bram36"]) * BRAM36_BYTES},
                            flash_constants=int(graph.weight_bytes()), resources=res,
                            resources_available={r: int(v) for r, v in est["available"].items()},
                            cycles=float(tot["cycles"]), clock_hz=float(est["clock_hz"]))
    if b.kind != "mcu":
        raise EdgefmrError(f"board {b.name} is an {b.kind} board: costs cover MCU and FPGA boards")
    rep = memory_report(graph, b, tricks=True)
    fr = b.flash_region()
    available = {r: int(b.region(r).size) for r in rep["arena_bytes"]}
    available[fr.name] = int(fr.size)
    return HardwareCost(board=b.name, kind="mcu", arena={r: int(n) for r, n in rep["arena_bytes"].items()},
                        available=available, flash_constants=int(rep["flash_const_data_bytes"]))
