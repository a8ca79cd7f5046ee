"""CONCATENATION: join tensors along one axis, as LiteRT's reference kernel.

int8/int16/int32/float32 inputs are copied unchanged (LiteRT requires int8 inputs to carry the output's scale
and zero point, and int16 zero points of 0); uint8 inputs whose quantization differs from the output's are
requantized in float32 exactly as TFLite's ConcatenationWithScaling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ir.graph import Graph, Node, Tensor
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.registry import Attr, OpCall, OpDef, call, register

DTYPES = ("int8", "uint8", "int16", "int32", "int64", "float32", "bool")


def _axis(c: OpCall) -> int:
    rank = len(c.inp(0).shape)
    axis = int(c.attrs["axis"])
    if not -rank <= axis < rank:
        raise c.fail(f"axis {axis} is out of range for rank {rank}; valid: {-rank}..{rank - 1}")
    return axis + rank if axis < 0 else axis


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """C's roundf on float32 values (exact: float32 values plus 0.5 are exact in float64)."""
    x = np.asarray(x, np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


@register
class Concatenation(OpDef):
    name = "CONCATENATION"
    n_inputs = (1, 64)
    tflite_options = "ConcatenationOptions"
    attrs = {
        "axis": Attr(0, "axis"),
        "activation": Attr("NONE", "fusedActivationFunction", "ActivationFunctionType", fp.FUSED_ACTIVATIONS),
    }

    def check(self, c: OpCall) -> None:
        xs = [c.inp(i) for i in range(len(c.node.inputs))]
        y = c.out()
        if any(x is None for x in xs):
            raise c.fail("every input must be present")
        if c.attrs["activation"] != "NONE":
            act = c.attrs["activation"]
            raise c.fail(f"fused activation {act} is not supported by TFLite's kernel; valid: NONE")
        dt = xs[0].dtype
        if dt not in DTYPES:
            raise c.fail(f"dtype {dt} is not supported; valid: {', '.join(DTYPES)}")
        for x in xs:
            if x.dtype != dt:
                raise c.fail(f"all inputs must have one dtype, got {dt} and {x.dtype} ({x.name!r})")
        if y.dtype != dt:
            raise c.fail(f"output dtype {y.dtype} must equal the input dtype {dt}")
        if dt in ("int8", "uint8", "int16"):
            for t in [*xs, y]:
                if t.quant is None or t.quant.per_axis:
                    raise c.fail(f"{dt} tensor {t.name!r} needs per-tensor quantization")
        if dt == "int8":
            for x in xs:
                if (x.scale, x.zero_point) != (y.scale, y.zero_point):
                    raise c.fail(
                        f"int8 input {x.name!r} (scale {x.scale}, zero point {x.zero_point}) must have the "
                        f"output's quantization (scale {y.scale}, zero point {y.zero_point}); requantize it "
                        "first (QUANTIZE)")
        if dt == "int16" and any(t.zero_point != 0 for t in [*xs, y]):
            raise c.fail("int16 inputs and output need zero point 0")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        xs = [c.inp(i) for i in range(len(c.node.inputs))]
        if any(x is None for x in xs):
            raise c.fail("every input must be present")
        s0 = xs[0].shape
        if len(s0) == 0:
            raise c.fail("inputs must have rank >= 1")
        axis = _axis(c)
        total = 0
        for x in xs:
            other = [d for i, d in enumerate(x.shape) if i != axis]
            if len(x.shape) != len(s0) or other != [d for i, d in enumerate(s0) if i != axis]:
                raise c.fail(f"input {x.name!r} {list(x.shape)} does not match {list(s0)} off axis {axis}")
            total += x.shape[axis]
        return [(*s0[:axis], total, *s0[axis + 1:])]

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        y = c.out()
        parts = []
        for i, x in enumerate(xs):
            t = c.inp(i)
            if y.dtype == "uint8" and (t.scale, t.zero_point) != (y.scale, y.zero_point):
                # TFLite's ConcatenationWithScaling: float32 scale = s_in * (1/s_out), bias = -zp_in * scale.
                inv = np.float32(1.0) / np.float32(y.scale)
                scale = np.float32(t.scale) * inv
                bias = np.float32(-t.zero_point) * scale
                v = x.astype(np.float32) * scale + bias
                x = np.clip(_round_half_away(v) + y.zero_point, 0, 255).astype(np.uint8)
            parts.append(x)
        return [np.concatenate(parts, axis=_axis(c))]


def uint8_tables(c: OpCall) -> list[np.ndarray | None]:
    """Per input: the 256-entry rescaling table made by this op's kernel (uint8 inputs whose quantization differs
    from the output's), else None."""
    y = c.out()
    tables: list[np.ndarray | None] = []
    for i in range(len(c.node.inputs)):
        t = c.inp(i)
        if y.dtype != "uint8" or (t.scale, t.zero_point) == (y.scale, y.zero_point):
            tables.append(None)
            continue
        g = Graph()
        g.tensors["x"] = Tensor("x", (256,), "uint8", t.quant)
        g.tensors["y"] = Tensor("y", (256,), "uint8", y.quant)
        pc = call(Node("CONCATENATION", ["x"], ["y"], {"axis": 0}), g)
        tables.append(pc.opdef.run(pc, [np.arange(256, dtype=np.uint8)])[0])
    return tables


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_concatenation_params: outer blocks, the inputs' chunk bytes per block (int32) and the per-input
    rescaling tables (uint8 arrays or None, see uint8_tables)."""
    y = c.out()
    n = len(c.node.inputs)
    axis = int(c.attrs["axis"]) % len(y.shape)
    item = y.nbytes // max(y.size, 1)
    chunks = [int(np.prod(c.inp(i).shape[axis:], dtype=np.int64)) * item for i in range(n)]
    return {"outer": int(np.prod(y.shape[:axis], dtype=np.int64)), "n_inputs": n,
            "chunk_bytes": np.asarray(chunks, np.int32), "tables": uint8_tables(c)}
