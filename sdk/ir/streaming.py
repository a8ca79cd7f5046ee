"""Streaming (step) programs: graphs whose state is carried from one call to the next.

A step graph computes one step of a stream: it reads one *frame* (its first inputs) and the current *state* (the
remaining inputs) and writes the step's output (its first outputs) and the next state (the remaining outputs). The
state tensor pairs are marked in the graph's metadata, so the mark travels in the ``.efm`` file::

    metadata["stream_states"] = [{"input": "<state in>", "output": "<state out>"}, ...]

Each pair has the same shape and dtype; its initial value (after a reset) is the input's zero point (0 when it is
not quantized): the real value 0, e.g. an all-zero causal window or LMU memory, a membrane at rest. A graph with
marks runs as a stream on the interpreter (:func:`run_stream`) and, built with ``edgefmr build --streaming``, on the
board, where the planner keeps the state in a persistent region apart from the arena (docs/streaming.md).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import numpy as np

from edgefmr.errors import IRError
from edgefmr.ir.graph import Graph, np_dtype
from edgefmr.ir.interpreter import run

KEY = "stream_states"


def mark_states(g: Graph, pairs: Iterable[tuple[str, str]]) -> Graph:
    """Mark `pairs` (state input, state output) of `g` in place and return `g` (checked by :func:`state_pairs`; `g`
    is left unchanged when the check fails)."""
    trial = copy.copy(g)
    trial.metadata = {**g.metadata, KEY: [{"input": i, "output": o} for i, o in pairs]}
    state_pairs(trial)
    g.metadata = trial.metadata
    return g


def state_pairs(g: Graph) -> list[tuple[str, str]]:
    """The marked (state input, state output) pairs of `g` ([] for a graph without marks); IRError naming the pair
    that is not a graph input/output pair of one shape and dtype."""
    raw = g.metadata.get(KEY)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise IRError(f"metadata {KEY!r} must be a list of {{input, output}} pairs, got {type(raw).__name__}")
    pairs: list[tuple[str, str]] = []
    for k, p in enumerate(raw):
        if not isinstance(p, dict) or not isinstance(p.get("input"), str) or not isinstance(p.get("output"), str):
            raise IRError(f"metadata {KEY}[{k}] must be {{'input': name, 'output': name}}, got {p!r}")
        i, o = p["input"], p["output"]
        if i not in g.inputs:
            raise IRError(f"metadata {KEY}[{k}]: {i!r} is not a graph input")
        if o not in g.outputs:
            raise IRError(f"metadata {KEY}[{k}]: {o!r} is not a graph output")
        ti, to = g.tensor(i), g.tensor(o)
        if ti.shape != to.shape or ti.dtype != to.dtype:
            raise IRError(f"metadata {KEY}[{k}]: state {i!r} is {ti.dtype}{list(ti.shape)} but {o!r} is "
                          f"{to.dtype}{list(to.shape)}")
        pairs.append((i, o))
    if len({i for i, _ in pairs}) != len(pairs) or len({o for _, o in pairs}) != len(pairs):
        raise IRError(f"metadata {KEY}: a state input or output is marked twice")
    if len(pairs) >= len(g.inputs) or len(pairs) >= len(g.outputs):
        raise IRError(f"metadata {KEY}: every input or every output is a state; a step needs a frame and an output")
    return pairs


def is_streaming(g: Graph) -> bool:
    """True when `g` has marked state pairs."""
    return bool(state_pairs(g))


def frame_inputs(g: Graph) -> list[str]:
    """The graph inputs that are not states (the frame), in order."""
    states = {i for i, _ in state_pairs(g)}
    return [n for n in g.inputs if n not in states]


def step_outputs(g: Graph) -> list[str]:
    """The graph outputs that are not states (the step's output), in order."""
    states = {o for _, o in state_pairs(g)}
    return [n for n in g.outputs if n not in states]


def io_view(g: Graph) -> Graph:
    """A shallow copy of `g` whose inputs are the frame and whose outputs are the step's output (what a device
    stream reads and writes; the tensors are shared)."""
    v = copy.copy(g)
    v.inputs, v.outputs = frame_inputs(g), step_outputs(g)
    v.metadata = {k: val for k, val in g.metadata.items() if k != KEY}
    return v


def without_states(g: Graph) -> Graph:
    """A shallow copy of `g` without the marks (every state an ordinary input and output)."""
    v = copy.copy(g)
    v.metadata = {k: val for k, val in g.metadata.items() if k != KEY}
    return v


def initial_value(g: Graph, name: str) -> int:
    """The value every element of state `name` starts from: its zero point, 0 when it is not quantized."""
    t = g.tensor(name)
    return 0 if t.quant is None else t.zero_point


def initial_states(g: Graph) -> list[np.ndarray]:
    """The states after a reset, in the order of :func:`state_pairs`."""
    return [np.full(g.tensor(i).shape, initial_value(g, i), np_dtype(g.tensor(i).dtype)) for i, _ in state_pairs(g)]


def state_bytes(g: Graph) -> int:
    """Bytes of all the state tensors (unaligned)."""
    return sum(g.tensor(i).nbytes for i, _ in state_pairs(g))


def frame_array(g: Graph, frames: np.ndarray) -> np.ndarray:
    """`frames` as ``[steps, *frame shape]`` in the frame's dtype: a frame tensor ``[1, *s]`` takes ``[steps, *s]``
    (or ``[steps, 1, *s]``, or ``s`` without its leading 1s, e.g. ``[steps, 16]`` for a ``[1, 1, 16]`` frame);
    IRError naming the expected shape otherwise. One-frame-input graphs only."""
    ins = frame_inputs(g)
    if len(ins) != 1:
        raise IRError(f"a stream of frames needs a step graph with one frame input, this one has {len(ins)}")
    t = g.tensor(ins[0])
    x = np.asarray(frames)
    want = t.shape[1:] if t.shape and t.shape[0] == 1 else t.shape
    squeezed = tuple(want)
    while len(squeezed) > 1 and squeezed[0] == 1:
        squeezed = squeezed[1:]
    if x.ndim >= 1 and x.shape[1:] in (t.shape, squeezed):
        x = x.reshape((len(x), *want))
    if x.ndim < 1 or x.shape[1:] != tuple(want):
        raise IRError(f"frames must be [steps, {', '.join(map(str, want))}] (the frame input {ins[0]!r} is "
                      f"{list(t.shape)}), got {list(x.shape)}")
    if x.dtype != np_dtype(t.dtype):
        raise IRError(f"frames must be {t.dtype} (the frame input's dtype), got {x.dtype}")
    return x


def run_stream(g: Graph, frames: Sequence[np.ndarray] | np.ndarray,
               states: list[np.ndarray] | None = None) -> tuple[list[list[np.ndarray]], list[np.ndarray]]:
    """Run `g` as a stream on the reference interpreter: from `states` (default: a reset), one step per frame (an
    array per frame input, or a ``[steps, ...]`` array for one frame input). Returns (outputs per step: the step
    outputs of each step, the final states)."""
    pairs = state_pairs(g)
    if not pairs:
        raise IRError("the graph has no marked state pairs (metadata 'stream_states'); it is not a step program")
    ins, outs = frame_inputs(g), step_outputs(g)
    cur = list(initial_states(g) if states is None else states)
    if isinstance(frames, np.ndarray):
        x = frame_array(g, frames)
        frames = [[f.reshape(g.tensor(ins[0]).shape)] for f in x]
    results: list[list[np.ndarray]] = []
    for k, f in enumerate(frames):
        fr = list(f) if isinstance(f, list | tuple) else [f]
        if len(fr) != len(ins):
            raise IRError(f"step {k}: {len(fr)} frame arrays given, the graph has {len(ins)} frame inputs")
        feeds = dict(zip(ins, fr, strict=True))
        feeds.update({i: s for (i, _), s in zip(pairs, cur, strict=True)})
        res = run(g, feeds)
        results.append([res[o] for o in outs])
        cur = [res[o] for _, o in pairs]
    return results, cur
