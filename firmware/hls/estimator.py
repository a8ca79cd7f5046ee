"""FPGA resource and latency estimator of the HLS design (FINN/hls4ml style: closed-form per-layer formulas),
and the choice of each layer's parallelism (pe x simd) so that the design fits the board.

The formulas are written out in docs/fpga.md. The MAC array terms (DSP, FF, LUT, cycles) are those of the RTL
array in firmware/rtl/mac_array.v, checked against yosys synth_xilinx and Icarus simulation by
tests/firmware/hls/test_rtl.py; memories follow the BRAM18 aspect ratios (512x36 ... 16Kx1) with small memories in
LUTRAM; wide multiplies cost ceil(a/25) x ceil(b/18) DSP48E1 (ceil(a/27) x ceil(b/18) DSP48E2).

Public entry point: `estimate(graph, board) -> dict` (per layer and total: dsp, bram36, lut, ff, cycles, latency at
the board clock, the chosen pe x simd), used by `edgefmr build` and by the search as its FPGA cost model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from edgefmr.boards import Board, load_board
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.hls.codegen import generate
from edgefmr.firmware.hls.emitters import Folding, mac_array
from edgefmr.firmware.hls.emitters.add import binary_requants
from edgefmr.firmware.hls.emitters.layer_norm_chain import chain_ii
from edgefmr.firmware.hls.emitters.softmax import normalizer_lanes, sum_terms
from edgefmr.firmware.hls.engine import (
    FIELDS,
    arena_view,
    ddr_buffer_bytes,
    engine_plan,
    engine_rows,
    shared_unit,
)
from edgefmr.firmware.rtl import ENGINE_LAYER_OVERHEAD
from edgefmr.ir import Graph
from edgefmr.ir.graph import np_dtype
from edgefmr.ir.passes import optimize
from edgefmr.ops.registry import call
from edgefmr.ops.softmax import exp_table

#: MAC array (firmware/rtl/mac_array.v): control flip-flops (fold counters 32 + 16 + 16 + busy, four 4-stage
#: control pipelines, two output flags) and LUTs (counter and compare logic), fixed per array.
MAC_CTRL_FF = 83
MAC_CTRL_LUT = 62
#: Per processing element: the accumulator register (ACC_W FF) and its adder + first/accumulate select
#: (2 LUT per bit); operand and product registers are absorbed into the DSP48 (A/B/M registers) and the
#: SIMD adder tree into the DSP post-adder cascade.
MAC_LUT_PER_ACC_BIT = 2
#: Address-to-accumulation latency of the array plus its output register.
MAC_LATENCY = 5
#: Control of one dataflow process (loop counters, FSM, stream handshakes).
PROCESS_FF, PROCESS_LUT = 64, 96
#: One requantization unit (64-bit product of the accumulator and a Q31 multiplier, rounding shift, clamp).
REQUANT_FF, REQUANT_LUT = 110, 140
#: Pipeline fill of a pipelined loop, paid once per loop entry.
LOOP_FILL = 3
#: Utilization the folding search aims at (docs/fpga.md); more than 100 % is an error.
TARGET_UTILIZATION = 0.8
#: Bits of one BRAM36 block (data and parity).
BRAM36_BITS = 36 * 1024
#: Memories of at most this many bits go to LUTRAM (64 x 1 bits per LUT) instead of block RAM.
LUTRAM_MAX_BITS = 1024
#: FIFOs of depth <= 2 are registers; deeper ones up to SRL_MAX_DEPTH are shift registers (32 x 1 bits per LUT).
SRL_MAX_DEPTH = 64


def _dsp_shape(board: Board) -> tuple[int, int]:
    """Multiplier operand widths of one DSP slice (signed): DSP48E1 25 x 18 (7-series), DSP48E2 27 x 18."""
    fam = (board.fpga.family if board.fpga else "") or ""
    return (25, 18) if fam in ("zynq-7000", "artix-7", "kintex-7", "virtex-7") else (27, 18)


def mult_dsp(a_bits: int, b_bits: int, board: Board) -> int:
    """DSP slices of one a_bits x b_bits signed multiply: ceil(a / A) x ceil(b / B), 0 below 10 x 10 bits."""
    if a_bits * b_bits < 100:
        return 0
    wa, wb = _dsp_shape(board)
    a, b = max(a_bits, b_bits), min(a_bits, b_bits)
    return math.ceil(a / wa) * math.ceil(b / wb)


def bram18(width: int, depth: int) -> int:
    """BRAM18 blocks of one width x depth memory: the aspect ratio with the fewest blocks (512x36, 1Kx18, 2Kx9,
    4Kx4, 8Kx2, 16Kx1)."""
    if width <= 0 or depth <= 0:
        return 0
    best = None
    for d, w in ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)):
        n = math.ceil(width / w) * math.ceil(depth / d)
        best = n if best is None else min(best, n)
    return int(best)


@dataclass
class Memory:
    """Resources of one memory (ROM, buffer or FIFO)."""

    bram18: int = 0
    lut: int = 0
    ff: int = 0


def memory(width: int, depth: int, kind: str = "ram") -> Memory:
    """A width x depth memory: LUTRAM when small, else block RAM; FIFOs (kind="fifo"): registers up to depth 2,
    shift registers up to SRL_MAX_DEPTH, block RAM beyond."""
    if width <= 0 or depth <= 0:
        return Memory()
    if kind == "fifo":
        if depth <= 2:
            return Memory(ff=2 * width)
        if depth <= SRL_MAX_DEPTH:
            return Memory(lut=width * math.ceil(depth / 32) + 8, ff=width + 8)
        return Memory(bram18=bram18(width, depth), lut=24, ff=40)
    if width * depth <= LUTRAM_MAX_BITS:
        return Memory(lut=width * math.ceil(depth / 64))
    return Memory(bram18=bram18(width, depth))


def _bits(dtype: str) -> int:
    return 8 if dtype == "bool" else np_dtype(dtype).itemsize * 8


@dataclass
class LayerCost:
    """Estimated cost of one dataflow process."""

    name: str
    op: str
    cycles: int
    dsp: int = 0
    bram18: int = 0
    lut: int = 0
    ff: int = 0
    pe: int = 1
    simd: int = 1
    detail: dict[str, Any] = field(default_factory=dict)

    def add(self, m: Memory) -> None:
        self.bram18 += m.bram18
        self.lut += m.lut
        self.ff += m.ff

    def as_dict(self, clock_hz: int) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "pe": self.pe, "simd": self.simd, "dsp": self.dsp,
                "bram36": math.ceil(self.bram18 / 2), "bram18": self.bram18, "lut": self.lut, "ff": self.ff,
                "cycles": self.cycles, "latency_us": self.cycles / clock_hz * 1e6, **self.detail}


def mac_array_cost(pe: int, simd: int, vectors: int, cols: int, depth: int, kind: str, board: Board
                   ) -> dict[str, int]:
    """The pe x simd array alone (the part validated against RTL): dsp, ff, lut, cycles."""
    nf, sf = cols // pe, depth // simd
    if kind == "mac":
        acc_w = (depth * 255 * 128).bit_length() + 1
        dsp = pe * simd  # one DSP48 per 9 x 8-bit product (yosys maps them so; see docs/fpga.md)
        lut = MAC_CTRL_LUT + MAC_LUT_PER_ACC_BIT * pe * acc_w
    elif kind == "add":  # selects and additions only: an adder tree in LUTs per PE, no DSP
        acc_w = (depth * 255).bit_length() + 1
        dsp = 0
        lut = MAC_CTRL_LUT + pe * (simd * 9 + MAC_LUT_PER_ACC_BIT * acc_w)
    else:  # mac32: 32 x 32-bit products, int64 accumulation (LMU state update)
        acc_w = 64
        dsp = pe * simd * mult_dsp(32, 32, board)
        lut = MAC_CTRL_LUT + MAC_LUT_PER_ACC_BIT * pe * acc_w
    return {"dsp": dsp, "ff": MAC_CTRL_FF + pe * acc_w, "lut": lut, "cycles": vectors * nf * sf + MAC_LATENCY,
            "acc_bits": acc_w}


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def layer_cost(c: Any, fold: Folding, board: Board) -> LayerCost:
    """Cycles and resources of the layer of node `c` with parallelism `fold` (formulas: docs/fpga.md)."""
    node = c.node
    op = node.op
    name = node.name or node.outputs[0]
    x = c.inp(0)
    y = c.out()
    data_in = sum(c.inp(i).size for i in range(len(node.inputs)) if c.inp(i) is not None and not c.inp(i).is_const)
    lc = LayerCost(name, op, 0, pe=fold.pe, simd=fold.simd)
    lc.ff, lc.lut = PROCESS_FF, PROCESS_LUT
    mac = mac_array(c)
    requant = 1
    if mac is not None:
        m = mac_array_cost(fold.pe, fold.simd, mac.vectors, mac.cols, mac.depth, mac.kind, board)
        nf, sf = mac.cols // fold.pe, mac.depth // fold.simd
        lc.dsp += m["dsp"]
        lc.ff += m["ff"]
        lc.lut += m["lut"]
        folds = mac.vectors * nf
        if op in ("FULLY_CONNECTED", "SPIKE_FULLY_CONNECTED", "BINARY_FULLY_CONNECTED"):
            load = mac.vectors * (mac.depth + LOOP_FILL)
            lc.add(memory(9 * fold.simd, mac.depth // fold.simd))  # row buffer, simd banks
        elif op == "BATCH_MATMUL":
            load = data_in
            lhs, rhs = c.inp(0).size, c.inp(1).size
            lc.add(memory(9 * fold.simd, math.ceil(lhs / fold.simd)))
            lc.add(memory(9 * fold.simd * fold.pe, math.ceil(rhs / (fold.simd * fold.pe))))
        elif op == "LMU_UPDATE":
            channels = x.size // max(x.shape[0], 1)
            load = 2 * channels * mac.cols + x.size  # initial and final states, one input per step and channel
            lc.add(memory(32, channels * mac.cols))  # the states
        else:  # CONV_2D, DEPTHWISE_CONV_2D: the stored input
            load = x.size
            lc.add(memory(9, x.size))
        # weights: pe x simd banks of nf x sf words
        wbits = 1 if mac.kind == "add" and op == "BINARY_FULLY_CONNECTED" else (32 if mac.kind == "mac32" else 8)
        if op != "BATCH_MATMUL":
            bank = memory(wbits * fold.simd, nf * sf)
            for _ in range(fold.pe):
                lc.add(bank)
        out_cycles = folds * (fold.pe + LOOP_FILL) if op != "LMU_UPDATE" else mac.vectors * mac.cols
        lc.cycles = load + m["cycles"] + folds * LOOP_FILL + out_cycles
        lc.detail = {"mac_cycles": m["cycles"], "acc_bits": m["acc_bits"], "reuse": nf * sf}
        requant = 1
    elif op in ("SOFTMAX", "CLIPPED_SOFTMAX"):
        depth = x.shape[-1]
        rows = x.size // max(depth, 1)

        window = softmax_window(c)
        lanes = normalizer_lanes(window, depth)
        lc.cycles = 256 + rows * (2 * depth + math.ceil(window / lanes) + 3 * LOOP_FILL + 40)
        lc.add(memory(8, depth))
        for _ in range(lanes):  # counts and row tags, one bank per lane
            lc.add(memory(32 + 32, math.ceil(256 / lanes)))
        # count x term per lane, the reciprocal (Newton-Raphson) and output multiplies
        lc.dsp += lanes * mult_dsp(max(depth.bit_length(), 10), 20, board) + mult_dsp(32, 32, board)
        lc.detail = {"window": window, "lanes": lanes}
        lc.lut += 400
        lc.ff += 300
    elif op == "LAYER_NORM":
        ch = x.shape[-1]
        rows = x.size // max(ch, 1)
        lc.cycles = rows * (2 * ch + 32 + 64 + 2 * LOOP_FILL)
        lc.add(memory(8, ch))
        lc.dsp += mult_dsp(8, 8, board) + mult_dsp(48, 48, board)  # x^2, (C x - s1) x recip
        lc.lut += 64 * 3 + 300  # 64-bit divider (iterative) and square root
        lc.ff += 64 * 4
    elif op in ("LAYER_NORM_CHAIN", "ADD_LAYER_NORM_CHAIN"):
        # kernels/layer_norm_chain.h: the row stored while it is summed (the residual ADD at II = 3), a squares
        # pass at II = var_ii, an output pass at II = norm_ii: the stages' requantizations share one unit
        ch = x.shape[-1]
        rows = x.size // max(ch, 1)
        ii = chain_ii(c)
        load_ii = 3 if op == "ADD_LAYER_NORM_CHAIN" else 1
        lc.cycles = rows * (ch * (load_ii + ii["var_ii"] + ii["norm_ii"]) + 3 * LOOP_FILL + 8)
        lc.add(memory(8, ch))
        lc.add(memory(8, 256))  # RSQRT(ADD(v, eps))
        lc.dsp += mult_dsp(24, 24, board) if c.attrs["square_form"] == "squared_difference" else 0
        requant = 1
        lc.detail = {"requant_ops_per_element": load_ii - 1 + ii["var_ii"] + ii["norm_ii"]}
    elif op == "HASH_ATTENTION":
        f_bits = c.inp(0).shape[-1]
        nk, nq, d = c.inp(1).shape[-2], c.inp(0).shape[-2], c.inp(2).shape[-1]
        batch = c.inp(2).size // max(nk * d, 1)
        lc.cycles = batch * (nk * (f_bits + d) + nq * (f_bits + nk + d * nk + d))
        lc.add(memory(16, nk * d))
        lc.add(memory(8, nk * f_bits))
        lc.dsp += mult_dsp(16, 16, board) + mult_dsp(48, 32, board)
        lc.lut += f_bits * 8 + 200
    else:
        out = sum(c.out(j).size for j in range(len(node.outputs)))
        buffered = 0
        if op in ("TRANSPOSE", "STRIDED_SLICE", "GATHER", "MEAN", "AVERAGE_POOL_2D", "MAX_POOL_2D"):
            buffered = data_in
            for i in range(len(node.inputs)):
                t = c.inp(i)
                if t is not None and not t.is_const:
                    lc.add(memory(_bits(t.dtype), t.size))
        elif op in ("ADD", "SUB", "MUL", "SQUARED_DIFFERENCE"):
            for i in (0, 1):
                t = c.inp(i)
                if t.size != y.size:
                    buffered += t.size
                    lc.add(memory(8, t.size))
        elif op in ("LIF",):
            neurons = x.size // max(x.shape[0], 1)
            buffered = 2 * neurons
            lc.add(memory(32, neurons))
        work = out
        if op == "MEAN":
            work = x.size
        elif op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            work = out * int(c.attrs.get("filter_h") or 1) * int(c.attrs.get("filter_w") or 1)
        ii = binary_requants(op) if op in ("ADD", "SUB", "MUL", "SQUARED_DIFFERENCE") else 1
        lc.cycles = buffered + ii * work + 2 * LOOP_FILL
        # one requantization unit per layer: ADD/SUB/SQUARED_DIFFERENCE's three per element share it (II = 3)
        requant = 1 if op in ("ADD", "SUB", "SQUARED_DIFFERENCE", "MUL", "MEAN", "ATTENTION_GATE", "LIF",
                              "QUANTIZE") else 0
        if op == "SQUARED_DIFFERENCE":
            lc.dsp += mult_dsp(24, 24, board)  # the square of the rescaled difference
        if op in ("RELU", "RELU6") and x.dtype == "int16":
            requant = 1
        if op in ("LUT", "LOGISTIC", "TANH", "RSQRT", "RELU", "RELU6", "QUANTIZE", "DEQUANTIZE") and \
                x.dtype in ("int8", "uint8"):
            requant = 0
            lc.add(memory(32 if y.dtype == "float32" else 8, 256))
        if op == "ATTENTION_GATE":
            lc.add(memory(32, 256))
    if requant:
        lc.dsp += requant * mult_dsp(33, 32, board)
        lc.lut += requant * REQUANT_LUT
        lc.ff += requant * REQUANT_FF
        lc.detail["requant_units"] = requant
    if mac is not None:  # biases and per-channel multipliers and shifts of the MAC layers
        lc.add(memory(32, 2 * y.shape[-1] if y.shape else 2))
    else:  # constant operands the kernel reads as ROMs (gamma, beta, tables), each its own memory
        for i in range(len(node.inputs)):
            t = c.inp(i)
            if t is not None and t.is_const and t.size > 1:
                lc.add(memory(_bits(t.dtype), t.size))
    return lc


def softmax_window(c: Any) -> int:
    """The online softmax's normalizer length: the non-zero row-sum terms of the node's exp table."""
    return len(sum_terms(exp_table(c.attrs["beta"], c.inp(0).scale)))


def process_cost(kind: str, ctype_bits: int, elements: int, ways: int = 1) -> LayerCost:
    """A fan-out, ROM source, copy or drain process: one element per cycle."""
    lc = LayerCost(kind, kind.upper(), elements + LOOP_FILL, lut=PROCESS_LUT // 2, ff=PROCESS_FF // 2)
    if kind == "rom_source":
        lc.add(memory(ctype_bits, elements))
    return lc


def _node_costs(g: Graph, folding: dict[str, Folding], board: Board) -> list[LayerCost]:
    return [layer_cost(call(n, g), folding.get(n.name or n.outputs[0], Folding()), board) for n in g.nodes]


def _stream_costs(g: Graph, board: Board) -> tuple[list[LayerCost], list[dict[str, Any]]]:
    """Extra processes and FIFOs of the dataflow region, from the code generator's plan."""

    model = generate(g, text=False)
    extra = []
    for p in model.processes:
        if p["kind"] == "layer":
            continue
        t = g.tensor(p["tensor"])
        extra.append(process_cost(p["kind"], _bits(t.dtype), t.size, p.get("ways", 1)))
    fifos = []
    for s in model.streams:
        bits = _bits(g.tensor(s.tensor).dtype)
        m = memory(bits, s.depth, "fifo")
        fifos.append({"name": s.name, "depth": s.depth, "bits": bits, "bram18": m.bram18, "lut": m.lut, "ff": m.ff})
    return extra, fifos


def _critical_path(g: Graph, costs: list[LayerCost]) -> int:
    """Cycles of the longest producer -> consumer chain of layers (the latency of one inference when each layer
    starts after its inputs are complete)."""
    producers = g.producers()
    finish: list[int] = []
    for i, node in enumerate(g.nodes):
        start = 0
        for t in node.inputs:
            if t and t in producers:
                start = max(start, finish[producers[t]])
        finish.append(start + costs[i].cycles)
    return max(finish) if finish else 0


def _totals(costs: list[LayerCost], extra: list[LayerCost], fifos: list[dict]) -> dict[str, int]:
    b18 = sum(c.bram18 for c in costs + extra) + sum(f["bram18"] for f in fifos)
    return {"dsp": sum(c.dsp for c in costs + extra), "bram36": math.ceil(b18 / 2),
            "lut": sum(c.lut for c in costs + extra) + sum(f["lut"] for f in fifos),
            "ff": sum(c.ff for c in costs + extra) + sum(f["ff"] for f in fifos)}


RESOURCES = ("dsp", "bram36", "lut", "ff")


def _available(board: Board) -> dict[str, int]:
    f = board.fpga
    return {"dsp": f.dsp, "bram36": f.bram36, "lut": f.lut, "ff": f.ff}


def choose_folding(g: Graph, board: Board, target: float = TARGET_UTILIZATION) -> dict[str, Folding]:
    """Per foldable layer, the cheapest pe x simd such that no layer is slower than a common target interval,
    with the smallest interval whose design stays within `target` of every resource (FINN's folding search).
    When nothing fits the target, the all-1x1 design (checked against 100 % by `estimate`)."""
    nodes = [(call(n, g), n.name or n.outputs[0]) for n in g.nodes]
    foldable = [(c, key, mac_array(c)) for c, key in nodes if mac_array(c) is not None]
    if not foldable:
        return {}
    options: dict[str, list[tuple[int, Folding, LayerCost]]] = {}
    for c, key, m in foldable:
        cands = []
        for pe in _divisors(m.cols):
            for simd in (_divisors(m.depth) if m.kind != "mac32" else [1]):
                lc = layer_cost(c, Folding(pe, simd), board)
                cands.append((lc.cycles, Folding(pe, simd), lc))
        cands.sort(key=lambda t: (t[2].dsp + t[2].bram18, t[0]))
        options[key] = cands
    fixed = [layer_cost(c, Folding(), board) for c, key in nodes if mac_array(c) is None]
    extra, fifos = _stream_costs(g, board)
    avail = _available(board)
    floor = max([lc.cycles for lc in fixed] + [0])

    def pick(interval: int) -> dict[str, Folding]:
        out = {}
        for key, cands in options.items():
            ok = [t for t in cands if t[0] <= interval]
            out[key] = ok[0][1] if ok else min(cands, key=lambda t: t[0])[1]
        return out

    def fits(fold: dict[str, Folding]) -> bool:
        costs = _node_costs(g, fold, board)
        tot = _totals(costs, extra, fifos)
        return all(tot[r] <= target * avail[r] for r in RESOURCES)

    intervals = sorted({t[0] for cands in options.values() for t in cands if t[0] >= floor} |
                       {max(floor, min(t[0] for t in cands)) for cands in options.values()})
    # resources shrink as the interval grows: binary search the smallest interval that fits
    lo, hi = 0, len(intervals) - 1
    if not fits(pick(intervals[hi])):
        return {key: Folding() for key in options}
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(pick(intervals[mid])):
            hi = mid
        else:
            lo = mid + 1
    return pick(intervals[lo])


def _dataflow(graph: Graph, b: Board, fold: dict[str, Folding]) -> dict[str, Any]:
    costs = _node_costs(graph, fold, b)
    extra, fifos = _stream_costs(graph, b)
    tot = _totals(costs, extra, fifos)
    latency = _critical_path(graph, costs)
    interval = max([c.cycles for c in costs + extra] + [1])
    clock = b.clock_hz
    return {"design": "dataflow", "layers": [c.as_dict(clock) for c in costs],
            "processes": [c.as_dict(clock) for c in extra], "fifos": fifos,
            "total": {**tot, "cycles": latency, "latency_us": latency / clock * 1e6, "interval_cycles": interval,
                      "throughput_per_s": clock / interval},
            "folding": {k: {"pe": f.pe, "simd": f.simd} for k, f in fold.items()}}


def _engine(e: dict[str, Any], b: Board) -> dict[str, Any]:
    clock = b.clock_hz
    cyc = e["cycles"]
    eng = e["engine"]
    return {"design": "engine", "layers": [c.as_dict(clock) for c in [eng, *e["kernels"]]], "processes": [],
            "fifos": [],
            "total": {**e["total"], "cycles": cyc, "latency_us": cyc / clock * 1e6, "interval_cycles": cyc,
                      "throughput_per_s": clock / cyc},
            "folding": {},
            "engine": {"pe": e["pe"], "simd": e["simd"], "weights": e["weights"], "acc_bits": e["acc_bits"],
                       "matrix_layers": e["matrix_layers"], "mac_cycles": e["mac_cycles"],
                       "weight_words": e["weight_words"], "weight_word_bits": e["weight_word_bits"],
                       "memories": e["memories"], "array": e["array"]}}


def estimate(graph: Graph, board: str | Board, folding: dict[str, Folding] | None = None,
             target: float = TARGET_UTILIZATION, *, check: bool = True, design: str | None = None,
             engine: tuple[int, int, str] | None = None) -> dict[str, Any]:
    """Resources and latency of `graph` on FPGA `board`, as `edgefmr build` makes it: `design` "dataflow" (one
    process per layer, FINN-style folding) or "engine" (the shared engine, docs/fpga.md); None chooses: the
    dataflow design when its folding fits `target` of every resource, else the fastest engine that does, else the
    dataflow design at 1 x 1. Returns per layer and total (dsp, bram36, lut, ff, cycles, latency), utilization,
    the folding (dataflow) or the engine's pe x simd and weight place, and `over` (the resources beyond the
    board's). `folding` fixes the dataflow folding; `engine` = (pe, simd, weights) fixes the engine. With `check`,
    an EdgefmrError naming the resource, needed and available when the design does not fit the board (the search
    passes check=False and treats `over` as a violated constraint)."""
    b = load_board(board) if isinstance(board, str) else board
    if b.kind != "fpga" or b.fpga is None:
        raise EdgefmrError(f"board {b.name!r} is a {b.kind} board; the FPGA estimator needs an FPGA board "
                           f"(pynq-z2, ultra96-v2, zcu102, kv260)")
    if design is not None and design not in DESIGNS:
        raise EdgefmrError(f"FPGA design must be one of {', '.join(DESIGNS)}, got {design!r}")
    graph = optimize(graph)
    avail = _available(b)
    if folding is not None and design is None:
        design = "dataflow"
    if engine is not None and design is None:
        design = "engine"
    out = None
    if design in (None, "dataflow"):
        out = _dataflow(graph, b, folding if folding is not None else choose_folding(graph, b, target))
        fits = all(out["total"][r] <= target * avail[r] for r in RESOURCES)
        if design is None and not fits:
            e = choose_engine(graph, b, target)
            if e is not None:
                out = _engine(e, b)
    else:
        if engine is not None:
            e = engine_cost(graph, b, *engine)
        else:
            e = choose_engine(graph, b, target) or engine_cost(graph, b, 1, 1, "ddr")
        out = _engine(e, b)
    tot = out["total"]
    over = [r for r in RESOURCES if tot[r] > avail[r]]
    if over and check:
        r = over[0]
        raise EdgefmrError(f"the design does not fit {b.name} ({b.fpga.part}): {r.upper()} needed {tot[r]}, "
                           f"available {avail[r]}" + "".join(f"; {o.upper()} needed {tot[o]}, available "
                                                             f"{avail[o]}" for o in over[1:]))
    return {"board": b.name, "part": b.fpga.part, "clock_hz": b.clock_hz, **out, "available": avail,
            "utilization": {r: tot[r] / avail[r] for r in RESOURCES}, "over": over}


# ---------------------------------------------------------------------------------------------------------------
# The shared engine (firmware/hls/engine.py): one PE x SIMD array + one requantization unit for every matrix layer.

#: Engine array control (firmware/rtl/engine.v, yosys synth_xilinx): layer sequencer, table row register, fold
#: counters and control pipelines; per PE the accumulator (ACC_W FF, 2 LUT per bit) as in the dataflow array.
ENGINE_CTRL_FF = 107
ENGINE_CTRL_LUT = 146
#: Address generation of the engine's operands (conv taps with padding, strided BMM operands: counters and adders,
#: an hls4ml-style estimate, not measured) and the AXI master adapter of weights in DDR.
ENGINE_ADDR_FF, ENGINE_ADDR_LUT = 200, 300
AXI_MASTER_FF, AXI_MASTER_LUT = 1600, 1200
#: Bytes per cycle of the AXI master port that reads weights from DDR (64-bit HP port at the PL clock).
DDR_BYTES_PER_CYCLE = 8
#: The array sizes and weight places the design choice tries.
ENGINE_SIZES = (1, 2, 4, 8, 16)
DESIGNS = ("dataflow", "engine")


def engine_array_cost(pe: int, simd: int, rows: list[tuple[int, int, int]], acc_w: int) -> dict[str, int]:
    """The engine's array and layer-table control alone (the part validated against RTL, firmware/rtl/engine.v):
    dsp, ff, lut and the cycles of the layers `rows` (vectors, NF, SF) from start to done."""
    return {"dsp": pe * simd, "ff": ENGINE_CTRL_FF + pe * acc_w,
            "lut": ENGINE_CTRL_LUT + MAC_LUT_PER_ACC_BIT * pe * acc_w,
            "cycles": sum(v * nf * sf + ENGINE_LAYER_OVERHEAD for v, nf, sf in rows) + 1}


@dataclass
class _EngineParts:
    """What every engine candidate of one graph shares: its matrix rows, arena, the shared elementwise and
    LayerNorm-chain units and the other layers' costs."""

    rows: list[Any]
    arena_bytes: int
    table_rows: int
    bias_words: int
    q_words: int
    kernels: list[LayerCost]
    io_cycles: int
    shared: list[LayerCost]


def _shared_units(g: Graph, board: Board, nodes: dict[str, list[int]]) -> tuple[list[LayerCost], int]:
    """The engine's shared elementwise and LayerNorm-chain units (one requantization unit each, kernels/engine.h)
    for the nodes they run, and the bytes of the engine's constant memory (constant operands, gamma, beta, RSQRT
    tables)."""
    units, const_bytes = [], 0
    for unit, idx in nodes.items():
        if not idx:
            continue
        calls = [call(g.nodes[i], g) for i in idx]
        lc = LayerCost(f"shared {unit}", "ENGINE_" + unit.upper(), 0, lut=PROCESS_LUT + REQUANT_LUT,
                       ff=PROCESS_FF + REQUANT_FF, dsp=mult_dsp(33, 32, board))
        lc.detail = {"layers": len(idx), "requant_units": 1}
        for c in calls:  # constant operands, gamma and beta (and eps, one byte) in the constant memory
            const_bytes += sum(c.inp(i).size for i in range(len(c.node.inputs))
                               if c.inp(i) is not None and c.inp(i).is_const and c.inp(i).dtype == "int8")
        if unit == "softmax":  # no requantization: the normalizer's lanes, the reciprocal and the count memories
            lanes = max(normalizer_lanes(softmax_window(c), c.inp(0).shape[-1]) for c in calls)
            depth = max(c.inp(0).shape[-1] for c in calls)
            lc.dsp = lanes * mult_dsp(max(depth.bit_length(), 10), 20, board) + mult_dsp(32, 32, board)
            lc.lut, lc.ff = PROCESS_LUT + 400, PROCESS_FF + 300
            lc.detail = {"layers": len(idx), "lanes": lanes}
            lc.add(memory(8, depth))
            for _ in range(lanes):
                lc.add(memory(32 + 32, math.ceil(256 / lanes)))
            lc.add(memory(32, sum(256 + softmax_window(c) for c in calls)))  # exp tables and row-sum terms
            const_bytes += 256 * sum(1 for c in calls if c.node.op == "CLIPPED_SOFTMAX")  # post tables
            lc.cycles = sum(layer_cost(c, Folding(), board).cycles for c in calls)
            fields = 9
        elif unit == "binary":
            if any(c.node.op == "SQUARED_DIFFERENCE" for c in calls):
                lc.dsp += mult_dsp(24, 24, board)
            lc.lut += 200  # the odometer of the broadcast strides
            lc.ff += 6 * 3 * 16
            lc.cycles = sum(binary_requants(c.node.op) * c.out().size + 2 * LOOP_FILL for c in calls)
            fields = 8 + 3 * 6 + 12
        else:
            if any(c.attrs["square_form"] == "squared_difference" for c in calls):
                lc.dsp += mult_dsp(24, 24, board)
            ch = max(c.inp(0).shape[-1] for c in calls)
            lc.add(memory(8, ch))  # the row
            const_bytes += 256 * len(calls)  # RSQRT(ADD(v, eps)) per chain
            lc.cycles = sum(layer_cost(c, Folding(), board).cycles for c in calls)
            fields = 15 + 62
        lc.add(memory(32, fields * len(idx)))  # the unit's table of rows
        units.append(lc)
    return units, const_bytes


def _engine_parts(g: Graph, board: Board) -> _EngineParts:
    rows = engine_rows(g)
    plan = engine_plan(g)
    matrix = {r.node for r in rows}
    kernels = []
    shared: dict[str, list[int]] = {"binary": [], "lnc": [], "softmax": []}
    for i, n in enumerate(g.nodes):
        if i in matrix or plan.is_noop(i):
            continue
        c = call(n, g)
        unit = shared_unit(c)
        if unit is not None:
            shared[unit].append(i)
            continue
        if arena_view(c):  # read through its strided view straight from the arena: no buffer, no unit
            kernels.append(LayerCost(n.name or n.outputs[0], n.op, c.out().size + 2 * LOOP_FILL, lut=PROCESS_LUT,
                                     ff=PROCESS_FF))
            continue
        lc = layer_cost(c, Folding(), board)
        lc.cycles += 2 * LOOP_FILL  # the arena reader and writer around the kernel
        lc.lut += PROCESS_LUT  # reader and writer processes
        lc.ff += PROCESS_FF
        kernels.append(lc)
    units, const_bytes = _shared_units(g, board, shared)
    if units:
        consts = LayerCost("constants", "ENGINE_CONSTANTS", 0)
        consts.add(memory(8, max(const_bytes, 1)))
        units.append(consts)
    io = sum(g.tensor(t).size for t in [*g.inputs, *g.outputs]) + 2 * LOOP_FILL
    return _EngineParts(rows, max(plan.arena_size, 1), max(len(rows), 1), sum(r.bias.size for r in rows),
                        sum(r.mult.size for r in rows), kernels, io, units)


def engine_cost(g: Graph, board: Board, pe: int, simd: int, weights: str, parts: _EngineParts | None = None
                ) -> dict[str, Any]:
    """Resources and cycles of the shared-engine design of `g` (already optimized) with a pe x simd array and its
    weights in "bram" or "ddr" (formulas: docs/fpga.md, "Shared engine")."""
    p = parts or _engine_parts(g, board)
    acc_w = max([r.acc_bits for r in p.rows] + [2])
    folds = [(r.vectors, -(-r.cols // pe), -(-r.depth // simd)) for r in p.rows]
    arr = engine_array_cost(pe, simd, folds, acc_w)
    table_cycles = len(FIELDS) * len(p.rows)  # each layer's table row is read one 32-bit field per cycle
    words = sum(nf * sf for (_, nf, sf), r in zip(folds, p.rows, strict=True) if r.weights is not None)
    engine = LayerCost("engine", "ENGINE", 0, dsp=arr["dsp"] + mult_dsp(33, 32, board),
                       lut=arr["lut"] + REQUANT_LUT + ENGINE_ADDR_LUT + PROCESS_LUT,
                       ff=arr["ff"] + REQUANT_FF + ENGINE_ADDR_FF + PROCESS_FF, pe=pe, simd=simd)
    mems = {"table": memory(32, len(FIELDS) * p.table_rows), "bias": memory(32, p.bias_words),
            "multipliers": memory(64, p.q_words), "arena": memory(8 * simd, math.ceil(p.arena_bytes / simd))}
    wbits = 8 * pe * simd
    ddr_cycles = 0
    if weights == "bram":
        mems["weights"] = memory(wbits, max(words, 1))
    else:
        buf = ddr_buffer_bytes(p.rows, pe, simd)
        mems["weights"] = memory(wbits, math.ceil(buf / (pe * simd)))
        engine.lut += AXI_MASTER_LUT
        engine.ff += AXI_MASTER_FF
        ddr_cycles = sum(math.ceil(nf * sf * pe * simd / DDR_BYTES_PER_CYCLE) + LOOP_FILL
                         for (_, nf, sf), r in zip(folds, p.rows, strict=True) if r.weights is not None)
    for m in mems.values():
        engine.add(m)
    # the HLS kernel requantizes each fold's PE accumulators after its beats (PE cycles per fold)
    mac_cycles = arr["cycles"] + sum(v * nf * pe for v, nf, _ in folds) + ddr_cycles + table_cycles
    engine.cycles = mac_cycles
    costs = [engine, *p.shared, *p.kernels]
    tot = {"dsp": sum(c.dsp for c in costs), "bram36": math.ceil(sum(c.bram18 for c in costs) / 2),
           "lut": sum(c.lut for c in costs), "ff": sum(c.ff for c in costs)}
    cycles = mac_cycles + sum(c.cycles for c in p.kernels + p.shared) + p.io_cycles
    return {"pe": pe, "simd": simd, "weights": weights, "acc_bits": acc_w, "total": tot, "cycles": cycles,
            "mac_cycles": mac_cycles, "array": arr, "weight_words": words, "weight_word_bits": wbits,
            "memories": {k: {"bram18": m.bram18, "lut": m.lut} for k, m in mems.items()},
            "engine": engine, "kernels": p.shared + p.kernels, "matrix_layers": len(p.rows)}


def choose_engine(g: Graph, board: Board, target: float = TARGET_UTILIZATION) -> dict[str, Any] | None:
    """The fastest engine (pe x simd, weights in BRAM or else DDR) within `target` of every resource; None when
    none is."""
    parts = _engine_parts(g, board)
    avail = _available(board)
    best = None
    for weights in ("bram", "ddr"):
        for pe in ENGINE_SIZES:
            for simd in ENGINE_SIZES:
                e = engine_cost(g, board, pe, simd, weights, parts)
                if all(e["total"][r] <= target * avail[r] for r in RESOURCES):
                    if best is None or (e["cycles"], e["total"]["dsp"]) < (best["cycles"], best["total"]["dsp"]):
                        best = e
        if best is not None:
            return best
    return None
