"""Helpers shared by the C emitters: per-channel multipliers, activation ranges, broadcasting strides."""

from __future__ import annotations

import numpy as np

from edgefmr.ir.graph import Graph, Node, Tensor
from edgefmr.ir.graph import Tensor as T
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.registry import call


def per_channel(values: np.ndarray, n: int) -> list[int]:
    """`values` (one per channel, or one for all) as a list of `n` ints."""
    v = np.asarray(values, np.int64).ravel()
    return [int(x) for x in np.broadcast_to(v, (n,))] if v.size in (1, n) else [int(x) for x in v]


def act_range(activation: str, y: Tensor) -> tuple[int, int]:
    """Clamp bounds of a fused activation on output `y` (edgefmr.ops.fixedpoint.activation_range)."""
    return fp.activation_range(activation, y.scale, y.zero_point, y.dtype)


def contiguous_strides(shape: tuple[int, ...]) -> list[int]:
    """Row-major element strides of `shape`."""
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        s *= d
    return out[::-1]


def merge_axes(count: list[int], *strides: list[int]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 axes and merge adjacent axes that every stride vector walks contiguously.

    Axis i merges into axis i+1 when, for each stride vector s, s[i] == s[i+1] * count[i+1].
    """
    axes = [(c, [s[i] for s in strides]) for i, c in enumerate(count) if c != 1]
    if not axes:
        return [], [[] for _ in strides]
    merged = [axes[-1]]
    for c, ss in reversed(axes[:-1]):
        c2, ss2 = merged[0]
        if all(a == b * c2 for a, b in zip(ss, ss2, strict=True)):
            merged[0] = (c * c2, ss2)
        else:
            merged.insert(0, (c, ss))
    return [c for c, _ in merged], [[ss[k] for _, ss in merged] for k in range(len(strides))]


def broadcast_strides(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[int]:
    """Element strides of a tensor of `shape` seen through numpy broadcasting as `out_shape` (0 on repeats)."""
    pad = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    own = contiguous_strides(pad)
    return [0 if d == 1 and o != 1 else s for d, o, s in zip(pad, out_shape, own, strict=True)]


def probe(c, xs: dict[int, np.ndarray]) -> np.ndarray:
    """Run node `c`'s own reference kernel on probe inputs `xs` (input position -> array, any shape the op
    accepts), with every tensor's dtype, quantization and attributes kept: tables built this way come from the
    same numpy code path as the interpreter's results."""

    g = Graph()
    args: list[np.ndarray | None] = []
    for i, name in enumerate(c.node.inputs):
        t = c.inp(i)
        if t is None:
            args.append(None)
            continue
        if i in xs:
            x = np.asarray(xs[i])
            g.tensors[name] = T(name, tuple(x.shape), t.dtype, t.quant)
            args.append(x)
        else:
            g.tensors[name] = t
            args.append(t.data)
    y = c.out()
    g.tensors[y.name] = T(y.name, (), y.dtype, y.quant)
    node = Node(c.node.op, list(c.node.inputs), [y.name], dict(c.node.attrs), c.node.name)
    pc = call(node, g)
    g.tensors[y.name].shape = tuple(int(d) for d in pc.opdef.infer(pc)[0])
    return pc.opdef.run(pc, args)[0]


def byte_table(c, input_pos: int = 0) -> np.ndarray:
    """The 256 outputs (as uint8 bit patterns, or uint32 for 4-byte outputs) of a unary node for every value of its
    8-bit input, index = input - (-128 for int8, 0 for uint8)."""
    t = c.inp(input_pos)
    info = np.iinfo(t.dtype)
    values = np.arange(info.min, info.max + 1, dtype=np.int64).astype(t.dtype)
    out = np.ascontiguousarray(probe(c, {input_pos: values}))
    return out.view(np.uint32) if out.dtype.itemsize == 4 else out.view(np.uint8)


def affine_view(index: np.ndarray) -> tuple[int, list[int], list[int]]:
    """(start, counts, strides) with index[i0, i1, ...] == start + sum(i_d * stride_d) for every element, from an
    array of flat source indices; ValueError when the selection is not a strided view."""
    counts = list(index.shape)
    if index.size == 0:
        return 0, counts, [0] * len(counts)
    start = int(index.flat[0])
    strides = []
    for d, n in enumerate(counts):
        if n > 1:
            e = [0] * len(counts)
            e[d] = 1
            strides.append(int(index[tuple(e)]) - start)
        else:
            strides.append(0)
    grids = np.indices(index.shape, dtype=np.int64)
    expect = start + sum(g * s for g, s in zip(grids, strides, strict=True)) if counts else np.int64(start)
    if not np.array_equal(expect, index):
        raise ValueError("not a strided view")
    return start, counts, strides


def strided_view_params(ctx, start_counts_strides: tuple[int, list[int], list[int]], elem_size: int,
                        max_dims: int = 8) -> tuple[int, dict]:
    """(start, efm_strided_view fields) of a strided selection, with mergeable axes merged."""
    start, counts, strides = start_counts_strides
    if any(n == 0 for n in counts):
        counts, strides = [0], [1]
    else:
        counts, (strides,) = merge_axes(counts, strides)
    if not counts:
        counts, strides = [1], [1]
    if len(counts) > max_dims:
        raise ctx.fail(f"the selection needs {len(counts)} strided axes; the kernel handles {max_dims}")
    return start, {"ndim": len(counts), "elem_size": elem_size, "count": counts, "stride": strides}
