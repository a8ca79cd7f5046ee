"""The shared engine and the design choice (issue 17): the engine's C simulation == the interpreter bit for bit
(weights in BRAM and in DDR, array sizes that do not divide the layers), its RTL array and layer-table control
bit-exact with numpy and at the estimator's cycle count (yosys resources in the slow test), one requantization
unit per elementwise layer, the LayerNorm-chain fusion, packed weights, `hardware_cost` on the chosen design, and
every acceptance model built for PYNQ-Z2 within 80 % of every resource and bit-exact in C simulation (slow)."""

from __future__ import annotations

import numpy as np
import pytest
from fpga_models import ACCEPTANCE, acceptance_model

from edgefmr.boards import load_board
from edgefmr.firmware.cost import hardware_cost
from edgefmr.firmware.hls import build, run_csim
from edgefmr.firmware.hls.emitters import Folding
from edgefmr.firmware.hls.engine import engine_rows
from edgefmr.firmware.hls.estimator import (
    BRAM36_BITS,
    RESOURCES,
    engine_array_cost,
    engine_cost,
    estimate,
    layer_cost,
)
from edgefmr.firmware.rtl import engine_folds, simulate_engine, synthesize_engine
from edgefmr.ir import GraphBuilder, run
from edgefmr.ir.passes import optimize
from edgefmr.ops.registry import call


def _check(g, art, records):
    for rec, outs in zip(records, run_csim(art, g, records), strict=True):
        want = run(g, rec)
        for name, a in zip(g.outputs, outs, strict=True):
            assert np.array_equal(a, want[name]), name


@pytest.mark.parametrize("weights", ["bram", "ddr"])
def test_engine_csim_bit_exact(tmp_path, weights):
    """The 16-token TF ViT forced onto the engine (3 x 5 array: no layer's columns or depth divide it): FC,
    BATCH_MATMUL, CONV_2D on the array, softmax and LayerNorm chains as their kernels, transposes in the arena."""
    g = acceptance_model("vit16_d64_int8")
    rng = np.random.default_rng(4)
    records = [[rng.integers(-128, 128, g.tensor(g.inputs[0]).shape).astype(np.int8)] for _ in range(3)]
    from edgefmr.firmware.hls import estimator

    est = estimator.estimate(g, "pynq-z2", engine=(3, 5, weights), check=False)
    assert est["design"] == "engine" and est["engine"]["weights"] == weights
    man = build(g, "pynq-z2", tmp_path, test_inputs=records, design="engine") if weights == "bram" else None
    if man is None:  # DDR weights: generate the 3 x 5 engine directly
        from edgefmr.firmware.hls.engine import generate_engine
        from edgefmr.firmware.hls.project import check_csim, compile_csim, write_project

        fused = optimize(g)
        hm, info = generate_engine(fused, 3, 5, "ddr")
        write_project(tmp_path, fused, hm, records, "xc7z020clg400-1", 100_000_000)
        assert "EFM_WEIGHTS_DDR" in (tmp_path / "model.h").read_text()
        assert "m_axi port = weights" in (tmp_path / "model.cpp").read_text()
        compile_csim(tmp_path)
        assert "0 mismatches" in check_csim(tmp_path)
        assert {r.op for r in info.rows} == {"FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D"}
    else:
        assert man["design"] == "engine" and man["csim"]["bit_exact"]
        cpp = (tmp_path / "model.cpp").read_text()
        assert cpp.count("efm::engine_mac<") == len(engine_rows(optimize(g))) + 1  # the calls + ALLOCATION
        assert "ALLOCATION function instances = efm::engine_mac" in cpp and "efm::arena_view<" in cpp
        # the five LayerNorm chains and two MULs run on the one shared LayerNorm-chain and elementwise units
        assert cpp.count("efm::engine_lnc<MAXCH>(efm_lnc[") == 5 and cpp.count("efm::engine_binary(efm_binary[") == 2
        assert cpp.count("efm::engine_softmax<SM_LANES, SM_DEPTH, 12>(efm_softmax[") == 2
        units = {lay["op"]: lay for lay in est["layers"]}
        assert units["ENGINE_LNC"]["layers"] == 5 and units["ENGINE_LNC"]["requant_units"] == 1
        _check(g, tmp_path, records)


def test_engine_runs_every_op_bit_exact(tmp_path):
    """Two random instances of every op (tests/support/op_cases.py) in one engine design with a 3 x 4 array: the
    matrix ops on the array, elementwise ops, LayerNorm chains and softmaxes on the shared units (broadcasts,
    constant operands, clipped softmax's post table), transposes and slices in the arena, the rest as kernels; C
    simulation == interpreter on three records."""
    from op_cases import CASES, make_case, merge_graphs

    from edgefmr.firmware.hls.engine import generate_engine
    from edgefmr.firmware.hls.project import check_csim, compile_csim, write_project

    cases = [make_case(op, s) for op in sorted(CASES) for s in range(2)]
    g = merge_graphs([c[0] for c in cases])
    records = [[x for _, recs in cases for x in recs[r]] for r in range(3)]
    hm, info = generate_engine(g, 3, 4, "bram")
    units = {s["unit"] for s in info.steps}
    assert units >= {"engine", "binary", "lnc", "softmax", "view", "kernel"}
    assert {r.op for r in info.rows} == {"FULLY_CONNECTED", "SPIKE_FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D",
                                          "BATCH_MATMUL"}
    write_project(tmp_path, g, hm, records, "xc7z020clg400-1", 100_000_000)
    compile_csim(tmp_path)
    assert "3 records, 0 mismatches" in check_csim(tmp_path)


def test_engine_rtl_bit_exact_and_cycles():
    """Three layers of different shapes through the RTL engine (Icarus): accumulators == x @ w.T, cycles == the
    estimator's engine_array_cost."""
    rng = np.random.default_rng(0)
    for pe, simd in ((2, 4), (3, 2)):
        dims = [(3, 10, 20), (2, 16, 33), (4, 7, 8)]
        layers = [(rng.integers(-255, 256, (v, d)), rng.integers(-128, 128, (c, d))) for v, c, d in dims]
        accs, cycles, _ = simulate_engine(pe, simd, layers)
        assert all(np.array_equal(a, x @ w.T) for a, (x, w) in zip(accs, layers, strict=True))
        rows = [engine_folds(pe, simd, v, c, d) for v, c, d in dims]
        assert engine_array_cost(pe, simd, rows, 24)["cycles"] == cycles


@pytest.mark.slow
def test_engine_estimator_vs_yosys():
    """The engine's array and control synthesized by yosys: DSP exact, FF within 5 %, LUT within 15 %."""
    for pe, simd in ((2, 4), (4, 4)):
        rows = [(3, 5, 4), (4, 6, 5), (5, 7, 6)]
        syn = synthesize_engine(pe, simd, rows, 24)
        est = engine_array_cost(pe, simd, rows, 24)
        assert syn.dsp == est["dsp"]
        assert abs(est["ff"] / syn.ff - 1) <= 0.05 and abs(est["lut"] / syn.lut - 1) <= 0.15


def test_design_choice_and_hardware_cost():
    """The 64-token ViT does not fit PYNQ-Z2 as per-layer dataflow: the estimator picks the engine, within 80 %
    of every resource, and hardware_cost (what `edgefmr search --board pynq-z2` costs) reports that design; the
    16-token ViT keeps the dataflow design."""
    g = acceptance_model("vit64_int8")
    df = estimate(g, "pynq-z2", design="dataflow", check=False)
    assert any(df["utilization"][r] > 0.8 for r in RESOURCES)
    e = estimate(g, "pynq-z2")
    assert e["design"] == "engine" and all(e["utilization"][r] <= 0.8 for r in RESOURCES)
    hw = hardware_cost(g, "pynq-z2")
    assert hw.resources == {r: e["total"][r] for r in RESOURCES} and hw.cycles == e["total"]["cycles"]
    assert estimate(acceptance_model("vit16_d64_int8"), "pynq-z2")["design"] == "dataflow"


def test_packed_weights_half_the_bram_bits():
    """The 64-token ViT's weights need about half the Zynq-7020's block RAM bits; packed in the engine's weight
    memory they take at most 60 % of its BRAM36."""
    board = load_board("pynq-z2")
    g = optimize(acceptance_model("vit64_int8"))
    weight_bits = sum(r.weights.size * 8 for r in engine_rows(g) if r.weights is not None)
    assert 0.4 <= weight_bits / (board.fpga.bram36 * BRAM36_BITS) <= 0.5
    for pe, simd in ((1, 1), (4, 8), (8, 8)):
        e = engine_cost(g, board, pe, simd, "bram")
        assert e["memories"]["weights"]["bram18"] / 2 <= 0.6 * board.fpga.bram36


def test_one_requantization_unit_per_layer():
    """An int8 ADD requantizes three times per element with one shared unit (4 DSP48E1, II = 3)."""
    b = GraphBuilder()
    x = b.input("x", (4, 16), scale=0.05, zero_point=1)
    y = b.input("y", (4, 16), scale=0.04, zero_point=-2)
    b.output(b.op("ADD", [x, y], scale=0.07, zero_point=0, name="add"))
    g = b.build()
    lc = layer_cost(call(g.nodes[0], g), Folding(), load_board("pynq-z2"))
    assert lc.dsp == 4 and lc.detail["requant_units"] == 1 and lc.cycles >= 3 * 64


@pytest.mark.slow
@pytest.mark.parametrize("name", ACCEPTANCE)
def test_acceptance_models_build_for_pynq(tmp_path, name):
    """Every acceptance model builds for PYNQ-Z2 within 80 % of DSP, BRAM36, LUT and FF, and its C simulation
    is bit-exact with the interpreter on the testbench records."""
    g = acceptance_model(name)
    man = build(g, "pynq-z2", tmp_path)
    assert all(man["predicted"]["utilization"][r] <= 0.8 for r in RESOURCES), man["predicted"]["utilization"]
    assert man["csim"]["bit_exact"] and "0 mismatches" in man["csim"]["report"]
