"""C code of the planner's fused steps (MCUFormer's tricks): row blocks, per-head attention, patch-embedding bands.

The loops are those of docs/planner.md, written down executably in `edgefmr.firmware.plan_exec`; this module emits
the same loops in C. Each node of a step runs through its ordinary emitter on a "mini" view of itself: the same
node and quantization with the shapes of one block (one row block, one head, one band), and pointer overrides
placing its operands in the arena (row r0 of a stored tensor), in the step's scratch (internal tensors), or in a
slice of a constant (one head's weights). Row offsets are C expressions of the loop variable `r0`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.firmware.c.emitters import C_TYPES, EmitContext, get_emitter
from edgefmr.firmware.planner import Plan
from edgefmr.firmware.schedule import Step, token_sliced
from edgefmr.ir.graph import Graph, Node, Quant, Tensor
from edgefmr.ops.registry import call


def _with_shape(t: Tensor, shape: tuple[int, ...], data: np.ndarray | None = None) -> Tensor:
    return Tensor(t.name, tuple(int(d) for d in shape), t.dtype, t.quant, data)


def _rows_shape(shape: tuple[int, ...], axis: int, n: int) -> tuple[int, ...]:
    s = list(shape)
    s[axis] = n
    return tuple(s)


class FusedWriter:
    """Emits the C body of fused steps for the model writer `w` (codegen._ModelWriter) and plan `plan`."""

    def __init__(self, w: Any, plan: Plan) -> None:
        self.w = w
        self.plan = plan
        self.g: Graph = plan.graph
        self.kernels: list[str] = []
        #: kernels called by the step being written (reset by the caller per step)
        self.step_kernels: list[str] = []

    # -- helpers
    def arena(self, offset: int, row_bytes: int = 0, ctype: str = "int8_t") -> str:
        """Pointer expression (ctype *) of arena byte `offset` (+ r0 * row_bytes)."""
        sym = self.w.arena_symbol[self.plan.region]
        addr = f"{sym} + {offset}" + (f" + r0 * {row_bytes}" if row_bytes else "")
        return f"({addr})" if ctype == "int8_t" else f"(({ctype} *)(void *)({addr}))"

    def stored(self, t: Tensor, row_bytes: int = 0) -> str:
        if t.name in self.plan.state:  # a streaming state input: its persistent slot
            base = self.w.tensor_ptr(t, "int8_t")
            addr = f"{base} + r0 * {row_bytes}" if row_bytes else base
            return f"({addr})" if C_TYPES[t.dtype] == "int8_t" else f"(({C_TYPES[t.dtype]} *)(void *)({addr}))"
        return self.arena(self.plan.offset(t.name), row_bytes, C_TYPES[t.dtype])

    def call_node(self, step: Step, node: Node, mini: dict[str, Tensor], ptrs: dict[str, tuple[str, bool]],
                  options: dict[str, Any] | None = None) -> str:
        """The C call of `node` on its mini view (`mini` tensors, pointer overrides `ptrs`)."""
        g = Graph(tensors=mini, nodes=[node])
        c = call(node, g)
        em = get_emitter(node.op)(EmitContext(self.w, c, step.index, ptrs, {**self.w.options, **(options or {})}))
        for k in em.kernels:
            if k not in self.kernels:
                self.kernels.append(k)
            if k not in self.step_kernels:
                self.step_kernels.append(k)
        return em.call

    def scratch_base(self, step: Step) -> int:
        if step.index not in self.plan.scratch:
            return 0
        return self.plan.scratch[step.index].offset

    # -- row blocks
    def rows(self, step: Step) -> str:
        g = self.g
        tl = step.tile
        tokens, rb = tl.tokens, tl.block_rows
        axes, widths = tl.token_axis, tl.row_bytes
        base = self.scratch_base(step)
        blocks = {b.tensor: base + b.offset for b in step.scratch if b.name.startswith("block:")}
        stages = {b.tensor: base + b.offset for b in step.scratch if b.name.startswith("stage:")}
        internal = set(step.internal)
        tail = tokens - (tl.blocks - 1) * rb

        def where(name: str) -> str:
            t = g.tensors[name]
            if name in internal:
                return self.arena(blocks[name], 0, C_TYPES[t.dtype])
            if name in stages:
                return self.arena(stages[name], 0, C_TYPES[t.dtype])
            return self.stored(t, widths[name])

        def body(n: int) -> list[str]:
            lines = []
            for i in step.nodes:
                node = g.nodes[i]
                out0 = g.tensors[node.outputs[0]]
                o_axis = axes[out0.name]
                mini: dict[str, Tensor] = {}
                ptrs: dict[str, tuple[str, bool]] = {}
                for pos, name in enumerate(node.inputs):
                    if not name:
                        continue
                    t = g.tensors[name]
                    if t.is_const:
                        data = t.data
                        if token_sliced(node.op, pos):
                            ax = o_axis - (len(out0.shape) - len(t.shape))
                            if 0 <= ax < len(t.shape) and t.shape[ax] == tokens:
                                data = np.take(data, range(n), axis=ax)
                                row = t.size // tokens
                                ptrs[name] = (f"({self.w.tensor_ptr(t, C_TYPES[t.dtype])} + r0 * {row})", True)
                        mini[name] = _with_shape(t, data.shape, data) if data is not t.data else t
                        continue
                    mini[name] = _with_shape(t, _rows_shape(t.shape, axes[name], n))
                    ptrs[name] = (where(name), False)
                for name in node.outputs:
                    t = g.tensors[name]
                    mini[name] = _with_shape(t, _rows_shape(t.shape, axes[name], n))
                    ptrs[name] = (where(name), False)
                lines.append(self.call_node(step, node, mini, ptrs, {"row_blocks": tl.blocks}))
            for name, off in stages.items():
                lines.append(f"memcpy({self.stored(g.tensors[name], widths[name])}, {self.arena(off)}, "
                             f"(size_t){n * widths[name]});")
            return lines

        full = body(rb)
        out = [f"for (int32_t r0 = 0; r0 < {tokens}; r0 += {rb}) {{"]
        if tail == rb:
            out += [f"    {ln}" for ln in full]
        else:
            out += [f"    if (r0 + {rb} <= {tokens}) {{"] + [f"        {ln}" for ln in full]
            out += ["    } else {"] + [f"        {ln}" for ln in body(tail)] + ["    }"]
        out.append("}")
        return "\n    ".join(out)

    # -- attention
    def _fc_slice(self, step: Step, fc: int, lo: int, hi: int, rows: int, x_ptr: str, y_ptr: str) -> str:
        """FULLY_CONNECTED node `fc` restricted to output features lo..hi-1 on `rows` tokens of its input."""
        g = self.g
        node = g.nodes[fc]
        xt, wt = g.tensors[node.inputs[0]], g.tensors[node.inputs[1]]
        bt = g.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
        yt = g.tensors[node.outputs[0]]

        def sliced(q: Quant | None) -> Quant | None:
            if q is None or not q.per_axis:
                return q
            return Quant(q.scale[lo:hi], q.zero_point[lo:hi], q.axis)

        depth = wt.shape[1]
        x_shape = (1, rows, depth) if len(xt.shape) == 3 else (rows, depth)
        mini = {xt.name: _with_shape(xt, x_shape),
                wt.name: Tensor(wt.name, (hi - lo, depth), wt.dtype, sliced(wt.quant), wt.data[lo:hi])}
        ptrs = {xt.name: (x_ptr, False), yt.name: (y_ptr, False),
                wt.name: (f"({self.w.tensor_ptr(wt, C_TYPES[wt.dtype])} + {lo * depth})", True)}
        if bt is not None:
            mini[bt.name] = Tensor(bt.name, (hi - lo,), bt.dtype, sliced(bt.quant), bt.data[lo:hi])
            ptrs[bt.name] = (f"({self.w.tensor_ptr(bt, C_TYPES[bt.dtype])} + {lo})", True)
        lead = (1,) * (len(yt.shape) - 2) if call(node, g).attrs["keep_num_dims"] else ()
        mini[yt.name] = _with_shape(yt, (*lead, rows, hi - lo))
        return self.call_node(step, node, mini, ptrs)

    def attention(self, step: Step) -> str:
        g = self.g
        tl = step.tile
        tokens, heads, d, rb = tl.tokens, tl.heads, tl.head_dim, tl.block_rows
        base = self.scratch_base(step)
        sc = {b.name: base + b.offset for b in step.scratch}
        out_t = g.tensors[tl.out]
        width = out_t.nbytes // tokens
        isz = out_t.nbytes // out_t.size
        qk, sm, pv = g.nodes[tl.qk], g.nodes[tl.softmax], g.nodes[tl.pv]
        mul = g.nodes[tl.scale] if tl.scale is not None else None
        gate = g.nodes[tl.gate] if tl.gate is not None else None
        fc_out = {k: g.tensors[g.nodes[getattr(tl, k).fc].outputs[0]] for k in ("q", "k", "v")}
        srcs = {k: g.tensors[getattr(tl, k).src] for k in ("q", "k", "v")}
        tail = tokens - (tl.blocks - 1) * rb

        def scratch(name: str, t: Tensor) -> tuple[str, bool]:
            return self.arena(sc[name], 0, C_TYPES[t.dtype]), False

        def block(j: int, n: int) -> list[str]:
            lo, hi = j * d, (j + 1) * d
            src = srcs["q"]
            lines = [self._fc_slice(step, tl.q.fc, lo, hi, n, self.stored(src, src.nbytes // tokens),
                                    scratch("q_block", fc_out["q"])[0])]
            ta, tb, ts = (g.tensors[x] for x in (qk.inputs[0], qk.inputs[1], qk.outputs[0]))
            mini = {ta.name: _with_shape(ta, (1, 1, n, d)), tb.name: _with_shape(tb, (1, 1, tokens, d)),
                    ts.name: _with_shape(ts, (1, 1, n, tokens))}
            ptrs = {ta.name: scratch("q_block", ta), tb.name: scratch("k_head", tb), ts.name: scratch("s_block", ts)}
            lines.append(self.call_node(step, qk, mini, ptrs))
            s_name = ts.name
            if mul is not None:
                mini, ptrs = {}, {}
                for name in mul.inputs:
                    t = g.tensors[name]
                    if t.is_const:
                        mini[name] = t
                    else:
                        mini[name] = _with_shape(t, (1, 1, n, tokens))
                        ptrs[name] = scratch("s_block", t)
                mo = g.tensors[mul.outputs[0]]
                mini[mo.name] = _with_shape(mo, (1, 1, n, tokens))
                ptrs[mo.name] = scratch("s_block", mo)
                lines.append(self.call_node(step, mul, mini, ptrs))
                s_name = mo.name
            si, so = g.tensors[sm.inputs[0]], g.tensors[sm.outputs[0]]
            if si.name != s_name:
                raise EdgefmrError(f"attention step {step.name!r}: SOFTMAX does not read the scores")
            mini = {si.name: _with_shape(si, (1, 1, n, tokens)), so.name: _with_shape(so, (1, 1, n, tokens))}
            lines.append(self.call_node(step, sm, mini, {si.name: scratch("s_block", si),
                                                         so.name: scratch("p_block", so)}))
            pa, pb, po = (g.tensors[x] for x in (pv.inputs[0], pv.inputs[1], pv.outputs[0]))
            mini = {pa.name: _with_shape(pa, (1, 1, n, tokens)), pb.name: _with_shape(pb, (1, 1, tokens, d)),
                    po.name: _with_shape(po, (1, 1, n, d))}
            y = self.arena(self.plan.offset(out_t.name) + lo * isz, width, C_TYPES[po.dtype])
            ptrs = {pa.name: scratch("p_block", pa), pb.name: scratch("v_head", pb), po.name: (y, False)}
            lines.append(self.call_node(step, pv, mini, ptrs, {"y_row_stride": width // isz}))
            if gate is not None:
                lines += self._gate_rows(step, gate, j, n, lo * isz, width)
            return lines

        out: list[str] = []
        for j in range(heads):
            lo, hi = j * d, (j + 1) * d
            out.append(f"/* head {j} */")
            for k in ("k", "v"):
                src = srcs[k]
                out.append(self._fc_slice(step, getattr(tl, k).fc, lo, hi, tokens, self.stored(src),
                                          scratch(f"{k}_head", fc_out[k])[0]))
            out.append(f"for (int32_t r0 = 0; r0 < {tokens}; r0 += {rb}) {{")
            if tail == rb:
                out += [f"    {ln}" for ln in block(j, rb)]
            else:
                out += [f"    if (r0 + {rb} <= {tokens}) {{"] + [f"        {ln}" for ln in block(j, rb)]
                out += ["    } else {"] + [f"        {ln}" for ln in block(j, tail)] + ["    }"]
            out.append("}")
        return "\n    ".join(out)

    def _gate_rows(self, step: Step, gate: Node, head: int, n: int, col: int, width: int) -> list[str]:
        """ATTENTION_GATE in place on the `n` output rows of query block r0 of head `head` (its p.v result, at byte
        column `col` of rows of `width` bytes), one row (one gate logit) per call."""
        g = self.g
        at, gt, yt = (g.tensors[x] for x in (gate.inputs[0], gate.inputs[1], gate.outputs[0]))
        if {at.dtype, gt.dtype, yt.dtype} != {"int8"}:
            raise EdgefmrError(f"attention step {step.name!r}: ATTENTION_GATE in a fused attention takes int8 only")
        tokens, d = step.tile.tokens, step.tile.head_dim
        sym = self.w.arena_symbol[self.plan.region]
        row = f"({sym} + {self.plan.offset(step.tile.out) + col} + (r0 + r1) * {width})"
        logit = f"({sym} + {self.plan.offset(gt.name) + head * tokens} + r0 + r1)"
        mini = {at.name: _with_shape(at, (1, 1, 1, d)), gt.name: _with_shape(gt, (1, 1, 1)),
                yt.name: _with_shape(yt, (1, 1, 1, d))}
        ptrs = {at.name: (row, False), gt.name: (logit, False), yt.name: (row, False)}
        return [f"for (int32_t r1 = 0; r1 < {n}; r1++) {{", f"    {self.call_node(step, gate, mini, ptrs)}", "}"]

    # -- patch embedding
    def patch_embed(self, step: Step) -> str:
        g = self.g
        tl = step.tile
        node = g.nodes[step.nodes[0]]
        x, y = g.tensors[tl.input], g.tensors[tl.output]
        kh, _ = tl.kernel
        gh, gw = tl.grid
        band_in, band_out = tl.band_input_bytes, tl.band_output_bytes
        base = self.scratch_base(step)
        band = {b.name: base + b.offset for b in step.scratch}["band"]  # fused only when its output overwrites x
        mini = {x.name: _with_shape(x, (1, kh, x.shape[2], x.shape[3])), y.name: _with_shape(y, (1, 1, gw, y.shape[3]))}
        for name in node.inputs[1:]:
            if name:
                mini[name] = g.tensors[name]
        y_place = self.arena(self.plan.offset(y.name), band_out, C_TYPES[y.dtype])
        ptrs = {x.name: (self.arena(self.plan.offset(x.name), band_in, C_TYPES[x.dtype]), False),
                y.name: (self.arena(band, 0, C_TYPES[y.dtype]), False)}
        # The loop variable is named r0 for the arena helper; here it counts bands (rows of patches).
        lines = [f"for (int32_t r0 = 0; r0 < {gh}; r0++) {{", f"    {self.call_node(step, node, mini, ptrs)}",
                 f"    memcpy({y_place}, {self.arena(band)}, (size_t){band_out});", "}"]
        return "\n    ".join(lines)
