"""The HLS streaming top (efm_top_step): the states stay in the design (static arrays: registers or block RAM), and
its C simulation equals the interpreter's streaming program on every step, over more steps than the training
length."""

from __future__ import annotations

import shutil

import pytest
from stream_cases import frames, quantized, step_graph

from edgefmr.errors import EdgefmrError
from edgefmr.firmware.hls import build
from edgefmr.firmware.hls.streaming import REGISTER_STATE_ELEMENTS, run_stream_csim
from edgefmr.ir.streaming import run_stream, state_pairs, without_states

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")


def test_streaming_top_csim_bit_exact_per_step(tmp_path):
    case = "lmu-spiking"
    g = step_graph(case)
    steps = 3 * quantized(case).model.steps
    m = build(g, "pynq-z2", tmp_path, streaming=True, stream_frames=frames(g, steps, seed=11))
    st = m["streaming"]
    assert st["top"] == "efm_top_step" and st["csim"]["bit_exact"] and st["csim"]["steps"] == steps
    assert [s["input"] for s in st["states"]] == [i for i, _ in state_pairs(g)]
    cpp = (tmp_path / "model.cpp").read_text()
    assert "void efm_top_step(" in cpp and "static int32_t state_" in cpp and "ARRAY_PARTITION variable = state_" in cpp
    assert all((s["elements"] <= REGISTER_STATE_ELEMENTS) == (s["storage"] == "registers") for s in st["states"])
    x = frames(g, steps, seed=12)  # other frames, through the compiled csim_step
    got = run_stream_csim(tmp_path, g, x)
    want, _ = run_stream(g, x)
    assert [o[0].tolist() for o in got] == [w[0].tolist() for w in want]


def test_spiking_transformer_streaming_top(tmp_path):
    g = step_graph("spiking-softmax-sequence")
    m = build(g, "pynq-z2", tmp_path, streaming=True, stream_frames=frames(g, 8, seed=13))
    assert m["streaming"]["csim"]["bit_exact"] and m["streaming"]["csim"]["steps"] == 8


def test_streaming_needs_marks(tmp_path):
    with pytest.raises(EdgefmrError, match="--streaming needs a step program"):
        build(without_states(step_graph("lmu-gelu")), "pynq-z2", tmp_path, streaming=True)
