"""Ground truth for the estimator: the Verilog int8 MAC array simulated with Icarus Verilog (bit-exact with numpy,
cycles vs the estimator within 5 %) and synthesized with yosys synth_xilinx (DSP and FF within 10 %, LUT within
30 % of the estimator) on three array sizes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from edgefmr.boards import load_board
from edgefmr.firmware.hls.estimator import mac_array_cost
from edgefmr.firmware.rtl import simulate, synthesize

#: (pe, simd, cols, depth, vectors) of the three arrays compared.
ARRAYS = [(2, 4, 8, 32, 3), (4, 8, 16, 64, 2), (8, 8, 32, 64, 2)]

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")


@needs_iverilog
@pytest.mark.parametrize("pe, simd, cols, depth, vectors", ARRAYS + [(1, 1, 3, 5, 2), (3, 5, 6, 10, 1)])
def test_rtl_simulation_bit_exact_and_cycles(pe, simd, cols, depth, vectors):
    rng = np.random.default_rng(pe * 100 + simd)
    x = rng.integers(-255, 256, (vectors, depth))
    w = rng.integers(-128, 128, (cols, depth))
    x[0, :] = -255  # extreme operands: the largest accumulator magnitude
    w[0, :] = -128
    r = simulate(pe, simd, x, w)
    assert np.array_equal(r.acc, x @ w.T)
    est = mac_array_cost(pe, simd, vectors, cols, depth, "mac", load_board("pynq-z2"))["cycles"]
    assert abs(est - r.cycles) <= 0.05 * r.cycles, (est, r.cycles)


@needs_yosys
@pytest.mark.slow
@pytest.mark.parametrize("pe, simd, cols, depth, vectors", ARRAYS)
def test_estimator_vs_yosys(pe, simd, cols, depth, vectors):
    s = synthesize(pe, simd, cols // pe, depth // simd, vectors)
    est = mac_array_cost(pe, simd, vectors, cols, depth, "mac", load_board("pynq-z2"))
    assert s.dsp == pe * simd
    assert abs(est["dsp"] - s.dsp) <= 0.10 * s.dsp
    assert abs(est["ff"] - s.ff) <= 0.10 * s.ff, (est["ff"], s.ff)
    assert abs(est["lut"] - s.lut) <= 0.30 * s.lut, (est["lut"], s.lut)
