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

from edgefmr.device.semihost import run_semihost
from edgefmr.firmware.build import build
from edgefmr.ir import Graph, GraphBuilder
from edgefmr.ir.graph import Node, Quant, Tensor

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

BOARDS = ["qemu-netduinoplus2", "qemu-mps2-an500"]


def _spike_fc(rng, rows: int, depth: int, cols: int, *, out_scale: float = 0.2, activation: str = "NONE",
              bias: bool = True, big_bias: bool = False, dtype: str = "uint8", amplitude: float | None = None,
              weight: int | None = None) -> Graph:
    b = GraphBuilder()
    sq = {} if amplitude is None else {"scale": amplitude, "zero_point": 0}
    s = b.input("s", (rows, depth), dtype=dtype, **sq)
    w = rng.integers(-128, 128, (cols, depth)).astype(np.int8)
    w.flat[: min(4, w.size)] = [-128, 127, -128, 127][: min(4, w.size)]
    if weight is not None:  # every weight the same (one output feature: the kernel's spike-count path)
        w[:] = weight
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
    # one output feature with equal weights (a spike count, e.g. the column sum over 25 tokens of a step program):
    # words and a tail, only a tail, every requantization form
    out.append((_spike_fc(rng, 32, 25, 1, weight=1, bias=False), 0.3))
    out.append((_spike_fc(rng, 3, 3, 1, weight=-3, activation="RELU"), 0.7))
    out.append((_spike_fc(rng, 4, 16, 1, weight=2, out_scale=1e-3), 0.5))
    out.append((_spike_fc(rng, 2, 9, 1, weight=127, dtype="int8", amplitude=1.5), 0.5))
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
    assert (tmp_path / "src" / "model.c").read_text().count(".arm_count = ") >= 4  # the spike-count cases


def _lif(rows: tuple[int, ...], dtype: str, scale: float, zp: int, tau: float, bits: int, v0: bool,
         threshold: float = 1.0) -> Graph:
    b = GraphBuilder()
    x = b.input("x", rows, dtype=dtype, scale=scale, zero_point=zp)
    ins = [x, b.input("v0", rows[1:], dtype="int32")] if v0 else [x]
    b.g.tensors["s"] = Tensor("s", rows, "uint8", None)
    b.g.tensors["v"] = Tensor("v", rows[1:], "int32")
    b.g.nodes.append(Node("LIF", ins, ["s", "v"], {"tau": tau, "threshold": threshold, "membrane_bits": bits}, "lif"))
    b.output("s", "v")
    return b.build()


def lif_edge_cases() -> list[Graph]:
    """Every leak form (tau 1 and 1.5: SMMULR(v, D 2^17); tau 2, the boundary K = 2^14, tau 3.5 and 10^6, D = 2^15:
    SMMLAR) with the 32-bit input current (int8, int16 with a small gain) and the 64-bit one (int16 with a large
    gain, int8 with a gain below 1/2), with and without an initial membrane."""
    out = []
    for tau in (1.0, 1.5, 2.0, 3.5):
        out.append(_lif((3, 2, 5), "int8", 0.05, 7, tau, 12, True))
    out.append(_lif((3, 5), "int8", 0.2, 7, 1e6, 24, True, threshold=0.01))  # D = 2^15, K = 0
    out.append(_lif((4, 9), "int8", 0.05, -3, 2.0, 12, False))
    out.append(_lif((3, 7), "int16", 0.01, 0, 2.0, 12, True))  # int16, gain ~20: 32-bit current
    out.append(_lif((3, 7), "int16", 0.2, 0, 1.5, 20, True))  # int16, gain ~2^17: 64-bit current
    out.append(_lif((3, 6), "int8", 0.01, 5, 2.0, 2, True))  # gain below 1/2: 64-bit current
    out.append(_lif((3, 6), "int8", 0.01, 5, 1.5, 2, True))
    out.append(_lif((2, 6), "int16", 0.2, 0, 1.0, 15, False))
    return out


def _lmu(d: int, steps: int, chans: tuple[int, ...], fa: int, fm: int, y_scale: float, m0: bool) -> Graph:
    from edgefmr.nas.models.lmu import legendre_zoh
    from edgefmr.ops.lmu_update import lmu_constants

    a, bb = lmu_constants(*legendre_zoh(d, 6.0), fa, fm)
    b = GraphBuilder()
    u = b.input("u", (steps, *chans), scale=0.03, zero_point=-4)
    ins = [u, b.const("A", a), b.const("B", bb)]
    if m0:
        ins.append(b.input("m0", (*chans, d), dtype="int32"))
    b.g.tensors["y"] = Tensor("y", (steps, *chans, d), "int8", Quant([y_scale], [3]))
    b.g.tensors["m"] = Tensor("m", (*chans, d), "int32")
    b.g.nodes.append(Node("LMU_UPDATE", ins, ["y", "m"], {"a_frac_bits": fa, "state_frac_bits": fm}, "lmu"))
    b.output("y", "m")
    return b.build()


def lmu_edge_cases() -> list[Graph]:
    """Orders with no, an odd and an even count of 4-MAC groups and tails, the 32-bit output requantization and the
    64-bit one (a multiplier >= 1/4), initial states near the int32 limits (the clamp of the next state)."""
    out = [_lmu(d, 3, (2,), 24, 16, 0.5, True) for d in (1, 2, 4, 5, 7, 8, 12, 13, 32)]
    out.append(_lmu(6, 4, (3,), 20, 0, 0.02, True))  # multiplier ~1.5: 64-bit output requantization
    out.append(_lmu(4, 2, (), 28, 8, 0.5, False))
    # order 1 (a running sum, e.g. a streaming readout's spike count): the 64-bit output requantization, no initial
    # state
    out += [_lmu(1, 4, (5,), 20, 0, 0.02, True), _lmu(1, 2, (3,), 24, 8, 0.5, False)]
    return out


def _gate(shape: tuple[int, ...], g_scale: float, y_scale: float) -> Graph:
    b = GraphBuilder()
    a = b.input("attn", shape, scale=0.04, zero_point=-7)
    g = b.input("g", shape[:-1], scale=g_scale, zero_point=3)
    b.output(b.op("ATTENTION_GATE", [a, g], scale=y_scale, zero_point=-2))
    return b.build()


def gate_edge_cases() -> list[Graph]:
    """Depths around the 4-value words (1, 3, 4, 5, 8, 11), gates whose sigmoid is exactly 2^15 and 0 (large logit
    scale), the 64-bit requantization (an output scale making the multiplier >= 1/4, and one making it tiny)."""
    out = [_gate((3, depth), 0.3, 0.03) for depth in (1, 3, 4, 5, 8, 11)]
    out.append(_gate((2, 2, 16), 0.5, 0.05))
    out.append(_gate((2, 9), 0.1, 1e-6))  # multiplier > 1: 64-bit
    out.append(_gate((2, 9), 0.1, 2e4))  # tiny multiplier: rshift > 30, 64-bit
    return out


def _binary_fc(rng, rows: int, depth: int, cols: int, zp: int, bias: bool, padding: bool, activation: str
               ) -> Graph:
    from edgefmr.ops.binary_fully_connected import pack_bits

    b = GraphBuilder()
    x = b.input("x", (rows, depth), scale=0.05, zero_point=zp)
    packed = pack_bits(rng.random((cols, depth)) < 0.5)
    if padding and depth % 8:
        packed[:, -1] |= np.uint8((0xFF << (depth % 8)) & 0xFF)
    alpha = rng.uniform(0.002, 0.02, cols).astype(np.float32)
    ins = [x, b.const("w", packed, scale=alpha, zero_point=0)]
    if bias:
        ins.append(b.const("b", rng.integers(-(2**31), 2**31 - 1, cols).astype(np.int32),
                           scale=np.float32(0.05) * alpha, zero_point=0))
    b.output(b.op("BINARY_FULLY_CONNECTED", ins, scale=0.2, zero_point=3, activation=activation))
    return b.build()


def binary_fc_edge_cases(rng) -> list[Graph]:
    """Depths around the weight bytes and 32-bit weight words (1, 7, 8, 9, 31, 32, 33, 64, 100) with set padding
    bits, input zero points -128 and 127, full-range biases, no bias, activations."""
    out = []
    for i, depth in enumerate((1, 7, 8, 9, 31, 32, 33, 64, 100)):
        out.append(_binary_fc(rng, 1 + i % 3, depth, 1 + 3 * i % 7, [-128, 127, 0][i % 3], i % 4 != 0, i % 2 == 0,
                              ["NONE", "RELU", "RELU6"][i % 3]))
    return out


def _hash(batch: tuple[int, ...], nq: int, nk: int, d: int, bits: int, packed: bool, y_scale: float = 0.04
          ) -> Graph:
    b = GraphBuilder()
    width = -(-bits // 8) if packed else bits
    code = {"dtype": "uint8"} if packed else {"dtype": "int8", "scale": 0.1, "zero_point": -3}
    hq = b.input("hq", (*batch, nq, width), **code)
    hk = b.input("hk", (*batch, nk, width), **code)
    v = b.input("v", (*batch, nk, d), scale=0.04, zero_point=-5)
    b.output(b.op("HASH_ATTENTION", [hq, hk, v], scale=y_scale, zero_point=4, bits=bits if packed else 0))
    return b.build()


def hash_edge_cases() -> list[tuple[Graph, str]]:
    """(graph, code pattern): packed and int8 codes, bit counts around the 32-bit masks and the 64-entry row lists
    (1, 7, 31, 33, 64, 65, 100), depths around the 4-column blocks, queries whose every key code is the complement
    (den = 0), identical codes with 1024 bits x 260 keys (den >= 2^18: the SMMUL normalization), the 64-bit output
    requantization."""
    out = []
    for bits, packed in ((1, True), (7, True), (31, True), (33, True), (64, True), (65, True), (100, True),
                         (5, False), (32, False), (33, False), (70, False)):
        out.append((_hash((2,), 3, 5, 6, bits, packed), "random"))
    for d in (1, 3, 4, 5, 9):
        out.append((_hash((), 4, 6, d, 12, True), "random"))
    out.append((_hash((), 2, 1, 5, 9, True), "complement"))
    out.append((_hash((), 2, 3, 5, 10, False), "complement"))
    out.append((_hash((), 2, 260, 3, 1024, True), "same"))
    out.append((_hash((2,), 3, 7, 6, 16, False, y_scale=1e-7), "random"))  # multiplier >= 1/4: 64-bit
    return out


def _hash_inputs(rng, g: Graph, pattern: str) -> list[np.ndarray]:
    hq, hk, v = (g.tensors[n] for n in g.inputs)
    info = np.iinfo(hq.dtype)
    q = rng.integers(info.min, info.max, hq.shape, endpoint=True).astype(hq.dtype)
    if pattern == "random":
        k = rng.integers(info.min, info.max, hk.shape, endpoint=True).astype(hk.dtype)
    else:
        row = q[..., :1, :] if pattern == "same" else (~q[..., :1, :] if hq.dtype == "uint8" else
                                                       np.where(q[..., :1, :] >= -3, -4, 0).astype(hq.dtype))
        q = np.broadcast_to(q[..., :1, :], q.shape).copy()
        k = np.broadcast_to(row, hk.shape).copy()
    vv = rng.integers(-128, 128, v.shape).astype(np.int8)
    return [q, k, vv]


def _state_inputs(rng, g: Graph) -> list[np.ndarray]:
    """Uniform int8/int16 inputs; int32 states spread over small and near-limit values."""
    out = []
    for name in g.inputs:
        t = g.tensors[name]
        if t.dtype == "int32":
            v = rng.integers(-(1 << 20), 1 << 20, t.shape).astype(np.int64)
            v.flat[::3] = rng.integers(-(2**31), 2**31, v.flat[::3].shape)
            out.append(v.astype(np.int32))
        else:
            out += uniform_inputs(Graph(tensors={name: t}, inputs=[name]))(rng)
    return out


@pytest.mark.parametrize("board", BOARDS)
def test_lif_lmu_gate_hash_binary_paths(board, tmp_path):
    """The Cortex-M LIF, LMU_UPDATE, ATTENTION_GATE, HASH_ATTENTION and BINARY_FULLY_CONNECTED kernels on all their
    paths == interpreter."""
    rng = np.random.default_rng(16)
    state = lif_edge_cases() + lmu_edge_cases() + gate_edge_cases() + binary_fc_edge_cases(rng)
    hashes = hash_edge_cases()
    graphs = state + [g for g, _ in hashes]
    records = [[x for g in state for x in _state_inputs(rng, g)] +
               [x for g, pat in hashes for x in _hash_inputs(rng, g, pat)] for _ in range(2)]
    _check(board, graphs, records, tmp_path, {"lif", "lmu_update", "attention_gate", "hash_attention",
                                              "binary_fully_connected"})


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


@pytest.mark.parametrize("shape", [(64, 96, 192), (16, 64, 64)])
def test_spike_fc_instructions_fall_with_the_firing_rate(shape, tmp_path):
    """[64 tokens, 96] -> 192 and [16, 64] -> 64 on the Cortex-M4: the event-driven kernel's instructions fall
    strictly with the firing rate, and at rate 0.1 they are at most 25% of the dense Cortex-M FULLY_CONNECTED
    kernel's of the same shape (all runs bit-exact); bench/_kernels_spiking.py reports both on both cores."""
    from edgefmr.device.semihost import graph_instructions

    rng = np.random.default_rng(3)
    rows, depth, cols = shape
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
