"""Kernel parameters: the numbers a backend's kernel needs for one node, computed at generation time from the op
definition (quantization multipliers and shifts, clamp ranges, broadcast layouts, lookup tables built by the op's
own reference kernel). Both code generators read them, so the C and HLS kernels get the same numbers by
construction.

Each op module with compiled kernels defines `kernel_params(c: OpCall) -> dict[str, Any]`: the fields by the names
of the kernel's parameter struct (kernels/<op>.h); scalars as ints (np.float32 / float for scales), small per-axis
vectors as lists of ints, arrays as numpy arrays of the kernel's element type (int32 multipliers, uint8 / uint32
tables, float32 scales). `kernel_params(c)` here finds the op's own function. This module holds the helpers several
ops share.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from edgefmr.ir.graph import Graph, Node, Tensor
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.registry import OpCall, call

Params = dict[str, Any]

#: Highest number of strided axes of the strided-view kernels (TRANSPOSE, STRIDED_SLICE: efm_strided_view).
MAX_VIEW_DIMS = 8


def params_fn(op_module: str) -> Callable[[OpCall], Params] | None:
    """The `kernel_params` function of op module `op_module` (e.g. "edgefmr.ops.add"), None when it has none."""
    return getattr(sys.modules[op_module], "kernel_params", None)  # the op's module registered the op


def has_kernel_params(c: OpCall) -> bool:
    """True when node `c`'s op defines kernel parameters."""
    return params_fn(type(c.opdef).__module__) is not None


def kernel_params(c: OpCall) -> Params:
    """The kernel parameters of node `c` (its op module's `kernel_params`); c.fail() when the op has none."""
    fn = params_fn(type(c.opdef).__module__)
    if fn is None:
        raise c.fail("the op has no kernel parameters")
    return fn(c)


def per_channel(values: np.ndarray, n: int) -> list[int]:
    """`values` (one per channel, or one for all) as a list of `n` ints."""
    v = np.asarray(values, np.int64).ravel()
    return [int(x) for x in np.broadcast_to(v, (n,))] if v.size in (1, n) else [int(x) for x in v]


def int32_array(values: Any) -> np.ndarray:
    """`values` as an int32 array (per-channel multipliers and shifts, exp tables)."""
    return np.asarray(values, np.int64).astype(np.int32)


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


def probe(c: OpCall, xs: dict[int, np.ndarray]) -> np.ndarray:
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
            g.tensors[name] = Tensor(name, tuple(x.shape), t.dtype, t.quant)
            args.append(x)
        else:
            g.tensors[name] = t
            args.append(t.data)
    y = c.out()
    g.tensors[y.name] = Tensor(y.name, (), y.dtype, y.quant)
    node = Node(c.node.op, list(c.node.inputs), [y.name], dict(c.node.attrs), c.node.name)
    pc = call(node, g)
    g.tensors[y.name].shape = tuple(int(d) for d in pc.opdef.infer(pc)[0])
    return pc.opdef.run(pc, args)[0]


def byte_table(c: OpCall, input_pos: int = 0) -> np.ndarray:
    """The 256 outputs (as uint8 bit patterns, or uint32 for 4-byte outputs) of a unary node for every value of its
    8-bit input, index = input - (-128 for int8, 0 for uint8)."""
    t = c.inp(input_pos)
    info = np.iinfo(t.dtype)
    values = np.arange(info.min, info.max + 1, dtype=np.int64).astype(t.dtype)
    out = np.ascontiguousarray(probe(c, {input_pos: values}))
    return out.view(np.uint32) if out.dtype.itemsize == 4 else out.view(np.uint8)


def table_params(c: OpCall) -> Params:
    """A unary op on an 8-bit input as a 256-entry lookup: n elements, `table` (uint8, or uint32 for 4-byte
    outputs) made by the op's own kernel (byte_table)."""
    return {"n": c.inp(0).size, "table": byte_table(c)}


def op_table_params(c: OpCall) -> Params:
    """LOGISTIC, TANH, RSQRT: n elements and the op's own 256-entry table (OpDef.table) as uint8 bit patterns."""
    return {"n": c.inp(0).size, "table": np.ascontiguousarray(c.opdef.table(c)).view(np.uint8)}


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


def strided_view(start_counts_strides: tuple[int, list[int], list[int]], elem_size: int,
                 max_dims: int = MAX_VIEW_DIMS) -> tuple[int, Params]:
    """(start, efm_strided_view fields) of a strided selection, with mergeable axes merged; ValueError when it
    needs more than `max_dims` axes."""
    start, counts, strides = start_counts_strides
    if any(n == 0 for n in counts):
        counts, strides = [0], [1]
    else:
        counts, (strides,) = merge_axes(counts, strides)
    if not counts:
        counts, strides = [1], [1]
    if len(counts) > max_dims:
        raise ValueError(f"the selection needs {len(counts)} strided axes; the kernel handles {max_dims}")
    return start, {"ndim": len(counts), "elem_size": elem_size, "count": counts, "stride": strides}


def index_view_params(c: OpCall) -> Params:
    """TRANSPOSE, STRIDED_SLICE: the strided view the node selects from its input, found by running its own kernel
    on the element indices: `start` (element offset) and the efm_strided_view fields."""
    xt = c.inp(0)
    index = probe(c, {0: np.arange(xt.size, dtype=np.int64).reshape(xt.shape)})
    try:
        start, fields = strided_view(affine_view(np.asarray(index)), np.dtype(c.out().dtype).itemsize)
    except ValueError as e:
        msg = "the selection is not a strided view of the input" if str(e) == "not a strided view" else str(e)
        raise c.fail(msg) from None
    return {"start": start, **fields}
