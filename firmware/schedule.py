"""Execution schedules: the order of a graph's nodes and MCUFormer's transformer-specific fusions.

A `Schedule` is a list of `Step`s in execution order. Without tricks every node is one `op` step. With tricks
(MCUFormer, Liang et al., NeurIPS 2023) a pass over the IR graph recognizes three patterns and fuses them:

* `patch_embed` — patch-embedding decomposition: a CONV_2D whose kernel equals its stride (VALID, no dilation)
  is computed band by band (one row of patches at a time); its output tokens may overwrite the consumed image.
* `attention` — operator integration of multi-head self-attention: q/k/v FULLY_CONNECTED + RESHAPE + TRANSPOSE,
  BATCH_MATMUL(q, k^T), optional MUL by a scalar, (CLIPPED_)SOFTMAX, BATCH_MATMUL(p, v), optional ATTENTION_GATE
  (gated attention: its per-head gate logits are computed before the step), TRANSPOSE + RESHAPE are computed head by
  head and, per head, in blocks of query rows: only one head's K and V and a few score rows exist at once.
* `rows` — operator integration of token-local chains (LayerNorm decompositions, MLP fc1 -> activation -> fc2,
  output projections, residual ADDs ...): every node whose output row t depends only on row t of its inputs is
  grouped with its producers and computed in blocks of `block_rows` tokens, so the group's intermediates never
  exist whole; a group's outputs may overwrite its dying inputs in place (token overwriting).

With tricks, a single-node CONV_2D or DEPTHWISE_CONV_2D step may also write its output over its dying input, starting
`conv_overwrite_offset` bytes before it (in-place convolution: the kernels stream output rows in order).

The planner (`edgefmr.firmware.planner`) decides which overwrites happen and lays out memory; docs/planner.md
specifies what each step kind computes, its loops, the buffers it reads and writes and its scratch.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field
from typing import Any

from edgefmr.errors import EdgefmrError
from edgefmr.ir.graph import Graph, Node
from edgefmr.ops.conv_2d import conv_geometry
from edgefmr.ops.registry import call, get_op

#: Every buffer and scratch offset the planner hands out is a multiple of this many bytes.
ALIGN = 16
#: Tokens per block of a fused row group or attention query block (2 rows feed the dual-MAC kernels twice).
DEFAULT_BLOCK_ROWS = 4

#: The normalization of attention scores the attention pattern accepts.
SOFTMAX_OPS = frozenset({"SOFTMAX", "CLIPPED_SOFTMAX"})

STEP_KINDS = ("op", "rows", "attention", "patch_embed")


@dataclass(frozen=True)
class RowsTile:
    """A `rows` step: `tokens` rows computed in `blocks` blocks of `block_rows`; per tensor its token axis and the
    bytes of one row."""

    tokens: int
    block_rows: int
    blocks: int
    token_axis: dict[str, int]
    row_bytes: dict[str, int]


@dataclass(frozen=True)
class HeadSource:
    """Where an attention operand comes from: its FULLY_CONNECTED node and that node's input tensor."""

    fc: int
    src: str


@dataclass(frozen=True)
class AttentionTile:
    """An `attention` step: the node indices of each part (q/k/v projections, q.k^T, optional scale, softmax,
    p.v, optional ATTENTION_GATE `gate` whose gate logits [.., heads, tokens] the step reads), the head geometry,
    query blocks of `block_rows`, and the output tensor."""

    tokens: int
    heads: int
    head_dim: int
    block_rows: int
    blocks: int
    q: HeadSource
    k: HeadSource
    v: HeadSource
    qk: int
    scale: int | None
    softmax: int
    pv: int
    out: str
    gate: int | None = None


@dataclass(frozen=True)
class PatchEmbedTile:
    """A `patch_embed` step: a CONV_2D with kernel == stride computed one band (row of patches) at a time."""

    kernel: tuple[int, int]
    grid: tuple[int, int]
    channels_in: int
    embed: int
    image: tuple[int, int]
    band_input_bytes: int
    band_output_bytes: int
    input: str
    output: str


#: The tiling of a fused step (None for a single-node `op` step).
Tile = RowsTile | AttentionTile | PatchEmbedTile | None


def token_sliced(op: str, position: int) -> bool:
    """Whether a constant at input `position` of an `op` node in a `rows` step is data broadcast along the tokens
    (sliced block by block with the rows) rather than a parameter (weights, tables, shapes)."""
    d = get_op(op)
    return (d.access == "elementwise" or op == "CONCATENATION") and position not in d.const_inputs


def align(n: int) -> int:
    """`n` rounded up to a multiple of ALIGN."""
    return -(-int(n) // ALIGN) * ALIGN


def token_axis(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(axis, T) of a token tensor: leading 1s, then T >= 2 tokens on an axis that is not the last one."""
    for a, d in enumerate(shape):
        if d != 1:
            return (a, d) if a < len(shape) - 1 and d >= 2 else None
    return None


@dataclass
class Overwrite:
    """Token overwriting: `output` is written over `input`, which dies in this step.

    The output's buffer starts `input_offset` bytes before the input's (0 when the output is not larger, else the
    growth, so that writing output block b never reaches input blocks not yet read). `direct`: each output block is
    written to its place as soon as it is computed; otherwise it is staged in the step's scratch and copied after
    the last read of the matching input block.
    """

    output: str
    input: str
    input_offset: int
    direct: bool

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "input": self.input, "input_offset": self.input_offset,
                "direct": self.direct}


@dataclass
class ScratchBuf:
    """A piece of a step's scratch area: `offset` from the area's start, `size` bytes, the tensor it holds."""

    name: str
    offset: int
    size: int
    tensor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "offset": self.offset, "size": self.size, "tensor": self.tensor}


@dataclass
class Step:
    """One unit of execution: a single node (`op`) or a fused group of nodes (see the module docstring)."""

    index: int
    kind: str
    nodes: list[int]
    name: str
    reads: list[str]
    writes: list[str]
    internal: list[str]
    tile: Tile = None
    candidates: list[Overwrite] = field(default_factory=list)
    overwrites: list[Overwrite] = field(default_factory=list)
    scratch: list[ScratchBuf] = field(default_factory=list)

    @property
    def scratch_bytes(self) -> int:
        return max((s.offset + align(s.size) for s in self.scratch), default=0)

    @property
    def fused(self) -> bool:
        """True when the step needs a fused loop: anything but one node computed whole into its own buffers (or,
        an in-place convolution, over its input: the kernel itself streams the rows in order). A patch embedding
        whose output does not overwrite its input is one kernel call over the whole tensors (a loop over bands
        would only add calls)."""
        return self.kind == "attention" or len(self.nodes) > 1 or (self.kind != "op" and bool(self.overwrites))

    def to_dict(self, g: Graph | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"index": self.index, "kind": self.kind, "name": self.name, "nodes": self.nodes}
        if g is not None:
            d["node_names"] = [g.nodes[i].name or g.nodes[i].outputs[0] for i in self.nodes]
            d["ops"] = [g.nodes[i].op for i in self.nodes]
        d.update(reads=self.reads, writes=self.writes, internal=self.internal,
                 tile=asdict(self.tile) if self.tile else {},
                 overwrites=[o.to_dict() for o in self.overwrites], scratch=[s.to_dict() for s in self.scratch],
                 scratch_bytes=self.scratch_bytes, fused=self.fused)
        return d


@dataclass
class Schedule:
    """Steps in execution order; `node_step[i]` is the step that runs node i."""

    steps: list[Step]
    node_step: list[int]
    tricks: bool
    block_rows: int

    def to_dict(self, g: Graph | None = None) -> dict[str, Any]:
        return {"tricks": self.tricks, "block_rows": self.block_rows,
                "steps": [s.to_dict(g) for s in self.steps]}


# ---------------------------------------------------------------------------------------------------- helpers


def _nbytes(g: Graph, name: str) -> int:
    return g.tensors[name].nbytes


def _nonconst(g: Graph, node: Node) -> list[str]:
    return [t for t in node.inputs if t and not g.tensors[t].is_const]


def _padded(shape: tuple[int, ...], rank: int) -> tuple[int, ...]:
    return (1,) * (rank - len(shape)) + tuple(shape)


def _row_tokens(g: Graph, node: Node) -> int | None:
    """T when `node` is token-local: output token t depends only on token t of every non-constant input."""
    if len(node.outputs) != 1:
        return None
    out = g.tensors[node.outputs[0]]
    ta = token_axis(out.shape)
    if ta is None:
        return None
    a, t = ta
    ins = [g.tensors[n] for n in _nonconst(g, node)]
    if not ins:
        return None
    op = node.op
    access = get_op(op).access
    if access == "view":
        xa = token_axis(ins[0].shape)
        return t if xa is not None and xa[1] == t and ins[0].nbytes == out.nbytes else None
    if op == "FULLY_CONNECTED":
        x = g.tensors[node.inputs[0]]
        w = g.tensors[node.inputs[1]]
        xa = token_axis(x.shape)
        if x.is_const or xa is None or xa[1] != t or len(w.shape) != 2:
            return None
        rows = x.size // w.shape[1]
        return t if rows % t == 0 and out.size // w.shape[0] == rows else None
    if access == "elementwise":
        for name in node.inputs:
            if not name:
                continue
            x = g.tensors[name]
            p = _padded(x.shape, len(out.shape))
            if len(p) != len(out.shape) or any(d != 1 for d in p[:a]):
                return None
            if p[a] != t and not (x.is_const and p[a] == 1):
                return None
        return t
    if access == "row":
        return t if len(ins) == 1 and node.inputs[0] == ins[0].name and ins[0].shape == out.shape else None
    if op == "MEAN":
        x = ins[0]
        if token_axis(x.shape) != (a, t):
            return None
        axes = tuple(int(v) % len(x.shape) for v in g.tensors[node.inputs[1]].data.ravel())
        return t if axes == (len(x.shape) - 1,) and len(out.shape) == len(x.shape) else None
    if op == "CONCATENATION":
        axis = int(call(node, g).attrs["axis"]) % len(out.shape)
        if axis <= a:
            return None
        for name in node.inputs:
            x = g.tensors[name]
            if len(x.shape) != len(out.shape) or token_axis(x.shape) != (a, t):
                return None
        return t
    return None


# ---------------------------------------------------------------------------------------------------- patterns


def _patch_embed(g: Graph, i: int) -> PatchEmbedTile | None:
    """Tiling of node i when it is a patch embedding (CONV_2D, kernel == stride, VALID, no dilation)."""
    node = g.nodes[i]
    if node.op != "CONV_2D" or len(node.outputs) != 1:
        return None
    a = call(node, g).attrs
    x, w, y = g.tensors[node.inputs[0]], g.tensors[node.inputs[1]], g.tensors[node.outputs[0]]
    if x.is_const or len(x.shape) != 4 or x.shape[0] != 1 or len(w.shape) != 4:
        return None
    kh, kw = w.shape[1], w.shape[2]
    if a["padding"] != "VALID" or (a["dilation_h"], a["dilation_w"]) != (1, 1) or (a["stride_h"], a["stride_w"]) != (
            kh, kw):
        return None
    _, h_in, w_in, cin = x.shape
    _, gh, gw, e = y.shape
    isz, osz = x.nbytes // x.size, y.nbytes // y.size
    return PatchEmbedTile(kernel=(kh, kw), grid=(gh, gw), channels_in=cin, embed=e, image=(h_in, w_in),
                          band_input_bytes=kh * w_in * cin * isz, band_output_bytes=gw * e * osz, input=x.name,
                          output=y.name)


def _single_consumer(cons: dict[str, list[int]], g: Graph, name: str) -> int | None:
    users = cons.get(name, [])
    if len(users) != 1 or name in g.outputs:
        return None
    return users[0]


def _head_chain(g: Graph, prod: dict[str, int], cons: dict[str, list[int]], xt: str, user: int):
    """(fc, reshape, transpose) nodes making the per-head tensor `xt` = TRANSPOSE(RESHAPE(FC(src))), or None."""
    tr = prod.get(xt)
    if tr is None or g.nodes[tr].op != "TRANSPOSE" or _single_consumer(cons, g, xt) != user:
        return None
    xr = g.nodes[tr].inputs[0]
    rs = prod.get(xr)
    if rs is None or g.nodes[rs].op != "RESHAPE" or _single_consumer(cons, g, xr) != tr:
        return None
    xf = g.nodes[rs].inputs[0]
    fc = prod.get(xf)
    if fc is None or g.nodes[fc].op != "FULLY_CONNECTED" or _single_consumer(cons, g, xf) != rs:
        return None
    r_shape, t_shape, f_shape = g.tensors[xr].shape, g.tensors[xt].shape, g.tensors[xf].shape
    n = len(r_shape)
    if n < 3 or len(t_shape) != n or any(d != 1 for d in r_shape[:-3]):
        return None
    perm = [int(v) for v in g.tensors[g.nodes[tr].inputs[1]].data]
    want = list(range(n - 3)) + [n - 2, n - 3, n - 1]
    if [p % n for p in perm] != want:
        return None
    tokens, heads, d = r_shape[-3:]
    if token_axis(f_shape) is None or token_axis(f_shape)[1] != tokens or f_shape[-1] != heads * d:
        return None
    src = g.nodes[fc].inputs[0]
    if g.tensors[src].is_const:
        return None
    return {"fc": fc, "reshape": rs, "transpose": tr, "src": src, "tokens": tokens, "heads": heads, "head_dim": d}


def _attention(g: Graph, b1: int, prod: dict[str, int], cons: dict[str, list[int]], block_rows: int):
    """The fused attention group whose q.k^T BATCH_MATMUL is node b1, or None."""
    n1 = g.nodes[b1]
    if n1.op != "BATCH_MATMUL":
        return None
    at = call(n1, g).attrs
    if at["adj_x"] or not at["adj_y"]:
        return None
    q = _head_chain(g, prod, cons, n1.inputs[0], b1)
    k = _head_chain(g, prod, cons, n1.inputs[1], b1)
    if q is None or k is None or (q["tokens"], q["heads"], q["head_dim"]) != (k["tokens"], k["heads"], k["head_dim"]):
        return None
    tokens, heads, d = q["tokens"], q["heads"], q["head_dim"]
    s = n1.outputs[0]
    nxt = _single_consumer(cons, g, s)
    mul = None
    if nxt is not None and g.nodes[nxt].op == "MUL":
        other = [t for t in g.nodes[nxt].inputs if t != s]
        if len(other) != 1 or not g.tensors[other[0]].is_const or g.tensors[other[0]].size != 1:
            return None
        mul = nxt
        nxt = _single_consumer(cons, g, g.nodes[mul].outputs[0])
    if nxt is None or g.nodes[nxt].op not in SOFTMAX_OPS:
        return None
    sm = nxt
    b2 = _single_consumer(cons, g, g.nodes[sm].outputs[0])
    if b2 is None or g.nodes[b2].op != "BATCH_MATMUL" or g.nodes[b2].inputs[0] != g.nodes[sm].outputs[0]:
        return None
    at2 = call(g.nodes[b2], g).attrs
    if at2["adj_x"] or at2["adj_y"]:
        return None
    v = _head_chain(g, prod, cons, g.nodes[b2].inputs[1], b2)
    if v is None or (v["tokens"], v["heads"], v["head_dim"]) != (tokens, heads, d):
        return None
    a_name = g.nodes[b2].outputs[0]
    gate = _gate(g, cons, a_name)
    if gate is not None:
        a_name = g.nodes[gate].outputs[0]
    tr = _single_consumer(cons, g, a_name)
    if tr is None or g.nodes[tr].op != "TRANSPOSE":
        return None
    a_shape = g.tensors[a_name].shape
    n = len(a_shape)
    perm = [int(p) % n for p in g.tensors[g.nodes[tr].inputs[1]].data]
    if perm != list(range(n - 3)) + [n - 2, n - 3, n - 1]:
        return None
    rs = _single_consumer(cons, g, g.nodes[tr].outputs[0])
    if rs is None or g.nodes[rs].op != "RESHAPE":
        return None
    out = g.nodes[rs].outputs[0]
    o_shape = g.tensors[out].shape
    if token_axis(o_shape) != (len(o_shape) - 2, tokens) or o_shape[-1] != heads * d:
        return None
    gated = (gate,) if gate is not None else ()
    if len({g.tensors[g.nodes[i].outputs[0]].dtype for i in (q["fc"], k["fc"], v["fc"], b1, sm, b2, *gated)}) != 1:
        return None
    nodes = sorted({q["fc"], q["reshape"], q["transpose"], k["fc"], k["reshape"], k["transpose"], v["fc"],
                    v["reshape"], v["transpose"], b1, sm, b2, tr, rs, *gated} | ({mul} if mul is not None else set()))
    rb = max(1, min(block_rows, tokens))
    tile = AttentionTile(tokens=tokens, heads=heads, head_dim=d, block_rows=rb, blocks=-(-tokens // rb),
                         q=HeadSource(q["fc"], q["src"]), k=HeadSource(k["fc"], k["src"]),
                         v=HeadSource(v["fc"], v["src"]), qk=b1, scale=mul, softmax=sm, pv=b2, out=out, gate=gate)
    return {"nodes": nodes, "tile": tile}


def _gate(g: Graph, cons: dict[str, list[int]], a_name: str) -> int | None:
    """The ATTENTION_GATE node gating p.v's output `a_name` [.., heads, tokens, head_dim] (its only reader), whose
    gate logits [.., heads, tokens] come from outside the attention, or None."""
    ag = _single_consumer(cons, g, a_name)
    if ag is None or g.nodes[ag].op != "ATTENTION_GATE" or g.nodes[ag].inputs[0] != a_name:
        return None
    gt = g.tensors[g.nodes[ag].inputs[1]]
    if gt.is_const or any(d != 1 for d in gt.shape[:-2]):
        return None
    return ag


# ---------------------------------------------------------------------------------------------------- partition


class _Partition:
    """Nodes grouped into steps (step id = smallest node index), with contracted-graph ancestor bitmasks."""

    def __init__(self, g: Graph, prod: dict[str, int]):
        self.g = g
        n = len(g.nodes)
        self.step_of = list(range(n))
        self.members: dict[int, list[int]] = {i: [i] for i in range(n)}
        self.kind: dict[int, str] = {i: "op" for i in range(n)}
        self.info: dict[int, dict[str, Any]] = {}
        self.preds: list[set[int]] = [set() for _ in range(n)]
        for i, node in enumerate(g.nodes):
            for t in node.inputs:
                if t and t in prod:
                    self.preds[i].add(prod[t])
        self.anc: dict[int, int] = {}

    def group(self, nodes: list[int], kind: str, info: dict[str, Any]) -> int:
        sid = min(nodes)
        for i in nodes:
            old = self.step_of[i]
            if old in self.members and old != sid:
                del self.members[old]
                self.kind.pop(old, None)
            self.step_of[i] = sid
        self.members[sid] = sorted(nodes)
        self.kind[sid] = kind
        self.info[sid] = info
        return sid

    def step_preds(self, sid: int) -> set[int]:
        out = set()
        for i in self.members[sid]:
            out.update(self.step_of[p] for p in self.preds[i])
        out.discard(sid)
        return out

    def topo(self) -> list[int]:
        """Step ids in a topological order of the contracted graph, smallest id first among the ready ones."""
        preds = {s: self.step_preds(s) for s in self.members}
        succs: dict[int, set[int]] = {s: set() for s in self.members}
        for s, ps in preds.items():
            for p in ps:
                succs[p].add(s)
        indeg = {s: len(ps) for s, ps in preds.items()}
        ready = [s for s, d in indeg.items() if d == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            s = heapq.heappop(ready)
            order.append(s)
            for t in succs[s]:
                indeg[t] -= 1
                if indeg[t] == 0:
                    heapq.heappush(ready, t)
        if len(order) != len(self.members):
            raise EdgefmrError("internal planner error: the fused schedule has a cycle")
        return order

    def compute_ancestors(self) -> None:
        self.anc = {}
        for s in self.topo():
            m = 0
            for p in self.step_preds(s):
                m |= self.anc[p] | (1 << p)
            self.anc[s] = m

    def try_merge(self, sids: list[int], node: int, tokens: int) -> bool:
        """Merge steps `sids` and node's step into one row group unless that makes the step graph cyclic."""
        group = set(sids) | {self.step_of[node]}
        mask = 0
        for s in group:
            mask |= 1 << s
        outside = 0
        for s in group:
            outside |= self.anc[s]
        outside &= ~mask
        rest = outside
        while rest:
            low = rest & -rest
            x = low.bit_length() - 1
            if self.anc[x] & mask:
                return False
            rest ^= low
        nodes = sorted(i for s in group for i in self.members[s])
        for s in group:
            self.anc.pop(s, None)
            self.info.pop(s, None)
        sid = self.group(nodes, "rows", {"tokens": tokens})
        self.anc[sid] = outside
        for y, a in self.anc.items():
            if y != sid and a & mask:
                self.anc[y] = (a & ~mask) | (1 << sid) | outside
        return True


def _row_groups(g: Graph, part: _Partition, prod: dict[str, int]) -> None:
    part.compute_ancestors()
    for i, node in enumerate(g.nodes):
        if part.kind[part.step_of[i]] != "op":
            continue
        t = _row_tokens(g, node)
        if t is None:
            continue
        cands: list[int] = []
        for name in _nonconst(g, node):
            p = prod.get(name)
            if p is None:
                continue
            s = part.step_of[p]
            if part.kind[s] == "rows" and part.info[s]["tokens"] == t and s not in cands:
                cands.append(s)
        attempts = ([cands] if len(cands) > 1 else []) + [[c] for c in cands]
        if not any(part.try_merge(a, i, t) for a in attempts):
            sid = part.step_of[i]
            part.kind[sid] = "rows"
            part.info[sid] = {"tokens": t}


# ---------------------------------------------------------------------------------------------------- steps


def _rows_tile(g: Graph, nodes: list[int], tokens: int, block_rows: int, tensors: list[str]) -> RowsTile:
    rb = max(1, min(block_rows, tokens))
    axes, widths = {}, {}
    for name in tensors:
        t = g.tensors[name]
        axes[name] = token_axis(t.shape)[0]
        widths[name] = t.nbytes // tokens
    return RowsTile(tokens=tokens, block_rows=rb, blocks=-(-tokens // rb), token_axis=axes, row_bytes=widths)


def _rows_candidates(g: Graph, step: Step) -> list[Overwrite]:
    """Every (output, dying-input) pair a row group can overwrite, best first for each output."""
    order = {n: k for k, n in enumerate(step.nodes)}
    readers: dict[str, list[int]] = {}
    prod: dict[str, int] = {}
    for n in step.nodes:
        node = g.nodes[n]
        for t in node.inputs:
            if t:
                readers.setdefault(t, []).append(order[n])
        for t in node.outputs:
            prod[t] = order[n]
    tokens = step.tile.tokens
    out: list[Overwrite] = []
    for o in step.writes:
        p = prod[o]
        pnode = g.nodes[step.nodes[p]]
        w_o = step.tile.row_bytes[o]
        cands = []
        for i in step.reads:
            w_i = step.tile.row_bytes[i]
            shift = align(tokens * (w_o - w_i)) if w_o > w_i else 0
            last = max(readers[i])
            direct = last < p or (
                last == p and get_op(pnode.op).in_place and i in pnode.inputs
                and _nbytes(g, i) == _nbytes(g, o) and g.tensors[i].shape[-1] == g.tensors[o].shape[-1]
                and all(r < p for r in readers[i] if r != p))
            fits = _nbytes(g, i) >= _nbytes(g, o)
            cands.append(((not direct, not fits, abs(_nbytes(g, i) - _nbytes(g, o))), Overwrite(o, i, shift, direct)))
        out += [c for _, c in sorted(cands, key=lambda kc: kc[0])]
    return out


#: Ops whose kernels (portable and Cortex-M alike) write their output pixels in raster order and, while writing
#: output row r, read the input only from the rows that output rows >= r - ROW_SLACK(out_w) need: their output may
#: start a little before their dying input in memory and overwrite it as it goes (in-place convolution).
ROW_STREAMING_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def row_slack(out_w: int) -> int:
    """Output rows the Cortex-M CONV_2D kernel may still read after it wrote a pixel: it builds four pixels' columns
    before writing them, and its last block recomputes up to three pixels of the one before."""
    return -(-3 // out_w)


def conv_overwrite_offset(g: Graph, n: int) -> int | None:
    """Bytes the output of convolution node `n` must start before its input (aligned) so that writing the output
    row by row never reaches input bytes that a later output row still reads; None for other nodes or dtypes."""
    node = g.nodes[n]
    if node.op not in ROW_STREAMING_OPS:
        return None
    c = call(node, g)
    x, w, y = c.inp(0), c.inp(1), c.out()
    if x.dtype != "int8" or y.dtype != "int8" or x.is_const:
        return None
    kh, kw = w.shape[1], w.shape[2]
    (oh, ow), (pt, _) = conv_geometry(c, (kh, kw))
    batches, ih, iw, cin = x.shape
    sh, dh = int(c.attrs["stride_h"]), int(c.attrs["dilation_h"])
    row_in, row_out, image = iw * cin, ow * y.shape[3], ih * iw * cin
    rows = batches * oh
    # lowest input byte each output row reads: the first kernel row inside the input, from column 0 on
    low = []
    for k in range(rows):
        b, r = divmod(k, oh)
        iy = r * sh - pt
        if iy < 0:
            iy += (-iy + dh - 1) // dh * dh  # the first kernel row at or below the input's top
        low.append(b * image + iy * row_in if iy < ih else (b + 1) * image)
    for k in range(rows - 2, -1, -1):
        low[k] = min(low[k], low[k + 1])
    slack = row_slack(ow)
    need = max((k + 1) * row_out - low[max(0, k - slack)] for k in range(rows))
    return align(need) if need > 0 else 0


def _pack_block(items: list[tuple[str, int, int, int]]) -> dict[str, int]:
    """Offsets for (name, size, first, last) items alive over [first, last] positions: first fit, largest first."""
    placed: list[tuple[int, int, int, int]] = []
    offsets: dict[str, int] = {}
    for name, size, first, last in sorted(items, key=lambda it: (-it[1], it[2], it[0])):
        busy = sorted((o, o + align(s)) for o, s, f, la in placed if f <= last and first <= la)
        off = 0
        for lo, hi in busy:
            if off + align(size) <= lo:
                break
            off = max(off, hi)
        placed.append((off, size, first, last))
        offsets[name] = off
    return offsets


def layout_scratch(g: Graph, step: Step, kernel_scratch: dict[int, int] | None = None) -> None:
    """Fill `step.scratch` from its kind, tiling and applied overwrites (plus per-node kernel scratch bytes)."""
    kernel_scratch = kernel_scratch or {}
    bufs: list[ScratchBuf] = []
    if step.kind == "rows" and step.fused:
        order = {n: k for k, n in enumerate(step.nodes)}
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        for n in step.nodes:
            for t in g.nodes[n].outputs:
                first[t] = order[n]
            for t in g.nodes[n].inputs:
                if t:
                    last[t] = max(last.get(t, -1), order[n])
        rb = step.tile.block_rows
        items = []
        for t in step.internal:
            items.append((f"block:{t}", rb * step.tile.row_bytes[t], first[t], max(last.get(t, first[t]),
                                                                                         first[t])))
        for ow in step.overwrites:
            if not ow.direct:
                items.append((f"stage:{ow.output}", rb * step.tile.row_bytes[ow.output], first[ow.output],
                              len(step.nodes)))
        offs = _pack_block(items)
        bufs = [ScratchBuf(name, offs[name], size, name.split(":", 1)[1]) for name, size, _, _ in items]
        bufs.sort(key=lambda b: (b.offset, b.name))
    elif step.kind == "attention":
        tl = step.tile
        t, d, rb = tl.tokens, tl.head_dim, tl.block_rows

        def isz(node: int) -> int:
            y = g.tensors[g.nodes[node].outputs[0]]
            return y.nbytes // y.size

        parts = [("k_head", t * d * isz(tl.k.fc)), ("v_head", t * d * isz(tl.v.fc)),
                 ("q_block", rb * d * isz(tl.q.fc)), ("s_block", rb * t * isz(tl.qk)),
                 ("p_block", rb * t * isz(tl.softmax))]
        off = 0
        for name, size in parts:
            bufs.append(ScratchBuf(name, off, size))
            off += align(size)
    elif step.kind == "patch_embed" and step.overwrites:
        bufs.append(ScratchBuf("band", 0, step.tile.band_output_bytes, step.tile.output))
    # The kernels of a step run one call at a time and keep nothing in their scratch between calls: they share it.
    off = max((b.offset + align(b.size) for b in bufs), default=0)
    for n in step.nodes:
        if kernel_scratch.get(n):
            name = g.nodes[n].name or g.nodes[n].outputs[0]
            bufs.append(ScratchBuf(f"kernel:{name}", off, int(kernel_scratch[n])))
    step.scratch = bufs


def _make_step(g: Graph, index: int, kind: str, nodes: list[int], info: dict[str, Any], outside_readers: set[str],
               block_rows: int, tricks: bool) -> Step:
    produced: list[str] = []
    reads: list[str] = []
    for n in nodes:
        for t in _nonconst(g, g.nodes[n]):
            if t not in produced and t not in reads:
                reads.append(t)
        produced += [t for t in g.nodes[n].outputs if t not in produced]
    reads = [t for t in reads if t not in produced]
    if kind == "op":
        writes, internal = produced, []
    else:
        read_inside = {t for n in nodes for t in g.nodes[n].inputs if t}
        # stored whole: read by a later step, a graph output, or never read (a dead end the kernel still writes)
        writes = [t for t in produced if t in outside_readers or t in g.outputs or t not in read_inside]
        internal = [t for t in produced if t not in writes]
    first = g.nodes[nodes[0]]
    label = first.name or first.outputs[0]
    name = label if len(nodes) == 1 else f"{label} (+{len(nodes) - 1})"
    step = Step(index, kind, list(nodes), name, reads, writes, internal)
    if kind == "rows":
        step.tile = _rows_tile(g, nodes, info["tokens"], block_rows, reads + produced)
        step.candidates = _rows_candidates(g, step)
    elif kind == "attention":
        step.tile = info["tile"]
    elif kind == "patch_embed":
        tl = info["tile"]
        grow = tl.grid[0] * (tl.band_output_bytes - tl.band_input_bytes)
        step.tile = tl
        step.candidates = [Overwrite(tl.output, tl.input, align(grow) if grow > 0 else 0, False)]
    elif tricks and len(nodes) == 1:
        shift = conv_overwrite_offset(g, nodes[0])
        if shift is not None:
            node = g.nodes[nodes[0]]
            step.candidates = [Overwrite(node.outputs[0], node.inputs[0], shift, True)]
    return step


def build_schedule(g: Graph, tricks: bool = True, block_rows: int = DEFAULT_BLOCK_ROWS) -> Schedule:
    """The execution schedule of `g`: one `op` step per node, or MCUFormer's fused steps when `tricks`."""
    if int(block_rows) < 1:
        raise EdgefmrError(f"block_rows={block_rows} must be >= 1")
    block_rows = int(block_rows)
    prod = g.producers()
    cons = g.consumers()
    part = _Partition(g, prod)
    if tricks:
        for i in range(len(g.nodes)):
            tile = _patch_embed(g, i)
            if tile is not None:
                part.group([i], "patch_embed", {"tile": tile})
        anc_nodes: list[int] = []
        for i in range(len(g.nodes)):
            m = 0
            for p in part.preds[i]:
                m |= anc_nodes[p] | (1 << p)
            anc_nodes.append(m)
        for i in range(len(g.nodes)):
            att = _attention(g, i, prod, cons, block_rows)
            if att is None or any(part.kind[part.step_of[n]] != "op" for n in att["nodes"]):
                continue
            mask = sum(1 << n for n in att["nodes"])
            convex = all(not (anc_nodes[p] & mask) for n in att["nodes"] for p in part.preds[n] if not mask >> p & 1)
            if convex:
                part.group(att["nodes"], "attention", att)
        _row_groups(g, part, prod)
    order = part.topo()
    node_step = [0] * len(g.nodes)
    steps: list[Step] = []
    for k, sid in enumerate(order):
        nodes = part.members[sid]
        outside_readers = {t for n in nodes for t in g.nodes[n].outputs
                           if any(part.step_of[c] != sid for c in cons.get(t, []))}
        step = _make_step(g, k, part.kind[sid], nodes, part.info.get(sid, {}), outside_readers, block_rows,
                           tricks)
        for n in nodes:
            node_step[n] = k
        steps.append(step)
    return Schedule(steps, node_step, tricks, block_rows)
