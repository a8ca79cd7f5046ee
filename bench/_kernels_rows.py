"""Kernel bench records of the elementwise and row-wise ops (issues #15, #16): ADD, SUB, MUL, SQUARED_DIFFERENCE
(same shape, row broadcast, scalar), MEAN (last axis, tokens), SOFTMAX / CLIPPED_SOFTMAX, LAYER_NORM, LUT (GELU)
and the ResNet-8 residual ADD; units are output elements, portable vs Cortex-M kernels on both QEMU cores."""

from __future__ import annotations

import numpy as np

from bench._kernel_util import op_records
from edgefmr.ir import Graph, GraphBuilder

#: The issues' bounds on the Cortex-M4 figure, instructions per output element.
TARGETS = {"ADD": 25, "SUB": 25, "MUL": 25, "SQUARED_DIFFERENCE": 25, "MEAN": 10, "SOFTMAX": 60,
           "CLIPPED_SOFTMAX": 60, "LAYER_NORM": 40, "LUT": None}


def _records(g: Graph, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(-128, 128, g.tensor(n).shape).astype(np.int8) for n in g.inputs] for _ in range(2)]


def _binary(op: str, sa: tuple, sb: tuple, act: str = "NONE") -> Graph:
    b = GraphBuilder({"name": f"{op.lower()}_bench"})
    x1 = b.input("a", sa, scale=0.05, zero_point=3)
    x2 = b.input("b", sb, scale=0.03, zero_point=-7)
    out = (2.0, 5) if op == "SQUARED_DIFFERENCE" else (0.08, 5)
    kw = {} if op == "SQUARED_DIFFERENCE" else {"activation": act}
    b.output(b.op(op, [x1, x2], scale=out[0], zero_point=out[1], **kw))
    return b.build()


def _mean(shape: tuple, axis: int, keep: bool) -> Graph:
    b = GraphBuilder({"name": "mean_bench"})
    x = b.input("x", shape, scale=0.05, zero_point=3)
    b.output(b.op("MEAN", [x, b.const("axes", np.array([axis], np.int32))], scale=0.03, zero_point=-2,
                  keep_dims=keep))
    return b.build()


def _softmax(shape: tuple, clipped: bool) -> Graph:
    b = GraphBuilder({"name": "softmax_bench"})
    x = b.input("x", shape, scale=0.1, zero_point=3)
    if clipped:
        b.output(b.op("CLIPPED_SOFTMAX", [x], scale=1 / 255, zero_point=-128, beta=1.0, gamma=-0.03, zeta=1.03))
    else:
        b.output(b.op("SOFTMAX", [x], scale=1 / 256, zero_point=-128, beta=1.0))
    return b.build()


def _layer_norm(shape: tuple) -> Graph:
    from edgefmr.ops.layer_norm import quantize_affine

    rng = np.random.default_rng(0)
    ch = shape[-1]
    gq, gs, bq = quantize_affine(rng.normal(1, 0.5, ch), rng.normal(0, 0.5, ch), 0.05)
    b = GraphBuilder({"name": "layer_norm_bench"})
    x = b.input("x", shape, scale=0.05, zero_point=3)
    b.output(b.op("LAYER_NORM", [x, b.const("gamma", gq, scale=gs, zero_point=0), b.const("beta", bq)],
                  scale=0.05, zero_point=-4, epsilon=1e-5))
    return b.build()


def _gelu(shape: tuple) -> Graph:
    from edgefmr.ops.lut import make_lut

    b = GraphBuilder({"name": "gelu_bench"})
    x = b.input("x", shape, scale=0.05, zero_point=3)
    b.output(b.op("LUT", [x, b.const("table", make_lut("gelu", (0.05, 3), (0.04, -5)))], scale=0.04,
                  zero_point=-5))
    return b.build()


def cases() -> list[tuple[str, str, Graph, int]]:
    """(op, shape label, graph, output elements) of every bench instance."""
    out = []
    for op in ("ADD", "SUB", "MUL", "SQUARED_DIFFERENCE"):
        for shape in ((16, 64), (64, 96), (64, 192)):
            n = int(np.prod(shape))
            lab = "x".join(map(str, shape))
            out.append((op, f"{lab} same shape", _binary(op, shape, shape), n))
            out.append((op, f"{lab} row broadcast [{shape[-1]}]", _binary(op, shape, (shape[-1],)), n))
            out.append((op, f"{lab} scalar", _binary(op, shape, ()), n))
    out.append(("ADD", "ResNet-8 residual 1x16x16x32 RELU", _binary("ADD", (1, 16, 16, 32), (1, 16, 16, 32), "RELU"),
                16 * 16 * 32))
    out.append(("MEAN", "64x96 last axis keep_dims", _mean((64, 96), 1, True), 64 * 96))
    out.append(("MEAN", "1x64x96 over tokens (axis 1)", _mean((1, 64, 96), 1, False), 64 * 96))
    for shape in ((4, 64, 64), (2, 16, 16)):
        for clipped in (False, True):
            op = "CLIPPED_SOFTMAX" if clipped else "SOFTMAX"
            out.append((op, "x".join(map(str, shape)), _softmax(shape, clipped), int(np.prod(shape))))
    out.append(("LAYER_NORM", "64x96", _layer_norm((64, 96)), 64 * 96))
    out.append(("LUT", "64x192 GELU", _gelu((64, 192)), 64 * 192))
    return out


def records() -> list[dict]:
    out = []
    for k, (op, shape, g, n) in enumerate(cases()):
        out += op_records(op, shape, g, _records(g, k), n, "element", target=TARGETS[op])
    return out
