"""The spiking transformer's one-step program (quant.spiking.stream_graph): after T steps on one input it gives the
whole model's logits; its states are every LIF membrane and the readout's running spike count."""

from __future__ import annotations

import numpy as np
import pytest
from quant_cases import CASES, data
from stream_cases import SPIKING_CASES, quantized, step_graph

from edgefmr.ir.streaming import run_stream, state_pairs
from edgefmr.ops.quantize import affine_quantize
from edgefmr.quant.quantizer import evaluate_ir


@pytest.mark.parametrize("case", SPIKING_CASES)
def test_t_steps_give_the_whole_model(case: str) -> None:
    qm, g = quantized(case), step_graph(case)
    lifs = [n for n in qm.graph().nodes if n.op == "LIF"]
    ops = {g.nodes[g.producers()[o]].op for _, o in state_pairs(g)}
    assert len(state_pairs(g)) == len(lifs) + 1 and ops == {"LIF", "LMU_UPDATE"}  # membranes + the spike count
    x = data(CASES[case][1], 4, seed=7)
    whole = evaluate_ir(qm.graph(), x)["logits"]
    t = g.tensor(g.inputs[0])
    for k in range(len(x)):
        xq = affine_quantize(x[k:k + 1], t.scale, t.zero_point, "int8")
        outs, _ = run_stream(g, [[xq]] * qm.model.cfg.T)
        np.testing.assert_array_equal(outs[-1][0][0], whole[k], err_msg=f"{case} sample {k}")
