"""The Cortex-M (DSP extension) kernels of the spiking and non-standard transformer ops on QEMU (netduinoplus2 =
Cortex-M4, mps2-an500 = Cortex-M7): instances that reach every path of each kernel, batched into one image per board
and compared bit for bit with the reference interpreter; and the firing-rate property of the event-driven
SPIKE_FULLY_CONNECTED kernel (its instructions fall with the rate, at rate 0.1 at most a quarter of the dense
FULLY_CONNECTED kernel's)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from op_cases import merge_graphs, reference, same_bits, uniform_inputs

from edgefmr.firmware.build import build, run_semihost
from edgefmr.ir import Graph, GraphBuilder

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

BOARDS = ["qemu-netduinoplus2", "qemu-mps2-an500"]


def _spike_fc(rng, rows: int, depth: int, cols: int, *, out_scale: float = 0.2, activation: str = "NONE",
              bias: bool = True, big_bias: bool = False, dtype: str = "uint8", amplitude: float | None = None
              ) -> Graph:
    b = GraphBuilder()
    sq = {} if amplitude is None else {"scale": amplitude, "zero_point": 0}
    s = b.input("s", (rows, depth), dtype=dtype, **sq)
    w = rng.integers(-128, 128, (cols, depth)).astype(np.int8)
    w.flat[: min(4, w.size)] = [-128, 127, -128, 127][: min(4, w.size)]
    ins = [s, b.const("w", w, scale=rng.uniform(0.002, 0.02, cols), zero_point=0)]
    if bias:
        lim = 2**31 - 1 if big_bias else 3000
        ins.append(b.const("b", rng.integers(-lim, lim, cols).astype(np.int32)))
    b.output(b.op("SPIKE_FULLY_CONNECTED", ins, scale=out_scale, zero_point=int(rng.integers(-20, 20)),
                  activation=activation))
    return b.build()


def spike_fc_edge_cases(rng) -> list[tuple[Graph, float]]:
    """(graph, firing rate): output features around the 16 / 8 / 4 blocks and partial words, inputs around the
    8-byte scan groups and its tail, more than 256 active inputs in a row (int16 passes), all-zero and all-one
    spikes, every requantization form (32-bit without and with activation, 64-bit for multipliers >= 1/4 or a
    bias near the int32 limit), int8 spikes and a spike amplitude."""
    out = []
    for cols in (1, 3, 4, 5, 8, 12, 15, 16, 17, 20, 28, 33):
        for depth, rate in ((1, 1.0), (7, 0.5), (8, 0.0), (9, 1.0), (17, 0.3)):
            out.append((_spike_fc(rng, int(rng.integers(1, 4)), depth, cols), rate))
    for depth, rate in ((256, 1.0), (257, 1.0), (300, 0.95), (513, 1.0), (600, 0.5)):
        out.append((_spike_fc(rng, 2, depth, int(rng.choice([4, 16, 24]))), rate))
    out.append((_spike_fc(rng, 3, 40, 20, activation="RELU"), 0.3))
    out.append((_spike_fc(rng, 3, 40, 21, activation="RELU6", out_scale=0.05), 0.5))
    out.append((_spike_fc(rng, 2, 33, 18, out_scale=1e-3), 0.5))  # multipliers >= 1/4: the 64-bit path
    out.append((_spike_fc(rng, 2, 33, 18, big_bias=True), 0.5))  # bias near 2^31: the 64-bit path
    out.append((_spike_fc(rng, 2, 33, 18, bias=False, dtype="int8", amplitude=1.5), 0.5))
    out.append((_spike_fc(rng, 2, 270, 9, activation="RELU"), 1.0))  # passes with an activation
    return out


def _spikes(rng, g: Graph, rate: float) -> list[np.ndarray]:
    t = g.tensors[g.inputs[0]]
    v = (rng.random(t.shape) < rate).astype(t.dtype)
    if 0 < rate:
        v.flat[:2] = np.array([7, 255], np.uint8).view(t.dtype)[: min(2, v.size)]  # any nonzero byte spikes
    return [v]


def _check(board: str, graphs: list[Graph], records: list[list[np.ndarray]], tmp_path, kernels: set[str]) -> None:
    g = merge_graphs(graphs)
    m = build(g, board, tmp_path, tricks=False, test_inputs=records)
    assert kernels <= set(m["arm_kernels"]), m["arm_kernels"]
    res = run_semihost(tmp_path, g)
    want = reference(g, records)
    bad = [f"{g.outputs[k]} record {r}" for r in range(len(records)) for k in range(len(g.outputs))
           if not same_bits(res.outputs[r][k], want[r][k])]
    assert not bad, f"{board}: {bad}"


@pytest.mark.parametrize("board", BOARDS)
def test_spike_fc_paths(board, tmp_path):
    """The event-driven SPIKE_FULLY_CONNECTED kernel on all its paths == interpreter."""
    rng = np.random.default_rng(15)
    cases = spike_fc_edge_cases(rng)
    graphs = [g for g, _ in cases]
    records = [[x for g, rate in cases for x in _spikes(rng, g, rate if r == 0 else 1.0 - rate)] for r in range(2)]
    _check(board, graphs, records, tmp_path, {"spike_fully_connected"})


def _rate_graphs(rng, rows: int, depth: int, cols: int) -> tuple[Graph, Graph]:
    """SPIKE_FULLY_CONNECTED as the spiking lowering makes it (uint8 spikes, per-channel weights, bias, no
    activation) and the FULLY_CONNECTED of the same shape and weights on int8 inputs."""
    w = rng.integers(-127, 128, (cols, depth)).astype(np.int8)
    ws, bias = rng.uniform(0.002, 0.01, cols), rng.integers(-2000, 2000, cols).astype(np.int32)
    graphs = []
    for op in ("SPIKE_FULLY_CONNECTED", "FULLY_CONNECTED"):
        b = GraphBuilder()
        x = b.input("x", (rows, depth), dtype="uint8") if op != "FULLY_CONNECTED" else \
            b.input("x", (rows, depth), scale=1.0, zero_point=0)
        b.output(b.op(op, [x, b.const("w", w, scale=ws, zero_point=0), b.const("b", bias)], scale=0.15,
                      zero_point=-4))
        graphs.append(b.build())
    return graphs[0], graphs[1]


def test_spike_fc_instructions_fall_with_the_firing_rate(tmp_path):
    """[16 tokens, 64] -> 64 on the Cortex-M4: the event-driven kernel's instructions fall strictly with the firing
    rate, and at rate 0.1 they are at most 25% of the dense Cortex-M FULLY_CONNECTED kernel's of the same shape
    (all runs bit-exact)."""
    from edgefmr.firmware.build import graph_instructions

    rng = np.random.default_rng(3)
    rows, depth, cols = 16, 64, 64
    sfc, fc = _rate_graphs(rng, rows, depth, cols)
    board = "qemu-netduinoplus2"
    dense = graph_instructions(fc, board, [[rng.integers(-128, 128, (rows, depth)).astype(np.int8)]],
                               tmp_path / "dense")
    assert dense["kernels"] == ["fully_connected"] and dense["bit_exact"]
    counts = {}
    for rate in (0.0, 0.1, 0.2, 0.5, 1.0):
        v = np.zeros(rows * depth, np.uint8)
        v[rng.permutation(v.size)[: round(rate * v.size)]] = 1
        r = graph_instructions(sfc, board, [[v.reshape(rows, depth)]], tmp_path / f"rate{rate}")
        assert r["kernels"] == ["spike_fully_connected"] and r["bit_exact"]
        counts[rate] = r["instructions"]
    seq = list(counts.values())
    assert all(a < b for a, b in zip(seq, seq[1:], strict=False)), counts
    assert counts[0.1] <= 0.25 * dense["instructions"], (counts, dense["instructions"])
