"""edgefmr.ir.streaming: state-pair marks, their checks, and the interpreter's streaming program."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from quant_cases import CASES, data
from stream_cases import frames, quantized, step_graph

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder, load, save
from edgefmr.ir.streaming import (
    frame_array,
    frame_inputs,
    initial_states,
    io_view,
    is_streaming,
    mark_states,
    run_stream,
    state_bytes,
    state_pairs,
    step_outputs,
)
from edgefmr.ops.quantize import affine_quantize
from edgefmr.quant.lmu import stream_ir


def test_marks_survive_the_efm_file(tmp_path):
    g = step_graph("lmu-spiking")
    pairs = state_pairs(g)
    assert len(pairs) == len(g.inputs) - 1 == len(g.outputs) - 1
    assert frame_inputs(g) == g.inputs[:1] and step_outputs(g) == g.outputs[:1]
    save(g, tmp_path / "step.efm")
    h = load(tmp_path / "step.efm")
    assert state_pairs(h) == pairs and is_streaming(h)
    assert state_bytes(h) == sum(h.tensor(i).nbytes for i, _ in pairs)
    v = io_view(h)
    assert v.inputs == frame_inputs(h) and v.outputs == step_outputs(h) and not is_streaming(v)


def test_bad_marks_are_errors():
    g = copy.copy(step_graph("lmu-gelu"))
    g.metadata = dict(g.metadata)
    (i0, o0), (i1, o1) = state_pairs(g)[:2]
    with pytest.raises(IRError, match="is not a graph input"):
        mark_states(copy.copy(g), [("nope", o0)])
    with pytest.raises(IRError, match="state .* is int8"):
        mark_states(copy.copy(g), [(i0, o1)])
    with pytest.raises(IRError, match="marked twice"):
        mark_states(copy.copy(g), [(i0, o0), (i0, o0)])
    assert state_pairs(g) == state_pairs(step_graph("lmu-gelu"))  # failed marks leave the graph as it was
    b = GraphBuilder()
    x = b.input("x", (4,), scale=0.1, zero_point=0)
    b.output(b.op("RELU", [x], scale=0.1, zero_point=0))
    h = b.build()
    with pytest.raises(IRError, match="a step needs a frame"):
        mark_states(h, [(h.inputs[0], h.outputs[0])])


def test_run_stream_is_the_whole_sequence_program():
    """Stepping the marked one-step program over a sample's frames ends with the logits stream_ir (and thus the
    whole-sequence graph) gives; the initial states are the zero points."""
    case = "lmu-gelu"
    qm, g = quantized(case), step_graph(case)
    x = data(CASES[case][1], 2, seed=5)
    want = stream_ir(qm, x, 1, graph=g)
    rows = qm.model.sequence(torch.as_tensor(x)).numpy()[:, : qm.model.steps * qm.model.cfg.patch]
    t = g.tensor(g.inputs[0])
    for k, r in enumerate(rows):
        xq = affine_quantize(r, t.scale, t.zero_point, "int8").reshape(-1, *t.shape[1:])
        outs, final = run_stream(g, xq)
        np.testing.assert_array_equal(outs[-1][0][0], want[k])
        assert len(final) == len(state_pairs(g))
    init = initial_states(g)
    assert [int(s.flat[0]) for s in init] == [g.tensor(i).zero_point if g.tensor(i).quant else 0
                                              for i, _ in state_pairs(g)]


def test_frame_shapes():
    g = step_graph("lmu-spiking")  # frame [1, 1, 3]
    f = frames(g, 5)
    assert frame_array(g, f).shape == (5, 1, 3)
    assert frame_array(g, f.reshape(5, 3)).shape == (5, 1, 3)
    assert frame_array(g, f.reshape(5, 1, 1, 3)).shape == (5, 1, 3)
    with pytest.raises(IRError, match=r"frames must be \[steps, 1, 3\]"):
        frame_array(g, np.zeros((5, 4), np.int8))
    with pytest.raises(IRError, match="must be int8"):
        frame_array(g, f.astype(np.int16))
    with pytest.raises(IRError, match="not a step program"):
        run_stream(io_view(g), f)
