"""CONCATENATION -> kernels/concatenation.c (uint8 inputs with another quantization through a table made by the
op's own kernel)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ir.graph import Graph, Node, Tensor
from edgefmr.ops.registry import call


def _uint8_tables(c) -> list[np.ndarray | None]:
    """Per input: the 256-entry rescaling table (uint8 inputs whose quantization differs from the output's)."""
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


@emitter("CONCATENATION")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    y = c.out()
    n = len(c.node.inputs)
    axis = int(c.attrs["axis"]) % len(y.shape)
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    item = y.nbytes // max(y.size, 1)
    chunks = [int(np.prod(c.inp(i).shape[axis:], dtype=np.int64)) * item for i in range(n)]
    ptrs = ", ".join(ctx.inp(i, "void") for i in range(n))
    tables = _uint8_tables(c)
    tabs = "NULL"
    if any(t is not None for t in tables):
        tabs = ctx.ptr_array([ctx.array(t, "uint8_t") if t is not None else "NULL" for t in tables], "uint8_t")
    p = ctx.params("efm_concatenation_params", outer=outer, n_inputs=n, chunk_bytes=ctx.array(chunks, "int32_t"),
                   tables=tabs)
    return Emitted(f"{{ const void *const inputs[{n}] = {{{ptrs}}}; efm_concatenation({p}, inputs, "
                   f"{ctx.out(0, 'void')}); }}", ("concatenation",), inplace=tuple(range(n)))
