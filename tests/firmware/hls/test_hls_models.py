"""Whole models through the HLS backend: build (estimate, generate, compile, testbench check) and C simulation ==
the reference interpreter, bit for bit: the ViT fixture, a spiking model (LIF, SPIKE_FULLY_CONNECTED) and an LMU
model (LMU_UPDATE) written with GraphBuilder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from paths import FIXTURES

from edgefmr.errors import EdgefmrError
from edgefmr.firmware.hls import build, run_csim
from edgefmr.ir import GraphBuilder, run
from edgefmr.ir.model_io import load_model

FIX = FIXTURES


def spiking_graph(seed: int = 0):
    """int8 [T, 32] -> FULLY_CONNECTED -> LIF -> SPIKE_FULLY_CONNECTED -> LIF -> SPIKE_FULLY_CONNECTED ->
    int8 [T, 10]."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input("x", (8, 32), scale=0.05, zero_point=-3)
    w = b.const("w0", rng.integers(-127, 128, (32, 32)).astype(np.int8), scale=rng.uniform(0.002, 0.01, 32))
    h = b.op("FULLY_CONNECTED", [x, w, b.const("b0", rng.integers(-500, 500, 32).astype(np.int32))], scale=0.08,
             zero_point=2, name="fc0")
    spike = {"dtype": "uint8", "scale": 1.0, "zero_point": 0}
    s1, _ = b.op_multi("LIF", [h], [spike, {"dtype": "int32"}], name="lif1", tau=2.0, threshold=1.0,
                       membrane_bits=12)
    w1 = b.const("w1", rng.integers(-127, 128, (16, 32)).astype(np.int8), scale=rng.uniform(0.005, 0.02, 16))
    h1 = b.op("SPIKE_FULLY_CONNECTED", [s1, w1], scale=0.06, zero_point=0, name="sfc1")
    s2, _ = b.op_multi("LIF", [h1], [spike, {"dtype": "int32"}], name="lif2", tau=3.5, threshold=0.5,
                       membrane_bits=10)
    w2 = b.const("w2", rng.integers(-127, 128, (10, 16)).astype(np.int8), scale=0.01)
    y = b.op("SPIKE_FULLY_CONNECTED", [s2, w2, b.const("b2", rng.integers(-50, 50, 10).astype(np.int32))],
             scale=0.05, zero_point=-5, name="sfc2")
    b.output(y)
    return b.build()


def lmu_graph(seed: int = 0):
    """int8 u [T, 4] -> LMU_UPDATE (order 8) -> RESHAPE [T, 32] -> FULLY_CONNECTED -> int8 [T, 10], plus the
    final LMU state as a second output (the streaming form's carry)."""
    from edgefmr.nas.models.lmu import legendre_zoh
    from edgefmr.ops.lmu_update import lmu_constants

    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    u = b.input("u", (12, 4), scale=0.03, zero_point=1)
    a, bb = lmu_constants(*legendre_zoh(8, 10.0), 24, 16)
    y, m = b.op_multi("LMU_UPDATE", [u, b.const("A", a), b.const("B", bb)],
                      [{"dtype": "int8", "scale": 0.02, "zero_point": 0}, {"dtype": "int32"}], name="lmu",
                      a_frac_bits=24, state_frac_bits=16)
    r = b.op("RESHAPE", [y, b.const("shape", np.array([12, 32], np.int32))], scale=0.02, zero_point=0,
             name="flat")
    w = b.const("w", rng.integers(-127, 128, (10, 32)).astype(np.int8), scale=rng.uniform(0.002, 0.01, 10))
    out = b.op("FULLY_CONNECTED", [r, w], scale=0.05, zero_point=0, name="head")
    b.output(out, m)
    return b.build()


def _check(g, art, records):
    got = run_csim(art, g, records)
    for rec, outs in zip(records, got, strict=True):
        want = run(g, rec)
        for name, a in zip(g.outputs, outs, strict=True):
            assert a.dtype == want[name].dtype and np.array_equal(a, want[name]), name


def test_vit_fixture_bit_exact(tmp_path):
    """The int8 ViT fixture (82 layers) on ZCU102: testbench records and 8 digits, C simulation == interpreter."""
    g = load_model(FIX / "vit_digits_int8.tflite")
    x = np.load(FIX / "digits_test_x.npy")
    records = [[x[i:i + 1]] for i in range(8)]
    man = build(g, "zcu102", tmp_path, test_inputs=records[:3])
    assert man["csim"]["bit_exact"] and man["csim"]["compile_s"] <= 30.0
    assert json.loads((tmp_path / "manifest.json").read_text())["model_hash"] == man["model_hash"]
    _check(g, tmp_path, records)


def test_vit_fixture_fits_pynq_with_fused_layer_norms():
    """Its TFLite-style decomposed LayerNorms (once 462 DSPs, over the Zynq-7020's 220) are one LayerNorm-chain
    process each, with one requantization unit: the per-layer dataflow design fits 80 % of the board."""
    from edgefmr.firmware.hls.estimator import estimate

    g = load_model(FIX / "vit_digits_int8.tflite")
    e = estimate(g, "pynq-z2")
    assert e["design"] == "dataflow" and e["utilization"]["dsp"] <= 0.8
    ops = {lay["op"] for lay in e["layers"]}
    assert "ADD_LAYER_NORM_CHAIN" in ops and "SQUARED_DIFFERENCE" not in ops and "RSQRT" not in ops


def test_spiking_model_bit_exact(tmp_path):
    g = spiking_graph()
    rng = np.random.default_rng(1)
    records = [[rng.integers(-128, 128, (8, 32)).astype(np.int8)] for _ in range(4)]
    man = build(g, "pynq-z2", tmp_path, test_inputs=records)
    assert {lay["op"] for lay in man["layers"]} >= {"LIF", "SPIKE_FULLY_CONNECTED"}
    _check(g, tmp_path, records)


def test_lmu_model_bit_exact(tmp_path):
    g = lmu_graph()
    rng = np.random.default_rng(2)
    records = [[rng.integers(-128, 128, (12, 4)).astype(np.int8)] for _ in range(4)]
    build(g, "ultra96-v2", tmp_path, test_inputs=records)
    _check(g, tmp_path, records)
    with pytest.raises(EdgefmrError, match="was built for model"):  # another model's artifact
        run_csim(tmp_path, lmu_graph(seed=1), records)


def test_project_files(tmp_path):
    """The project a user takes to Vitis HLS: top functions with AXI-stream / AXI-master interfaces and DATAFLOW,
    testbench, Tcl for the board's part and clock, only the kernels the model uses."""
    g = spiking_graph()
    man = build(g, "kv260", tmp_path, check=False)
    cpp = (tmp_path / "model.cpp").read_text()
    for pragma in ("INTERFACE mode = axis", "INTERFACE mode = m_axi", "DATAFLOW", "PIPELINE II = 1"):
        assert pragma in cpp or pragma in (tmp_path / "kernels" / "fully_connected.h").read_text()
    tcl = (tmp_path / "run_hls.tcl").read_text()
    assert "set_part {xck26-sfvc784-2LV-c}" in tcl and "create_clock -period 5.0000" in tcl
    assert "set_top efm_top" in tcl and "csim_design" in tcl and "csynth_design" in tcl
    kernels = sorted(p.name for p in (tmp_path / "kernels").iterdir())
    assert "lif.h" in kernels and "softmax.h" not in kernels
    assert man["predicted"]["total"]["dsp"] > 0 and "csim" not in man


def test_ap_types_from_the_installed_package_and_standard_int_fallback(tmp_path):
    """The ap_int headers are used in place from the installed hls4ml package (never copied into the project);
    the same design built against that package's hls_stream.h, and with standard integer types, gives the same
    bits."""
    from edgefmr.firmware.hls.project import ap_types_dir, check_csim, compile_csim

    g = spiking_graph(3)
    build(g, "pynq-z2", tmp_path, check=False)
    assert not list(tmp_path.rglob("ap_int*.h"))
    ap = ap_types_dir()
    if ap is not None:
        assert f"AP_TYPES ?= {ap}" in (tmp_path / "Makefile").read_text()
        compile_csim(tmp_path)
        assert "0 mismatches" in check_csim(tmp_path)
        # the kernels also build against the hls_stream.h shipped beside ap_int.h (the vendor API)
        assert (ap / "hls_stream.h").is_file()
        compile_csim(tmp_path, extra="-DEFM_VENDOR_STREAM")
        assert "0 mismatches" in check_csim(tmp_path)
    compile_csim(tmp_path, ap_types=False)
    assert "0 mismatches" in check_csim(tmp_path)
