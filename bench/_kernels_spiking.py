"""Kernel bench of the spiking / non-standard transformer ops (SPIKE_FULLY_CONNECTED against the firing rate, LIF,
LMU_UPDATE, HASH_ATTENTION, ATTENTION_GATE, BINARY_FULLY_CONNECTED): portable vs Cortex-M kernels on both QEMU cores,
at shapes of the quant/ lowerings."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bench._kernel_util import BOARDS, op_records
from edgefmr.device.semihost import graph_instructions
from edgefmr.ir import Graph, GraphBuilder
from edgefmr.ir.graph import Node, Quant, Tensor

#: Firing rates of the SPIKE_FULLY_CONNECTED rows.
RATES = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)
#: (rows, depth, cols) of SPIKE_FULLY_CONNECTED: [16 tokens, 64] -> 64 and [64, 96] -> 192 (an MLP of the Spike-
#: driven Transformer with D = 96).
SPIKE_FC_SHAPES = ((16, 64, 64), (64, 96, 192))


def spike_fc_graph(rows: int, depth: int, cols: int, seed: int = 0) -> Graph:
    """SPIKE_FULLY_CONNECTED [rows, depth] -> cols as the spiking lowering makes it: 0/1 uint8 spikes, per-channel
    weights (a BatchNorm folded in), an int32 bias, no activation."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder({"name": f"spike_fc_{rows}x{depth}x{cols}"})
    s = b.input("s", (rows, depth), dtype="uint8")
    w = b.const("w", rng.integers(-127, 128, (cols, depth)).astype(np.int8), scale=rng.uniform(0.002, 0.01, cols),
                zero_point=0)
    bias = b.const("b", rng.integers(-2000, 2000, cols).astype(np.int32))
    b.output(b.op("SPIKE_FULLY_CONNECTED", [s, w, bias], scale=0.15, zero_point=-4))
    return b.build()


def dense_fc_graph(g: Graph) -> Graph:
    """The FULLY_CONNECTED of the same shape and weights on int8 inputs (the dense kernel the spike kernel is
    measured against)."""
    (node,) = g.nodes
    s, w, bias, y = (g.tensors[n] for n in (*node.inputs, node.outputs[0]))
    b = GraphBuilder({"name": "dense_" + str(g.metadata.get("name", "fc"))})
    x = b.input("x", s.shape, scale=1.0, zero_point=0)
    wc = b.const("w", w.data, scale=np.asarray(w.quant.scale), zero_point=0)
    bc = b.const("b", bias.data)
    b.output(b.op("FULLY_CONNECTED", [x, wc, bc], scale=y.scale, zero_point=y.zero_point))
    return b.build()


def spike_records(shape: tuple[int, ...], rate: float, n: int = 2, seed: int = 1) -> list[list[np.ndarray]]:
    """`n` records of 0/1 spikes with exactly round(rate * size) spikes at random places."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    out = []
    for _ in range(n):
        v = np.zeros(size, np.uint8)
        v[rng.permutation(size)[: round(rate * size)]] = 1
        out.append([v.reshape(shape)])
    return out


def spike_fc_instructions(rows: int, depth: int, cols: int, rates: tuple[float, ...], board: str,
                          tmp: Path) -> tuple[dict[float, dict], dict[float, dict], dict]:
    """({rate: Cortex-M result}, {rate: portable result}, dense Cortex-M FULLY_CONNECTED result) of
    graph_instructions for one shape."""
    g = spike_fc_graph(rows, depth, cols)
    arm, ref = {}, {}
    for rate in rates:
        recs = spike_records((rows, depth), rate)
        arm[rate] = graph_instructions(g, board, recs, tmp / f"sfc-{rate}-arm")
        ref[rate] = graph_instructions(g, board, recs, tmp / f"sfc-{rate}-ref", optimized=False)
    dg = dense_fc_graph(g)
    rng = np.random.default_rng(2)
    drecs = [[rng.integers(-128, 128, (rows, depth)).astype(np.int8)] for _ in range(2)]
    dense = graph_instructions(dg, board, drecs, tmp / "dense-arm")
    return arm, ref, dense


def spike_fc_records(boards: tuple[str, ...] = BOARDS) -> list[dict]:
    """One record per shape, board and firing rate: instructions per MAC (dense-equivalent rows * depth * cols),
    portable and Cortex-M, and the dense FULLY_CONNECTED Cortex-M kernel's instructions of the same shape."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows, depth, cols in SPIKE_FC_SHAPES:
            for board in boards:
                arm, ref, dense = spike_fc_instructions(rows, depth, cols, RATES, board, Path(tmp) / board)
                macs = rows * depth * cols
                for rate in RATES:
                    a, r = arm[rate]["instructions"], ref[rate]["instructions"]
                    out.append({
                        "kind": "op", "op": "SPIKE_FULLY_CONNECTED", "shape": f"[{rows}, {depth}] -> {cols}",
                        "board": board, "unit": "MAC", "units": macs, "firing_rate": rate,
                        "portable_per_unit": round(r / macs, 3), "arm_per_unit": round(a / macs, 3),
                        "speedup": round(r / max(a, 1), 2), "arm_kernels": ",".join(arm[rate]["kernels"]) or "-",
                        "dense_fc_arm_instructions": dense["instructions"], "arm_instructions": a,
                        "fraction_of_dense": round(a / dense["instructions"], 3),
                        "bit_exact": arm[rate]["bit_exact"] and ref[rate]["bit_exact"] and dense["bit_exact"],
                    })
    return out


def lif_graph(steps: int, neurons: tuple[int, ...], dtype: str = "int8", tau: float = 2.0) -> Graph:
    """LIF as the spiking lowering makes it: int8 currents, int8 0/1 spikes, the final membrane output."""
    b = GraphBuilder({"name": "lif"})
    shape = (steps, *neurons)
    x = b.input("x", shape, dtype=dtype, scale=0.05, zero_point=3 if dtype == "int8" else 0)
    b.g.tensors["s"] = Tensor("s", shape, "int8", Quant([1.0], [0]))
    b.g.tensors["v"] = Tensor("v", shape[1:], "int32")
    b.g.nodes.append(Node("LIF", [x], ["s", "v"], {"tau": tau, "threshold": 1.0, "membrane_bits": 12}, "lif"))
    b.output("s", "v")
    return b.build()


def uniform(g: Graph, n: int = 2, seed: int = 0) -> list[list[np.ndarray]]:
    """`n` records of uniform values over each input's integer range."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        rec = []
        for name in g.inputs:
            t = g.tensors[name]
            info = np.iinfo(t.dtype)
            rec.append(rng.integers(info.min, info.max, t.shape, endpoint=True).astype(t.dtype))
        out.append(rec)
    return out


def elementwise_records(boards: tuple[str, ...] = BOARDS) -> list[dict]:
    """LIF, LMU_UPDATE, ATTENTION_GATE, HASH_ATTENTION and BINARY_FULLY_CONNECTED at shapes of the lowerings."""
    out = []
    g = lif_graph(4, (64, 96))
    out += op_records("LIF", "[4, 64, 96] int8, tau 2", g, uniform(g), 4 * 64 * 96, "element", boards=boards)
    g = lif_graph(4, (16, 96), tau=1.5)
    out += op_records("LIF", "[4, 16, 96] int8, tau 1.5", g, uniform(g), 4 * 16 * 96, "element", boards=boards)
    g = gate_graph((1, 64, 4, 24))
    out += op_records("ATTENTION_GATE", "[1, 64, 4, 24], gate [1, 64, 4]", g, uniform(g), 64 * 4 * 24, "element",
                      boards=boards)
    g = lmu_graph(16, 16, 32)
    out += op_records("LMU_UPDATE", "T 16, 16 channels, order 32", g, uniform(g), 16 * 16 * (32 * 32 + 32), "MAC",
                      boards=boards)
    g = lmu_graph(16, 16, 4)
    out += op_records("LMU_UPDATE", "T 16, 16 channels, order 4", g, uniform(g), 16 * 16 * (4 * 4 + 4), "MAC",
                      boards=boards)
    for bits in (8, 16):
        g = hash_graph(4, 64, 24, bits)
        out += op_records("HASH_ATTENTION", f"4 heads, 64 tokens, d 24, {bits}-bit int8 codes", g, uniform(g),
                          4 * 64 * 24, "element", boards=boards)
    g = binary_fc_graph(64, 96, 192)
    out += op_records("BINARY_FULLY_CONNECTED", "[64, 96] -> 192", g, uniform(g), 64 * 96 * 192, "MAC",
                      boards=boards)
    return out


def binary_fc_graph(rows: int, depth: int, cols: int) -> Graph:
    """BINARY_FULLY_CONNECTED as --binarize lowers a linear: packed sign bits, alpha per output, an int32 bias."""
    from edgefmr.ops.binary_fully_connected import pack_bits

    rng = np.random.default_rng(4)
    b = GraphBuilder({"name": "binary_fc"})
    x = b.input("x", (rows, depth), scale=0.05, zero_point=-6)
    alpha = rng.uniform(0.002, 0.02, cols).astype(np.float32)
    w = b.const("w", pack_bits(rng.random((cols, depth)) < 0.5), scale=alpha, zero_point=0)
    bias = b.const("b", rng.integers(-3000, 3000, cols).astype(np.int32), scale=np.float32(0.05) * alpha,
                   zero_point=0)
    b.output(b.op("BINARY_FULLY_CONNECTED", [x, w, bias], scale=0.3, zero_point=2))
    return b.build()


def hash_graph(heads: int, tokens: int, d: int, bits: int) -> Graph:
    """HASH_ATTENTION as the hash lowering makes it: int8 pre-sign codes [1, H, N, b], values [1, H, N, d]."""
    b = GraphBuilder({"name": "hash_attention"})
    hq = b.input("hq", (1, heads, tokens, bits), scale=0.05, zero_point=2)
    hk = b.input("hk", (1, heads, tokens, bits), scale=0.05, zero_point=-1)
    v = b.input("v", (1, heads, tokens, d), scale=0.04, zero_point=-5)
    b.output(b.op("HASH_ATTENTION", [hq, hk, v], scale=0.04, zero_point=-5))
    return b.build()


def lmu_graph(steps: int, channels: int, order: int) -> Graph:
    """LMU_UPDATE of an LMUFormer block: int8 u [T, 1, channels], the Legendre memory of `order` (A in Q24, the
    state in Q16), int8 states and the final int32 state."""
    from edgefmr.nas.models.lmu import legendre_zoh
    from edgefmr.ops.lmu_update import lmu_constants

    a, bb = lmu_constants(*legendre_zoh(order, float(steps)), 24, 16)
    b = GraphBuilder({"name": "lmu_update"})
    u = b.input("u", (steps, 1, channels), scale=0.03, zero_point=-2)
    ins = [u, b.const("A", a), b.const("B", bb)]
    b.g.tensors["y"] = Tensor("y", (steps, 1, channels, order), "int8", Quant([0.05], [1]))
    b.g.tensors["m"] = Tensor("m", (1, channels, order), "int32")
    b.g.nodes.append(Node("LMU_UPDATE", ins, ["y", "m"], {"a_frac_bits": 24, "state_frac_bits": 16}, "lmu"))
    b.output("y", "m")
    return b.build()


def gate_graph(shape: tuple[int, ...]) -> Graph:
    """ATTENTION_GATE of the gated attention: one gate logit per head's output vector."""
    b = GraphBuilder({"name": "attention_gate"})
    a = b.input("attn", shape, scale=0.04, zero_point=-3)
    g = b.input("g", shape[:-1], scale=0.08, zero_point=5)
    b.output(b.op("ATTENTION_GATE", [a, g], scale=0.03, zero_point=-2))
    return b.build()


def records() -> list[dict]:
    return spike_fc_records() + elementwise_records()
