"""Kernel bench records of CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D and MAX_POOL_2D (issues #15 and #16):
MLPerf-Tiny-like layers (DS-CNN, ResNet-8, MobileNetV1-0.25), patch embeddings and the LMU / spiking stems'
convolutions over time, portable vs Cortex-M kernels on QEMU Cortex-M4 and M7 (bench/_kernel_util.op_records)."""

from __future__ import annotations

import numpy as np

from bench._kernel_util import op_records
from edgefmr.ir import Graph, GraphBuilder
from edgefmr.ops.registry import call, get_op

#: Bounds of the Cortex-M4 executed instructions per MAC set by the issues.
CONV_1X1, CONV_GENERAL, CONV_FIRST, PATCH_EMBED, DEPTHWISE_3X3 = 1.6, 1.8, 4.0, 1.5, 5.0


def _conv(rng, x_shape, o, k, stride=(1, 1), padding="SAME", act="NONE") -> Graph:
    b = GraphBuilder({"name": "conv"})
    x = b.input("x", x_shape, scale=0.05, zero_point=int(rng.integers(-128, 128)))
    w = b.const("w", rng.integers(-127, 128, (o, *k, x_shape[3])).astype(np.int8),
                scale=rng.uniform(0.001, 0.01, o), zero_point=0)
    bias = b.const("b", rng.integers(-3000, 3000, o).astype(np.int32))
    b.output(b.op("CONV_2D", [x, w, bias], scale=0.2, zero_point=-128 if act == "RELU" else -5, padding=padding,
                  stride_h=stride[0], stride_w=stride[1], activation=act))
    return b.build()


def _dw(rng, x_shape, k, stride=(1, 1), act="NONE") -> Graph:
    b = GraphBuilder({"name": "depthwise"})
    c = x_shape[3]
    x = b.input("x", x_shape, scale=0.05, zero_point=int(rng.integers(-128, 128)))
    w = b.const("w", rng.integers(-127, 128, (1, *k, c)).astype(np.int8), scale=rng.uniform(0.001, 0.01, c),
                zero_point=0, axis=3)
    bias = b.const("b", rng.integers(-3000, 3000, c).astype(np.int32))
    b.output(b.op("DEPTHWISE_CONV_2D", [x, w, bias], scale=0.1, zero_point=-128 if act == "RELU" else 3,
                  padding="SAME", stride_h=stride[0], stride_w=stride[1], depth_multiplier=1, activation=act))
    return b.build()


def _pool(op, x_shape, f, s) -> Graph:
    b = GraphBuilder({"name": "pool"})
    x = b.input("x", x_shape, scale=0.05, zero_point=-7)
    b.output(b.op(op, [x], scale=0.05, zero_point=-7, padding="VALID", filter_h=f[0], filter_w=f[1],
                  stride_h=s[0], stride_w=s[1]))
    return b.build()


#: (op, shape text, graph maker, target per MAC or None) of each bench layer.
LAYERS = [
    ("CONV_2D", "DS-CNN first layer 10x4/s2 SAME, 49x10x1 -> 64",
     lambda r: _conv(r, (1, 49, 10, 1), 64, (10, 4), (2, 2), act="RELU"), CONV_FIRST),
    ("CONV_2D", "DS-CNN pointwise 1x1 64 -> 64 on 25x5", lambda r: _conv(r, (1, 25, 5, 64), 64, (1, 1)), CONV_1X1),
    ("CONV_2D", "ResNet-8 first layer 3x3 3 -> 16 on 32x32",
     lambda r: _conv(r, (1, 32, 32, 3), 16, (3, 3), act="RELU"), CONV_FIRST),
    ("CONV_2D", "ResNet-8 3x3 16 -> 16 on 32x32", lambda r: _conv(r, (1, 32, 32, 16), 16, (3, 3), act="RELU"),
     CONV_GENERAL),
    ("CONV_2D", "ResNet-8 3x3/s2 16 -> 32 on 32x32", lambda r: _conv(r, (1, 32, 32, 16), 32, (3, 3), (2, 2)),
     CONV_GENERAL),
    ("CONV_2D", "ResNet-8 shortcut 1x1/s2 16 -> 32 on 32x32", lambda r: _conv(r, (1, 32, 32, 16), 32, (1, 1), (2, 2)),
     CONV_1X1),
    ("CONV_2D", "MobileNetV1-0.25 first layer 3x3/s2 3 -> 8 on 96x96",
     lambda r: _conv(r, (1, 96, 96, 3), 8, (3, 3), (2, 2), act="RELU"), CONV_FIRST),
    ("CONV_2D", "MobileNetV1-0.25 pointwise 1x1 8 -> 16 on 48x48",
     lambda r: _conv(r, (1, 48, 48, 8), 16, (1, 1), act="RELU"), CONV_1X1),
    ("CONV_2D", "patch embedding 4x4/s4 VALID, 32x32x3 -> 96",
     lambda r: _conv(r, (1, 32, 32, 3), 96, (4, 4), (4, 4), "VALID"), PATCH_EMBED),
    ("CONV_2D", "patch embedding 2x2/s2 VALID, 8x8x1 -> 32",
     lambda r: _conv(r, (1, 8, 8, 1), 32, (2, 2), (2, 2), "VALID"), PATCH_EMBED),
    ("CONV_2D", "LMU embedding over time, kernel [8, 1] stride [4, 1] VALID, [1, 128, 1, 4] -> 64",
     lambda r: _conv(r, (1, 128, 1, 4), 64, (8, 1), (4, 1), "VALID"), CONV_GENERAL),
    ("CONV_2D", "spiking stem over time, kernel [3, 1] SAME, [1, 64, 1, 3] -> 32",
     lambda r: _conv(r, (1, 64, 1, 3), 32, (3, 1)), CONV_FIRST),
    ("DEPTHWISE_CONV_2D", "DS-CNN depthwise 3x3 on 25x5x64", lambda r: _dw(r, (1, 25, 5, 64), (3, 3), act="RELU"),
     DEPTHWISE_3X3),
    ("DEPTHWISE_CONV_2D", "MobileNetV1-0.25 depthwise 3x3 on 48x48x8",
     lambda r: _dw(r, (1, 48, 48, 8), (3, 3), act="RELU"), DEPTHWISE_3X3),
    ("DEPTHWISE_CONV_2D", "MobileNetV1-0.25 depthwise 3x3/s2 on 48x48x16",
     lambda r: _dw(r, (1, 48, 48, 16), (3, 3), (2, 2), act="RELU"), DEPTHWISE_3X3),
    ("MAX_POOL_2D", "2x2/s2 on 32x32x16 (per window tap)", lambda r: _pool("MAX_POOL_2D", (1, 32, 32, 16), (2, 2),
                                                                          (2, 2)), None),
    ("AVERAGE_POOL_2D", "2x2/s2 on 32x32x16 (per window tap)",
     lambda r: _pool("AVERAGE_POOL_2D", (1, 32, 32, 16), (2, 2), (2, 2)), None),
    ("AVERAGE_POOL_2D", "global 25x5 on 25x5x64, DS-CNN (per window tap)",
     lambda r: _pool("AVERAGE_POOL_2D", (1, 25, 5, 64), (25, 5), (1, 1)), None),
    ("AVERAGE_POOL_2D", "global 8x8 on 8x8x64, ResNet-8 (per window tap)",
     lambda r: _pool("AVERAGE_POOL_2D", (1, 8, 8, 64), (8, 8), (1, 1)), None),
    ("AVERAGE_POOL_2D", "global 5x5 on 5x5x64 (per window tap)",
     lambda r: _pool("AVERAGE_POOL_2D", (1, 5, 5, 64), (5, 5), (1, 1)), None),
]


def _units(g: Graph) -> tuple[int, str]:
    node = g.nodes[0]
    if node.op.endswith("POOL_2D"):
        return g.tensors[node.outputs[0]].size * node.attrs["filter_h"] * node.attrs["filter_w"], "element"
    return get_op(node.op).macs(call(node, g)), "MAC"


def records() -> list[dict]:
    out = []
    for k, (op, shape, make, target) in enumerate(LAYERS):
        rng = np.random.default_rng(1000 + k)
        g = make(rng)
        info = [np.iinfo(g.tensors[n].dtype) for n in g.inputs]
        recs = [[rng.integers(i.min, i.max, g.tensors[n].shape, endpoint=True).astype(g.tensors[n].dtype)
                 for n, i in zip(g.inputs, info, strict=True)] for _ in range(2)]
        units, unit = _units(g)
        out += op_records(op, shape, g, recs, units, unit, target=target)
    return out
