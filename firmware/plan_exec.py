"""Run a `Plan` the way the firmware will: every tensor in one byte arena at its planned offset, fused steps as
the loops of docs/planner.md, each node through its numpy reference kernel on row blocks, heads or bands.

This is the executable specification of the schedule for the code generator and the planner's strongest test:
outputs must equal `edgefmr.ir.run` bit for bit. Bytes that no live tensor owns are overwritten with a poison
pattern after every step, so a lifetime that ends too early or two live tensors that share bytes change the
result instead of passing silently. (Reads inside one kernel call see a snapshot of their inputs, so in-place
hazards inside a single kernel are the C kernels' business, see docs/planner.md.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.firmware.planner import Plan
from edgefmr.firmware.schedule import Step, token_sliced
from edgefmr.ir.graph import Graph, Node, Quant, Tensor, np_dtype
from edgefmr.ops.registry import call

POISON = 0xA5


def _kernel(node: Node, tensors: dict[str, Tensor], xs: list[np.ndarray | None]) -> list[np.ndarray]:
    """Run `node` on a one-node graph made of `tensors` (whose shapes may be row blocks of the real ones)."""
    g = Graph(tensors=tensors, nodes=[node])
    c = call(node, g)
    return c.opdef.run(c, xs)


def _with_shape(t: Tensor, shape: tuple[int, ...], data: np.ndarray | None = None) -> Tensor:
    return Tensor(t.name, tuple(shape), t.dtype, t.quant, data)


class _Arena:
    def __init__(self, p: Plan):
        self.p = p
        self.g = p.graph
        self.mem = np.full(p.arena_size, POISON, np.uint8)

    def view(self, offset: int, nbytes: int) -> np.ndarray:
        if offset < 0 or offset + nbytes > self.mem.size:
            raise AssertionError(f"access [{offset}, {offset + nbytes}) outside the arena of {self.mem.size} B")
        return self.mem[offset:offset + nbytes]

    def read(self, offset: int, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        dt = np_dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        return self.view(offset, n).copy().view(dt).reshape(shape)

    def write(self, offset: int, arr: np.ndarray) -> None:
        b = np.ascontiguousarray(arr).view(np.uint8).ravel()
        self.view(offset, b.size)[:] = b

    def load(self, name: str) -> np.ndarray:
        t = self.g.tensors[name]
        if t.is_const:
            return t.data
        return self.read(self.p.offset(name), t.dtype, t.shape)

    def store(self, name: str, arr: np.ndarray) -> None:
        t = self.g.tensors[name]
        assert arr.shape == t.shape and arr.dtype == np_dtype(t.dtype), (name, arr.shape, arr.dtype)
        self.write(self.p.offset(name), arr)

    def poison_dead(self, step: int) -> None:
        """Overwrite every byte not held by a tensor that is still needed after `step`."""
        keep = np.zeros(self.mem.size, bool)
        outputs = set(self.g.outputs)
        for a in self.p.tensors.values():
            if a.first <= step + 1 <= a.last or a.name in outputs:
                keep[a.offset:a.end] = True
        self.mem[~keep] = POISON


def _rows_shape(shape: tuple[int, ...], axis: int, n: int) -> tuple[int, ...]:
    s = list(shape)
    s[axis] = n
    return tuple(s)


def _run_rows(ar: _Arena, step: Step, base: int) -> None:
    g = ar.g
    tl = step.tile
    tokens, rb = tl.tokens, tl.block_rows
    axes, widths = tl.token_axis, tl.row_bytes
    blocks = {b.tensor: b.offset for b in step.scratch if b.name.startswith("block:")}
    stages = {b.tensor: b.offset for b in step.scratch if b.name.startswith("stage:")}
    internal = set(step.internal)
    for r0 in range(0, tokens, rb):
        n = min(rb, tokens - r0)
        for i in step.nodes:
            node = g.nodes[i]
            out0 = g.tensors[node.outputs[0]]
            o_axis = axes[out0.name]
            mini: dict[str, Tensor] = {}
            xs: list[np.ndarray | None] = []
            for pos, name in enumerate(node.inputs):
                if not name:
                    xs.append(None)
                    continue
                t = g.tensors[name]
                if t.is_const:
                    data = t.data
                    if token_sliced(node.op, pos):
                        pad = len(out0.shape) - len(t.shape)
                        ax = o_axis - pad
                        if 0 <= ax < len(t.shape) and t.shape[ax] == tokens:
                            data = np.take(data, range(r0, r0 + n), axis=ax)
                    mini[name] = _with_shape(t, data.shape, data)
                    xs.append(data)
                    continue
                shape = _rows_shape(t.shape, axes[name], n)
                if name in internal:
                    off = base + blocks[name]
                elif name in stages:
                    off = base + stages[name]
                else:
                    off = ar.p.offset(name) + r0 * widths[name]
                xs.append(ar.read(off, t.dtype, shape))
                mini[name] = _with_shape(t, shape)
            for name in node.outputs:
                t = g.tensors[name]
                mini[name] = _with_shape(t, _rows_shape(t.shape, axes[name], n))
            ys = _kernel(node, mini, xs)
            for name, y in zip(node.outputs, ys, strict=True):
                if name in internal:
                    ar.write(base + blocks[name], y)
                elif name in stages:
                    ar.write(base + stages[name], y)
                else:
                    ar.write(ar.p.offset(name) + r0 * widths[name], y)
        for name, off in stages.items():
            t = g.tensors[name]
            y = ar.read(base + off, t.dtype, _rows_shape(t.shape, axes[name], n))
            ar.write(ar.p.offset(name) + r0 * widths[name], y)


def _fc_slice(g: Graph, fc: int, lo: int, hi: int, x: np.ndarray, rows: int) -> np.ndarray:
    """FULLY_CONNECTED node `fc` restricted to output channels lo..hi-1, on `x` with `rows` tokens."""
    node = g.nodes[fc]
    xt, wt = g.tensors[node.inputs[0]], g.tensors[node.inputs[1]]
    bt = g.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
    yt = g.tensors[node.outputs[0]]

    def sliced_quant(q: Quant | None) -> Quant | None:
        if q is None or not q.per_axis:
            return q
        return Quant(q.scale[lo:hi], q.zero_point[lo:hi], q.axis)

    mini = {xt.name: _with_shape(xt, x.shape),
            wt.name: Tensor(wt.name, (hi - lo, wt.shape[1]), wt.dtype, sliced_quant(wt.quant), wt.data[lo:hi])}
    xs: list[np.ndarray | None] = [x, wt.data[lo:hi]]
    if bt is not None:
        mini[bt.name] = Tensor(bt.name, (hi - lo,), bt.dtype, sliced_quant(bt.quant), bt.data[lo:hi])
        xs.append(bt.data[lo:hi])
    lead = (1,) * (len(yt.shape) - 2) if call(node, g).attrs["keep_num_dims"] else ()
    mini[yt.name] = _with_shape(yt, (*lead, rows, hi - lo) if lead or len(yt.shape) >= 2 else (rows, hi - lo))
    return _kernel(node, mini, xs)[0].reshape(rows, hi - lo)


def _run_attention(ar: _Arena, step: Step, base: int) -> None:
    g = ar.g
    tl = step.tile
    tokens, heads, d, rb = tl.tokens, tl.heads, tl.head_dim, tl.block_rows
    sc = {b.name: base + b.offset for b in step.scratch}
    srcs = {k: ar.load(getattr(tl, k).src) for k in ("q", "k", "v")}
    flat = {k: v.reshape(tokens, -1) for k, v in srcs.items()}
    out = tl.out
    out_t = g.tensors[out]
    o_base, width = ar.p.offset(out), out_t.nbytes // tokens
    dt = {k: g.tensors[g.nodes[getattr(tl, k).fc].outputs[0]].dtype for k in ("q", "k", "v")}
    qk, sm, pv = g.nodes[tl.qk], g.nodes[tl.softmax], g.nodes[tl.pv]
    mul = g.nodes[tl.scale] if tl.scale is not None else None
    gate = g.nodes[tl.gate] if tl.gate is not None else None
    logits = ar.load(gate.inputs[1]).reshape(heads, tokens) if gate is not None else None

    def bmm(node: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ta, tb, ty = (g.tensors[node.inputs[0]], g.tensors[node.inputs[1]], g.tensors[node.outputs[0]])
        yshape = (1, 1, a.shape[2], b.shape[2] if call(node, g).attrs["adj_y"] else b.shape[3])
        mini = {ta.name: _with_shape(ta, a.shape), tb.name: _with_shape(tb, b.shape), ty.name: _with_shape(ty, yshape)}
        return _kernel(node, mini, [a, b])[0]

    def pointwise(node: Node, x: np.ndarray) -> np.ndarray:
        mini, xs = {}, []
        for name in node.inputs:
            t = g.tensors[name]
            mini[name] = _with_shape(t, t.shape if t.is_const else x.shape, t.data)
            xs.append(t.data if t.is_const else x)
        mini[node.outputs[0]] = _with_shape(g.tensors[node.outputs[0]], x.shape)
        return _kernel(node, mini, xs)[0]

    for j in range(heads):
        lo, hi = j * d, (j + 1) * d
        ar.write(sc["k_head"], _fc_slice(g, tl.k.fc, lo, hi, flat["k"][None] if len(srcs["k"].shape) == 3
                                         else flat["k"], tokens))
        ar.write(sc["v_head"], _fc_slice(g, tl.v.fc, lo, hi, flat["v"][None] if len(srcs["v"].shape) == 3
                                         else flat["v"], tokens))
        for r0 in range(0, tokens, rb):
            n = min(rb, tokens - r0)
            qx = ar.load(tl.q.src).reshape(tokens, -1)[r0:r0 + n]
            ar.write(sc["q_block"], _fc_slice(g, tl.q.fc, lo, hi, qx[None] if len(srcs["q"].shape) == 3
                                              else qx, n))
            q = ar.read(sc["q_block"], dt["q"], (1, 1, n, d))
            k = ar.read(sc["k_head"], dt["k"], (1, 1, tokens, d))
            ar.write(sc["s_block"], bmm(qk, q, k))
            s_dtype = g.tensors[qk.outputs[0]].dtype
            if mul is not None:
                ar.write(sc["s_block"], pointwise(mul, ar.read(sc["s_block"], s_dtype, (1, 1, n, tokens))))
                s_dtype = g.tensors[mul.outputs[0]].dtype
            ar.write(sc["p_block"], pointwise(sm, ar.read(sc["s_block"], s_dtype, (1, 1, n, tokens))))
            p = ar.read(sc["p_block"], g.tensors[sm.outputs[0]].dtype, (1, 1, n, tokens))
            v = ar.read(sc["v_head"], dt["v"], (1, 1, tokens, d))
            a = bmm(pv, p, v)
            if gate is not None:
                gv = logits[j, r0:r0 + n].reshape(1, 1, n)
                mini = {t: _with_shape(g.tensors[t], s) for t, s in zip(
                    (gate.inputs[0], gate.inputs[1], gate.outputs[0]), (a.shape, gv.shape, a.shape), strict=True)}
                a = _kernel(gate, mini, [a, gv])[0]
            a = a.reshape(n, d)
            isz = a.dtype.itemsize
            for r in range(n):
                ar.write(o_base + (r0 + r) * width + lo * isz, a[r])


def _run_patch_embed(ar: _Arena, step: Step, base: int) -> None:
    g = ar.g
    tl = step.tile
    node = g.nodes[step.nodes[0]]
    x, y = g.tensors[tl.input], g.tensors[tl.output]
    kh, _ = tl.kernel
    gh, gw = tl.grid
    band_in, band_out = tl.band_input_bytes, tl.band_output_bytes
    band = {b.name: base + b.offset for b in step.scratch}["band"]  # fused only when its output overwrites x
    x_off, y_off = ar.p.offset(x.name), ar.p.offset(y.name)
    for b in range(gh):
        xb = ar.read(x_off + b * band_in, x.dtype, (1, kh, x.shape[2], x.shape[3]))
        mini = {x.name: _with_shape(x, xb.shape), y.name: _with_shape(y, (1, 1, gw, y.shape[3]))}
        for name in node.inputs[1:]:
            if name:
                mini[name] = g.tensors[name]
        xs = [xb] + [g.tensors[n].data if n else None for n in node.inputs[1:]]
        yb = _kernel(node, mini, xs)[0]
        ar.write(band, yb)
        ar.write(y_off + b * band_out, ar.read(band, y.dtype, yb.shape))


def execute(p: Plan, feeds: list[np.ndarray] | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run `p` on one input set in a simulated arena; the graph outputs by name."""
    g = p.graph
    if isinstance(feeds, list | tuple):
        feeds = dict(zip(g.inputs, feeds, strict=True))
    ar = _Arena(p)
    for name in g.inputs:
        x = np.asarray(feeds[name])
        t = g.tensors[name]
        if x.shape != t.shape or x.dtype != np_dtype(t.dtype):
            raise EdgefmrError(f"input {name!r} must be {t.dtype}{list(t.shape)}, got {x.dtype}{list(x.shape)}")
        ar.store(name, x)
    for step in p.schedule.steps:
        base = p.scratch[step.index].offset if step.index in p.scratch else -1
        if not step.fused:
            for i in step.nodes:
                node = g.nodes[i]
                ys = _kernel(node, g.tensors, [ar.load(t) if t else None for t in node.inputs])
                for name, y in zip(node.outputs, ys, strict=True):
                    ar.store(name, y)
        elif step.kind == "rows":
            _run_rows(ar, step, base)
        elif step.kind == "attention":
            _run_attention(ar, step, base)
        elif step.kind == "patch_embed":
            _run_patch_embed(ar, step, base)
        else:  # pragma: no cover - schedule kinds are fixed
            raise AssertionError(step.kind)
        ar.poison_dead(step.index)
    return {name: ar.load(name) for name in g.outputs}


def execute_all(p: Plan, feeds: list[np.ndarray]) -> dict[str, Any]:
    """`execute` plus the arena size used, for reports."""
    return {"outputs": execute(p, feeds), "arena_bytes": p.arena_size}
