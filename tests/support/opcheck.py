"""Shared checks for op tests: interpreter vs LiteRT reference kernels, bit for bit, and .tflite/.efm round trips."""

from __future__ import annotations

import numpy as np

from edgefmr.ir import Graph, run
from edgefmr.ir.efm import from_json, to_json
from edgefmr.tflite import from_tflite, to_tflite
from edgefmr.tflite.litert import run_litert


def random_input(rng: np.random.Generator, g: Graph) -> list[np.ndarray]:
    """Uniform random values over each graph input's integer range."""
    feeds = []
    for name in g.inputs:
        t = g.tensors[name]
        info = np.iinfo(t.dtype)
        feeds.append(rng.integers(info.min, info.max, t.shape, endpoint=True).astype(t.dtype))
    return feeds


def assert_bit_exact(g: Graph, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """Interpreter == LiteRT (BUILTIN_REF) on every output; also after a .tflite and an .efm round trip."""
    ours = [run(g, feeds)[o] for o in g.outputs]
    ref = run_litert(g, feeds)
    for name, a, r in zip(g.outputs, ours, ref, strict=True):
        assert a.dtype == r.dtype and a.shape == r.shape, (name, a.dtype, a.shape, r.dtype, r.shape)
        if a.dtype.kind == "f":  # compare floats bit for bit
            a, r = a.view(f"i{a.itemsize}"), r.view(f"i{r.itemsize}")
        diff = np.abs(a.astype(np.int64) - r.astype(np.int64))
        assert diff.max(initial=0) == 0, f"{name}: {int((diff > 0).sum())} values differ, max {diff.max()} LSB"
    g2 = from_tflite(to_tflite(g))
    doc, arrays = to_json(g)
    g3 = from_json(doc, arrays)
    for other in (g2, g3):
        again = [run(other, feeds)[o] for o in other.outputs]
        for a, b in zip(ours, again, strict=True):
            np.testing.assert_array_equal(a, b)
    return ours
