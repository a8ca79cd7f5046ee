"""LAYER_NORM_CHAIN (TensorFlow's int8 LayerNorm chain fused by edgefmr.ir.passes): the op alone, instructions per
element, portable vs Cortex-M kernel (target 40 on the M4); and the converter's ViT fixture on both QEMU boards
with and without the LayerNorm pass (executed instructions per inference and per MAC of the whole model)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from bench._kernel_util import BOARDS, op_records
from edgefmr.device.semihost import graph_instructions
from edgefmr.ir.passes import fuse_layer_norm

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ((16, 32), (16, 64), (64, 96))
#: The issue's bound for the whole fused LayerNorm on the Cortex-M4, executed instructions per element.
TARGET = 40.0


def _op_cases():
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from op_cases import layer_norm_chain_inputs, layer_norm_chain_unfused

    return layer_norm_chain_inputs, layer_norm_chain_unfused


def op_rows() -> list[dict]:
    """The fixture's form (SQUARED_DIFFERENCE) with random quantization, two input records: LAYER_NORM_CHAIN
    without and with per-channel gamma and beta (the whole fused LayerNorm: target 40 on the M4) and, beside it,
    ADD_LAYER_NORM_CHAIN (the residual ADD included; no target)."""
    inputs, unfused = _op_cases()
    out = []
    variants = [(shape, "LAYER_NORM_CHAIN", {}, TARGET) for shape in SHAPES]
    variants += [(shape, "ADD_LAYER_NORM_CHAIN", {"residual": True}, None) for shape in SHAPES]
    variants += [((16, 32), "LAYER_NORM_CHAIN", {"gamma": True, "beta": True}, TARGET)]
    for shape, op, kw, target in variants:
        rng = np.random.default_rng(5)
        kw = {"gamma": False, "beta": False, **kw}
        g = fuse_layer_norm(unfused(rng, shape=shape, square_form="squared_difference", **kw))
        assert [n.op for n in g.nodes] == [op]
        recs = [inputs(g)(rng) for _ in range(2)]
        label = "x".join(map(str, shape)) + (" gamma+beta" if kw["gamma"] else "")
        out += op_records(op, label, g, recs, shape[0] * shape[1], "element", target)
    return out


def model_rows(images: int = 8) -> list[dict]:
    """vit_digits_int8.tflite on each board, Cortex-M kernels, with and without the pass (five
    ADD_LAYER_NORM_CHAIN nodes; bit-exact checked against the interpreter on the unfused graph for `images` test
    images)."""
    from edgefmr.ir.model_io import load_model
    from edgefmr.ops.registry import call

    g = load_model(ROOT / "tests" / "fixtures" / "vit_digits_int8.tflite")
    x = np.load(ROOT / "tests" / "fixtures" / "digits_test_x.npy")
    records = [[x[i:i + 1]] for i in range(images)]
    macs = sum(call(n, g).opdef.macs(call(n, g)) for n in g.nodes)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for board in BOARDS:
            for fuse in (False, True):
                r = graph_instructions(g, board, records, Path(tmp) / f"{board}-{fuse}", fuse=fuse)
                out.append({"kind": "layer_norm_pass", "model": "vit_digits_int8.tflite", "board": board,
                            "layer_norm_pass": fuse, "arm_kernels": ",".join(r["kernels"]) or "-",
                            "instructions": r["instructions"], "macs": macs,
                            "instructions_per_mac": round(r["instructions"] / macs, 3), "bit_exact": r["bit_exact"]})
    return out


def records() -> list[dict]:
    return op_rows() + model_rows()
