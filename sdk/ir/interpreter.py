"""The reference interpreter: runs an IR graph with the ops' numpy integer kernels."""

from __future__ import annotations

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ir.graph import Graph, np_dtype
from edgefmr.ops.registry import call


def run(g: Graph, feeds: dict[str, np.ndarray] | list[np.ndarray], keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run one inference; return the graph outputs (every tensor when keep_all) by name."""
    if isinstance(feeds, list | tuple):
        feeds = dict(zip(g.inputs, feeds, strict=True))
    env: dict[str, np.ndarray] = {}
    for name in g.inputs:
        t = g.tensors[name]
        if name not in feeds:
            raise EdgefmrError(f"missing value for graph input {name!r}")
        x = np.asarray(feeds[name])
        if x.shape != t.shape or x.dtype != np_dtype(t.dtype):
            raise EdgefmrError(f"input {name!r} must be {t.dtype}{list(t.shape)}, got {x.dtype}{list(x.shape)}")
        env[name] = x
    for t in g.tensors.values():
        if t.is_const:
            env[t.name] = t.data
    for node in g.nodes:
        c = call(node, g)
        args = [env[n] if n else None for n in node.inputs]
        outs = c.opdef.run(c, args)
        for name, y in zip(node.outputs, outs, strict=True):
            t = g.tensors[name]
            assert y.shape == t.shape and y.dtype == np_dtype(t.dtype), (c.where, y.shape, y.dtype, t.shape, t.dtype)
            env[name] = y
    if keep_all:
        return env
    return {n: env[n] for n in g.outputs}


def run_batch(g: Graph, x: np.ndarray) -> np.ndarray:
    """Run N inputs stacked on a leading axis through a single-input, single-output graph."""
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise EdgefmrError("batch runs need a graph with one input and one output")
    return np.stack([run(g, [xi])[g.outputs[0]] for xi in x])
