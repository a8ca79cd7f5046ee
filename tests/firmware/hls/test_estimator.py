"""The FPGA estimator: formulas, folding within the target utilization, the d=64 4-head encoder on PYNQ-Z2 within
80 % of DSP and BRAM, over-budget and wrong-board errors."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgefmr.boards import load_board
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.hls.emitters import Folding
from edgefmr.firmware.hls.estimator import bram18, estimate, layer_cost, mac_array_cost, memory, mult_dsp
from edgefmr.firmware.vit_graph import build_vit
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


@pytest.fixture(scope="module")
def encoder():
    return build_vit(image_size=16, patch=2, embed=64, depth=1, heads=4, lowrank=None, layernorm="integer",
                     num_classes=10, in_chans=1)


def fc_graph(n_in: int, n_out: int, rows: int = 4):
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    x = b.input("x", (rows, n_in), scale=0.05, zero_point=0)
    w = b.const("w", rng.integers(-127, 128, (n_out, n_in)).astype(np.int8), scale=0.01)
    b.output(b.op("FULLY_CONNECTED", [x, w], scale=0.1, zero_point=0, name="fc"))
    return b.build()


def test_formulas():
    pynq, zu = load_board("pynq-z2"), load_board("zcu102")
    assert bram18(8, 4096) == 2 and bram18(36, 512) == 1 and bram18(72, 1024) == 4 and bram18(1, 16384) == 1
    assert memory(8, 100).bram18 == 0 and memory(8, 100).lut == 16  # 800 bits: LUTRAM
    assert memory(8, 4096).bram18 == 2 and memory(8, 2, "fifo").ff == 16 and memory(8, 40, "fifo").lut == 24
    assert mult_dsp(33, 32, pynq) == 4 and mult_dsp(26, 18, pynq) == 2 and mult_dsp(26, 18, zu) == 1
    assert mult_dsp(8, 8, pynq) == 0
    m = mac_array_cost(4, 8, 2, 16, 64, "mac", pynq)
    assert m == {"dsp": 32, "ff": 83 + 4 * 22, "lut": 62 + 2 * 4 * 22, "cycles": 2 * 4 * 8 + 5, "acc_bits": 22}
    assert mac_array_cost(4, 8, 2, 16, 64, "add", pynq)["dsp"] == 0


def test_parallelism_trades_dsp_for_cycles():
    g = fc_graph(64, 64, rows=16)
    c = call(g.nodes[0], g)
    board = load_board("pynq-z2")
    costs = [layer_cost(c, Folding(pe, simd), board) for pe, simd in [(1, 1), (2, 2), (4, 4), (8, 8)]]
    assert [lc.cycles for lc in costs] == sorted((lc.cycles for lc in costs), reverse=True)
    assert [lc.dsp for lc in costs] == sorted(lc.dsp for lc in costs)
    assert costs[0].cycles > 3 * costs[-1].cycles


def test_encoder_fits_pynq_within_80_percent(encoder):
    t0 = time.time()
    e = estimate(encoder, "pynq-z2")
    assert time.time() - t0 < 10
    u, t = e["utilization"], e["total"]
    assert u["dsp"] <= 0.8 and u["bram36"] <= 0.8 and u["lut"] <= 0.8 and u["ff"] <= 0.8
    assert t["cycles"] > 0 and t["latency_us"] == pytest.approx(t["cycles"] / 100.0)
    assert t["dsp"] == sum(lay["dsp"] for lay in e["layers"]) + sum(p["dsp"] for p in e["processes"])
    assert len(e["layers"]) == len(encoder.nodes)
    assert any(f["pe"] * f["simd"] > 1 for f in e["folding"].values())  # parallelism was bought with the budget
    one = estimate(encoder, "pynq-z2", folding={k: Folding() for k in e["folding"]})
    assert one["total"]["interval_cycles"] > t["interval_cycles"] and one["total"]["dsp"] < t["dsp"]


def test_bigger_board_is_not_slower(encoder):
    small, big = estimate(encoder, "pynq-z2"), estimate(encoder, "zcu102")
    assert big["total"]["interval_cycles"] <= small["total"]["interval_cycles"]
    assert big["clock_hz"] == 150_000_000 and big["part"] == "xczu9eg-ffvb1156-2-e"


def test_over_budget_names_resource_needed_available():
    g = fc_graph(2048, 2048, rows=1)  # 4 MiB of weights
    with pytest.raises(EdgefmrError, match=r"does not fit pynq-z2 \(xc7z020clg400-1\): BRAM36 needed \d+, "
                                           r"available 140"):
        estimate(g, "pynq-z2")


def test_needs_an_fpga_board():
    with pytest.raises(EdgefmrError, match="FPGA board"):
        estimate(fc_graph(8, 8), "nucleo-f446re")
