"""The streaming integer LMU (chunk graphs carrying every state) equals the whole-sequence integer LMU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quant_cases import CASES, data, make_model

from edgefmr.errors import EdgefmrError
from edgefmr.quant.lmu import stream_graph, stream_ir
from edgefmr.quant.quantizer import QuantOptions, evaluate_ir, quantize

torch.set_num_threads(1)


@pytest.mark.parametrize("case", ["lmu-gelu", "lmu-spiking", "lmu-relu-image-mean"])
def test_stream_equals_whole_sequence(case: str) -> None:
    family, shape, cfg, _ = CASES[case]
    model = make_model(family, shape, cfg)
    x = data(shape, 36)
    qm = quantize(model, family, x[:32], QuantOptions(calib_samples=32))
    whole = evaluate_ir(qm.graph(), x[32:])["logits"]
    steps = qm.model.steps
    for chunk in (1, 2, steps):
        if steps % chunk == 0:
            np.testing.assert_array_equal(stream_ir(qm, x[32:], chunk), whole, err_msg=f"chunk {chunk}")


def test_stream_graph_states_and_errors() -> None:
    family, shape, cfg, _ = CASES["lmu-spiking"]
    qm = quantize(make_model(family, shape, cfg), family, data(shape, 16), QuantOptions(calib_samples=16))
    g = stream_graph(qm, 2)
    assert len(g.inputs) == len(g.outputs)  # the input and every state in, logits and every state out
    assert [g.tensors[n].dtype for n in g.inputs[1:]] == [g.tensors[n].dtype for n in g.outputs[1:]]
    ops = {n.op for n in g.nodes}
    assert {"LIF", "LMU_UPDATE"} <= ops
    with pytest.raises(EdgefmrError, match="does not divide"):
        stream_ir(qm, data(shape, 1), chunk_steps=5)
