"""Streaming step programs of small quantized LMU models (tests/support/quant_cases.py) and frames for them."""

from __future__ import annotations

import functools

import numpy as np
import torch
from quant_cases import CASES, data, make_model

from edgefmr.ir import Graph
from edgefmr.ir.streaming import frame_inputs

#: The LMU cases: non-spiking GELU (patch 2, kernel 3), spiking with a running-mean readout, ReLU on image rows.
STREAM_CASES = ("lmu-gelu", "lmu-spiking", "lmu-relu-image-mean")
#: Spike-driven transformers: SDSA on an image, softmax attention on a sequence.
SPIKING_CASES = ("spiking-sdsa", "spiking-softmax-sequence")


@functools.cache
def quantized(case: str):  # noqa: ANN201 - a QuantizedModel
    """The quantized model of `case` (32 calibration samples)."""
    from edgefmr.quant.quantizer import QuantOptions, quantize

    torch.set_num_threads(1)
    family, shape, cfg, _ = CASES[case]
    return quantize(make_model(family, shape, cfg), family, data(shape, 32), QuantOptions(calib_samples=32))


@functools.cache
def step_graph(case: str) -> Graph:
    """The one-step program of `case` (quant.lmu.stream_graph with chunk 1, or quant.spiking.stream_graph)."""
    from edgefmr.quant import lmu, spiking

    qm = quantized(case)
    return lmu.stream_graph(qm, 1) if qm.family == "lmu" else spiking.stream_graph(qm)


def training_steps(case: str) -> int:
    """The steps the model of `case` was built for: embedded steps (LMU) or time steps T (spiking)."""
    m = quantized(case).model
    return m.steps if hasattr(m, "steps") else m.cfg.T


def frames(g: Graph, steps: int, seed: int = 0) -> np.ndarray:
    """`steps` random int8 frames [steps, *frame shape without the batch axis]."""
    t = g.tensor(frame_inputs(g)[0])
    return np.random.default_rng(seed).integers(-128, 128, (steps, *t.shape[1:])).astype(np.int8)
