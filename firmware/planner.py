"""The memory planner: the single source of truth for SRAM (the static arena of the generated firmware).

`plan(graph, board, tricks)` returns a `Plan`: for every non-constant tensor stored whole its region, byte
offset and size; per step of the schedule the live bytes; the arena size per region and the peak.

* Lifetimes: a tensor lives from the step that writes it (graph inputs: step 0) to the last step that reads it;
  graph outputs live to `len(steps)`, one past the last step (the host reads them after the run). Constants
  live in flash and are not planned.
* Views share bytes: the output of RESHAPE (SQUEEZE, EXPAND_DIMS) is its input's buffer; the inputs of a
  CONCATENATION along a leading axis are written straight into their place in its output. The data-movement
  node is then a no-op (or copies only its constant inputs).
* With tricks (`edgefmr.firmware.schedule`): MCUFormer's fused steps, whose intermediates live only in the step's
  scratch, and token overwriting: a fused step's output takes the place of an input that dies in that step.
* Streaming step programs (graphs with marked state pairs, edgefmr.ir.streaming): each state input gets a slot in
  a persistent state region of its own (16-byte aligned slots in pair order), outside the arena and alive across
  steps; a state output whose op may write it over the state input (OpDef.state_in_place, e.g. LMU_UPDATE, LIF)
  shares that slot; every other state output is an ordinary graph output in the arena, copied into its input's
  slot after the step's last layer.
* Packing: buffers (a tensor with its views and the tensors that overwrite it, at fixed relative offsets) are
  placed as rigid blocks, largest first, at the lowest offset where no member overlaps a live member of a placed
  buffer (best fit among gaps for single tensors), as TFLite Micro's greedy planner does; three orders are
  tried (size, size x lifetime, birth) and the smallest arena wins. Every offset is a multiple of 16 bytes
  (`ALIGN`), so the arena is `static int8_t efm_arena[N] __attribute__((aligned(16)))` and every tensor in it is
  16-byte aligned. The result is deterministic.

docs/planner.md describes the plan and the fused steps' loops for the code generator.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from edgefmr.boards import Board, load_board
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.schedule import (
    ALIGN,
    DEFAULT_BLOCK_ROWS,
    Schedule,
    align,
    build_schedule,
    layout_scratch,
)
from edgefmr.ir.graph import Graph
from edgefmr.ir.streaming import state_pairs
from edgefmr.ops.registry import call, get_op

__all__ = ["ALIGN", "Allocation", "LayerMemory", "Plan", "plan"]

#: Region name used when no board is given.
DEFAULT_REGION = "arena"
#: Region name of the persistent state of a streaming step program (a static array of its own, not the arena).
STATE_REGION = "state"


@dataclass
class Allocation:
    """Where one tensor (or a step's scratch) lives: `region`, byte `offset` from the arena base, `size` bytes,
    alive from step `first` to step `last` (inclusive). `view_of` names the tensor whose bytes it shares."""

    name: str
    region: str
    offset: int
    size: int
    first: int
    last: int
    kind: str = "tensor"
    view_of: str | None = None

    @property
    def end(self) -> int:
        return self.offset + self.size

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "region": self.region, "offset": self.offset, "size": self.size,
             "first_step": self.first, "last_step": self.last, "kind": self.kind}
        if self.view_of:
            d["view_of"] = self.view_of
        return d


@dataclass
class LayerMemory:
    """Memory while one step runs: bytes held by live tensors and scratch, and the arena extent they reach."""

    step: int
    name: str
    kind: str
    ops: list[str]
    live_bytes: int
    extent: int
    live: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "name": self.name, "kind": self.kind, "ops": self.ops,
                "live_bytes": self.live_bytes, "extent": self.extent, "live": self.live}


@dataclass
class Plan:
    """A static memory plan; see the module docstring. Offsets are relative to the region's arena base."""

    graph: Graph = field(repr=False)
    tricks: bool
    region: str
    schedule: Schedule = field(repr=False)
    tensors: dict[str, Allocation]
    scratch: dict[int, Allocation]
    arena_bytes: dict[str, int]
    peak_bytes: int
    layers: list[LayerMemory]
    overwrites: list[tuple[str, str, int]]
    alignment: int = ALIGN
    board: str | None = None
    #: Streaming step programs (edgefmr.ir.streaming): each state input's slot in the persistent state region
    #: (region "state", offsets from its base), which keeps its bytes between steps and is not part of the arena.
    state: dict[str, Allocation] = field(default_factory=dict)
    #: The kernels the plan reserves scratch for in their Cortex-M variants (edgefmr.firmware.cost.make_plan leaves
    #: out those whose scratch would raise the arena); the build links exactly these.
    arm_kernels: frozenset[str] = frozenset()
    #: Nodes (by name, else first output) whose kernels run their smaller-scratch variant (chosen by
    #: edgefmr.firmware.cost.make_plan where that makes the arena smaller).
    lean_nodes: frozenset[str] = frozenset()

    @property
    def live_bytes(self) -> list[int]:
        """Live bytes per step (per layer when there are no tricks)."""
        return [layer.live_bytes for layer in self.layers]

    @property
    def arena_size(self) -> int:
        """Bytes of the one arena (its region's entry of `arena_bytes`)."""
        return self.arena_bytes[self.region]

    @property
    def state_bytes(self) -> int:
        """Bytes of the persistent state region (0 unless the graph is a streaming step program)."""
        return align(max((a.end for a in self.state.values()), default=0))

    @property
    def requires_fused_codegen(self) -> bool:
        """True when some step needs a fused loop (docs/planner.md); a code generator without them must plan
        with tricks=False."""
        return any(s.fused for s in self.schedule.steps)

    @property
    def internal(self) -> dict[str, tuple[int, int, int]]:
        """Tensors never stored whole: name -> (step, offset of its block in the arena, block bytes)."""
        out = {}
        for s in self.schedule.steps:
            base = self.scratch[s.index].offset if s.index in self.scratch else 0
            blocks = {b.tensor: b for b in s.scratch if b.name.startswith("block:")}
            for t in s.internal:
                b = blocks.get(t)
                out[t] = (s.index, base + b.offset, b.size) if b else (s.index, -1, 0)
        return out

    def offset(self, tensor: str) -> int:
        """Byte offset of a stored tensor in the arena."""
        try:
            return self.tensors[tensor].offset
        except KeyError:
            raise EdgefmrError(f"tensor {tensor!r} has no place in the plan (a constant, or fused away: "
                               f"plan with tricks=False to store every tensor)") from None

    def is_noop(self, node: int) -> bool:
        """True when a data-movement node needs no code: its output already sits on its input's bytes."""
        n = self.graph.nodes[node]
        if get_op(n.op).access != "view" and n.op != "CONCATENATION":
            return False
        data = [t for t in n.inputs[:1 if get_op(n.op).access == "view" else None] if t]
        if any(self.graph.tensors[t].is_const for t in data) or n.outputs[0] not in self.tensors:
            return False
        out = self.tensors[n.outputs[0]]
        pos = out.offset
        for t in data:
            a = self.tensors.get(t)
            if a is None or a.offset != pos:
                return False
            pos += a.size
        return True

    def check_fits(self, board, reserved: dict[str, int] | None = None, flash: bool = True) -> None:
        """EdgefmrError listing every region that is too small: arena needed vs available (region size minus
        `reserved` bytes, e.g. stack and .data the build puts there) and, with `flash`, constants vs the code
        region."""
        b = _board(board)
        reserved = reserved or {}
        short = []
        for region, need in self.arena_bytes.items():
            r = b.region(region)
            avail = r.size - int(reserved.get(region, 0))
            if need > avail:
                short.append(f"region {region} needs {need:,} B of arena, {avail:,} B available"
                             + (f" ({r.size:,} B minus {reserved[region]:,} B reserved)" if reserved.get(region)
                                else ""))
        if flash:
            fr = b.flash_region()
            need = self.graph.weight_bytes()
            avail = fr.size - int(reserved.get(fr.name, 0))
            if need > avail:
                short.append(f"region {fr.name} needs {need:,} B of constants, {avail:,} B available")
        if short:
            raise EdgefmrError(f"the model does not fit board {b.name}: " + "; ".join(short))

    def verify(self) -> None:
        """Check the plan's invariants (alignment; no two simultaneously live tensors or scratch areas share a
        byte unless they are views of one another or an overwrite hand-over); RuntimeError on a violation."""
        allocs = list(self.tensors.values()) + list(self.scratch.values())
        for a in allocs:
            if a.offset % self.alignment:
                raise RuntimeError(f"{a.name} at offset {a.offset} is not {self.alignment}-byte aligned")
            if a.end > self.arena_bytes[a.region]:
                raise RuntimeError(f"{a.name} ends at {a.end}, beyond the arena ({self.arena_bytes[a.region]})")
        root = {}
        for t in self.tensors:
            r = t
            while self.tensors[r].view_of:
                r = self.tensors[r].view_of
            root[t] = r
        handover: dict[str, list[tuple[str, int]]] = {}
        for i, o, s in self.overwrites:
            handover.setdefault(root[i], []).append((root[o], s))

        def handed_over(x: Allocation, y: Allocation) -> bool:
            return any(root[y.name] == ro and x.last == s == y.first for ro, s in handover.get(root[x.name], []))

        for k, a in enumerate(allocs):
            for b in allocs[k + 1:]:
                if a.first > b.last or b.first > a.last or a.offset >= b.end or b.offset >= a.end:
                    continue
                if a.kind == "tensor" and b.kind == "tensor":
                    if root[a.name] == root[b.name] or handed_over(a, b) or handed_over(b, a):
                        continue
                raise RuntimeError(f"{a.name} [{a.offset}, {a.end}) steps {a.first}..{a.last} overlaps {b.name} "
                                   f"[{b.offset}, {b.end}) steps {b.first}..{b.last}")
        top = max((layer.extent for layer in self.layers), default=0)
        if align(top) != self.arena_bytes[self.region]:
            raise RuntimeError(f"arena {self.arena_bytes[self.region]} != max packed extent {top}")

    def to_dict(self, steps: bool = True) -> dict[str, Any]:
        """JSON-ready summary (per-step schedule and per-tensor placement when `steps`)."""
        d: dict[str, Any] = {"board": self.board, "tricks": self.tricks, "region": self.region,
                             "alignment": self.alignment, "arena_bytes": dict(self.arena_bytes),
                             "peak_bytes": self.peak_bytes, "requires_fused_codegen": self.requires_fused_codegen,
                             "flash_constants_bytes": self.graph.weight_bytes(),
                             "arm_kernels": sorted(self.arm_kernels), "lean_nodes": sorted(self.lean_nodes)}
        if self.state:
            d["state_bytes"] = self.state_bytes
            d["state"] = [a.to_dict() for a in self.state.values()]
        if steps:
            d["layers"] = [layer.to_dict() for layer in self.layers]
            d["schedule"] = self.schedule.to_dict(self.graph)
            d["tensors"] = [a.to_dict() for a in self.tensors.values()]
            d["scratch"] = [a.to_dict() for a in self.scratch.values()]
            d["overwrites"] = [{"input": i, "output": o, "step": s} for i, o, s in self.overwrites]
        return d


def _board(board: Board | str | None) -> Board | None:
    if board is None or isinstance(board, Board):
        return board
    return load_board(str(board))


# ---------------------------------------------------------------------------------------------------- buffers


class _Buffers:
    """Tensors grouped into rigid buffers (member -> relative offset), built step by step."""

    def __init__(self, life: dict[str, tuple[int, int]], sizes: dict[str, int]):
        self.life = life
        self.size = sizes
        self.buf = {t: t for t in life}
        self.rel = {t: 0 for t in life}
        self.members = {t: [t] for t in life}
        self.view_of: dict[str, str] = {}
        self.handover: list[tuple[str, str, int]] = []
        self.wrote_over: set[str] = set()  # outputs placed over an input
        self.overwritten: set[str] = set()  # inputs given to an output

    def root(self, t: str) -> str:
        while t in self.view_of:
            t = self.view_of[t]
        return t

    def _chain(self, t: str) -> set[str]:
        out = {t}
        while t in self.view_of:
            t = self.view_of[t]
            out.add(t)
        return out

    def _allowed(self, a: str, b: str) -> bool:
        if a in self._chain(b) or b in self._chain(a) or self.root(a) == self.root(b):
            return True
        for i, o, s in self.handover:
            for x, y in ((a, b), (b, a)):
                if self.root(x) == self.root(i) and self.root(y) == self.root(o) and self.life[x][1] == s == \
                        self.life[y][0]:
                    return True
        return False

    def _conflict_free(self, moved: dict[str, int], others: list[str]) -> bool:
        for m, pos in moved.items():
            f1, l1 = self.life[m]
            for o in others:
                f2, l2 = self.life[o]
                if f1 > l2 or f2 > l1:
                    continue
                p2 = self.rel[o]
                if pos >= p2 + self.size[o] or p2 >= pos + self.size[m]:
                    continue
                if not self._allowed(m, o):
                    return False
        return True

    def attach(self, child: str, parent: str, offset: int, view: bool, handover_step: int | None = None) -> bool:
        """Put child's buffer into parent's so that child sits `offset` bytes after parent; False if unsafe."""
        bc, bp = self.buf[child], self.buf[parent]
        if bc == bp:
            return False
        shift = self.rel[parent] + offset - self.rel[child]
        moved = {m: self.rel[m] + shift for m in self.members[bc]}
        top = self.root(child)
        if view:
            self.view_of[top] = parent
        if handover_step is not None:
            self.handover.append((parent, child, handover_step))
        if not self._conflict_free(moved, self.members[bp]):
            if view:
                del self.view_of[top]
            if handover_step is not None:
                self.handover.pop()
            return False
        for m, pos in moved.items():
            self.rel[m] = pos
            self.buf[m] = bp
        self.members[bp] += self.members.pop(bc)
        low = min(self.rel[m] for m in self.members[bp])
        if low:
            for m in self.members[bp]:
                self.rel[m] -= low
        return True


def _lifetimes(g: Graph, sched: Schedule) -> dict[str, tuple[int, int]]:
    """(first, last) step of every stored tensor; graph outputs last until len(steps), the read-out after the run."""
    end = len(sched.steps)
    life: dict[str, list[int]] = {t: [0, 0] for t in g.inputs}
    for s in sched.steps:
        for t in s.writes:
            life[t] = [s.index, s.index]
    for s in sched.steps:
        for t in s.reads:
            if t not in life:
                raise EdgefmrError(f"tensor {t!r} is read by step {s.name!r} but never written")
            life[t][1] = max(life[t][1], s.index)
    for t in g.outputs:
        if t in life:
            life[t][1] = end
    return {t: (a, b) for t, (a, b) in life.items()}


def _concat_slots(g: Graph, node_index: int) -> list[tuple[str, int]] | None:
    """(input, byte offset in the output) of a CONCATENATION whose inputs are contiguous blocks of its output."""
    node = g.nodes[node_index]
    out = g.tensors[node.outputs[0]]
    axis = int(call(node, g).attrs["axis"]) % len(out.shape)
    if any(d != 1 for d in out.shape[:axis]):
        return None
    slots, pos = [], 0
    for t in node.inputs:
        x = g.tensors[t]
        # only inputs the kernel copies unchanged (a uint8 input with another scale is requantized)
        same = x.dtype == out.dtype and (x.quant is None) == (out.quant is None) and (
            x.quant is None or (x.quant.scale, x.quant.zero_point) == (out.quant.scale, out.quant.zero_point))
        if same:
            slots.append((t, pos))
        pos += x.nbytes
    return slots


def _build_buffers(g: Graph, sched: Schedule, life: dict[str, tuple[int, int]], skip: set[int]) -> _Buffers:
    sizes = {t: g.tensors[t].nbytes for t in life}
    bufs = _Buffers(life, sizes)
    outputs = set(g.outputs)
    for step in sched.steps:
        for n in step.nodes:
            node = g.nodes[n]
            if get_op(node.op).access == "view":
                x, y = node.inputs[0], node.outputs[0]
                if x in life and y in life and sizes[x] == sizes[y]:
                    bufs.attach(y, x, 0, view=True)
            elif node.op == "CONCATENATION" and node.outputs[0] in life:
                slots = _concat_slots(g, n) or []
                for x, pos in slots:
                    if x in life and pos % ALIGN == 0 and sizes[bufs.root(x)] == sizes[x]:
                        bufs.attach(x, node.outputs[0], pos, view=True)
        for ow in [] if step.index in skip else step.candidates:
            o, i = ow.output, ow.input
            if o in bufs.wrote_over or i in bufs.overwritten or o not in life or i not in life or i in outputs:
                continue
            if life[i][1] != step.index:
                continue
            if bufs.attach(o, i, -ow.input_offset, view=False, handover_step=step.index):
                bufs.wrote_over.add(o)
                bufs.overwritten.add(i)
                step.overwrites.append(ow)
    return bufs


# ---------------------------------------------------------------------------------------------------- packing


@dataclass
class _Item:
    key: str
    members: list[tuple[int, int, int, int]]  # (relative offset, aligned size, first, last)

    @property
    def size(self) -> int:
        return max(r + s for r, s, _, _ in self.members) - min(r for r, _, _, _ in self.members)

    @property
    def area(self) -> int:
        return sum(s * (la - f + 1) for _, s, f, la in self.members)

    @property
    def first(self) -> int:
        return min(f for _, _, f, _ in self.members)


def _free_segments(busy: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Merged occupied intervals as sorted starts and ends."""
    starts: list[int] = []
    ends: list[int] = []
    for lo, hi in sorted(busy):
        if ends and lo <= ends[-1]:
            ends[-1] = max(ends[-1], hi)
        else:
            starts.append(lo)
            ends.append(hi)
    return starts, ends


def _fits(starts: list[int], ends: list[int], lo: int, hi: int) -> bool:
    k = bisect.bisect_right(starts, lo) - 1
    if k >= 0 and ends[k] > lo:
        return False
    return k + 1 >= len(starts) or starts[k + 1] >= hi


def _pack(items: list[_Item], order: list[_Item]) -> tuple[dict[str, int], int]:
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    base: dict[str, int] = {}
    for it in order:
        segs = []
        for _, _, f, la in it.members:
            busy = [(o, e) for o, e, pf, pl in placed if pf <= la and f <= pl]
            segs.append(_free_segments(busy))
        if len(it.members) == 1:
            rel, size, _, _ = it.members[0]
            starts, ends = segs[0]
            best = None
            for cand in [0, *ends]:
                if not _fits(starts, ends, cand, cand + size):
                    continue
                k = bisect.bisect_left(starts, cand + size)
                gap = (starts[k] - cand) if k < len(starts) else float("inf")
                key = (gap, cand)
                if best is None or key < best[0]:
                    best = (key, cand)
            pos = best[1] - rel
        else:
            cands = {0}
            for (rel, _, _, _), (_, ends) in zip(it.members, segs, strict=True):
                cands.update(e - rel for e in ends if e - rel >= 0)
            pos = None
            for cand in sorted(cands):
                if all(_fits(st, en, cand + rel, cand + rel + size)
                       for (rel, size, _, _), (st, en) in zip(it.members, segs, strict=True)):
                    pos = cand
                    break
            assert pos is not None
        base[it.key] = pos
        placed += [(pos + rel, pos + rel + size, f, la) for rel, size, f, la in it.members]
    return base, max((e for _, e, _, _ in placed), default=0)


def _best_packing(items: list[_Item]) -> tuple[dict[str, int], int]:
    scratch_last = sorted(items, key=lambda it: (it.key.startswith("scratch#"), -it.size, it.first, it.key))
    orders = [
        sorted(items, key=lambda it: (-it.size, it.first, it.key)),
        sorted(items, key=lambda it: (-it.area, -it.size, it.key)),
        sorted(items, key=lambda it: (it.first, -it.size, it.key)),
        scratch_last,  # tensors first, each step's scratch into the gaps they leave
    ]
    best = None
    for order in orders:
        base, top = _pack(items, order)
        if best is None or top < best[1]:
            best = (base, top)
    return best


# ---------------------------------------------------------------------------------------------------- plan


def plan(graph: Graph, board=None, tricks: bool = True, *, block_rows: int = DEFAULT_BLOCK_ROWS,
         scratch: dict[str, int] | None = None, in_place: bool | None = None) -> Plan:
    """Plan the arena of `graph` (see the module docstring).

    board: a Board, a board name or None (region "arena"); tensors go to the board's `defaults.arena` region.
    tricks: MCUFormer's fusions and token overwriting (False: one step per node, every tensor stored whole).
    block_rows: tokens per block of fused row groups and attention query blocks.
    scratch: extra scratch bytes a kernel needs while a node runs, by node name (or first output name).
    in_place: with tricks, every convolution whose input dies in its step streams its output over that input (True),
    none does (False), or each does only where that does not make the arena larger (None).
    """
    b = _board(board)
    region = b.arena_region().name if b is not None else DEFAULT_REGION
    node_by_name = {}
    for i, n in enumerate(graph.nodes):
        node_by_name.setdefault(n.name or n.outputs[0], i)
        node_by_name.setdefault(n.outputs[0], i)
    kernel_scratch: dict[int, int] = {}
    for name, nbytes in (scratch or {}).items():
        if name not in node_by_name:
            raise EdgefmrError(f"scratch: no node named {name!r}")
        if int(nbytes) < 0:
            raise EdgefmrError(f"scratch: {name!r} needs a byte count >= 0, got {nbytes}")
        kernel_scratch[node_by_name[name]] = int(nbytes)

    sched = build_schedule(graph, tricks=tricks, block_rows=block_rows)
    life = _lifetimes(graph, sched)
    state: dict[str, Allocation] = {}
    top_state = 0
    prod, cons = graph.producers(), graph.consumers()
    for t_in, t_out in state_pairs(graph):  # persistent: kept out of the arena, alive across steps
        del life[t_in]
        size = graph.tensors[t_in].nbytes
        state[t_in] = Allocation(t_in, STATE_REGION, top_state, size, 0, len(sched.steps), kind="state")
        if _state_in_place(graph, prod, cons, t_in, t_out):  # the op writes the next state over its slot
            del life[t_out]
            state[t_out] = Allocation(t_out, STATE_REGION, top_state, size, 0, len(sched.steps), kind="state",
                                      view_of=t_in)
        top_state += align(size)
    # In-place convolutions (single-node steps with a candidate) chain rigid buffers that can span more than they
    # save: each is kept only when the arena with it is not larger than without it, in step order. The band
    # overwrites of patch embeddings that share a tensor with them join those chains, so they are chosen too in a
    # second choice (_choose_chained), kept where its arena is smaller.
    optional = [s.index for s in sched.steps if s.kind == "op" and s.candidates]
    skip = set() if in_place else set(optional)
    if in_place is None:
        skip = _choose_in_place(graph, sched, life, kernel_scratch, optional)
        conv = {t for k in optional for ow in sched.steps[k].candidates for t in (ow.output, ow.input)}
        bands = sorted(optional + [s.index for s in sched.steps if s.kind == "patch_embed" and any(
            ow.output in conv or ow.input in conv for ow in s.candidates)])
        if len(bands) > len(optional):
            alt, arena = _choose_chained(graph, sched, life, kernel_scratch, bands)
            if arena < _pack_plan(graph, sched, life, kernel_scratch, skip)[2]:
                skip = alt
    bufs, base, arena = _pack_plan(graph, sched, life, kernel_scratch, skip)

    tensors: dict[str, Allocation] = {}
    for t in sorted(life, key=lambda t: (life[t][0], t)):
        off = base[bufs.buf[t]] + bufs.rel[t]
        tensors[t] = Allocation(t, region, off, bufs.size[t], *life[t], view_of=bufs.view_of.get(t))
    scratch_allocs = {s.index: Allocation(f"scratch:{s.name}", region, base[f"scratch#{s.index}"], s.scratch_bytes,
                                          s.index, s.index, kind="scratch")
                      for s in sched.steps if s.scratch_bytes}
    layers = _layers(graph, sched, tensors, scratch_allocs)
    return Plan(graph=graph, tricks=tricks, region=region, schedule=sched, tensors=tensors, scratch=scratch_allocs,
                arena_bytes={region: arena}, peak_bytes=max((la.live_bytes for la in layers), default=0),
                layers=layers, overwrites=list(bufs.handover), board=b.name if b is not None else None, state=state)


def _state_in_place(g: Graph, prod: dict[str, int], cons: dict[str, list[int]], t_in: str, t_out: str) -> bool:
    """True when the node writing state output `t_out` reads `t_in`, is its only reader and may write the one over
    the other (OpDef.state_in_place)."""
    if t_out not in prod:
        return False
    node = g.nodes[prod[t_out]]
    if cons.get(t_in) != [prod[t_out]] or node.inputs.count(t_in) != 1:
        return False
    return (node.inputs.index(t_in), node.outputs.index(t_out)) in get_op(node.op).state_in_place


def _choose_in_place(graph: Graph, sched: Schedule, life: dict[str, tuple[int, int]], kernel_scratch: dict[int, int],
                     optional: list[int]) -> set[int]:
    """The steps (of `optional`) whose in-place convolution is left out: greedily, each one is taken when the arena
    is not larger with it, in step order."""
    skip = set(optional)
    best = _pack_plan(graph, sched, life, kernel_scratch, skip)[2]
    for k in optional:
        trial = _pack_plan(graph, sched, life, kernel_scratch, skip - {k})[2]
        if trial <= best:
            skip.discard(k)
            best = trial
    return skip


def _choose_chained(graph: Graph, sched: Schedule, life: dict[str, tuple[int, int]], kernel_scratch: dict[int, int],
                    optional: list[int]) -> tuple[set[int], int]:
    """The steps (of `optional`) whose overwrites are left out, and the arena: from none taken, each one is taken
    when it makes the arena smaller, in step order, pass after pass until none does (a later step's overwrite can
    pay off only once an earlier one lowered another peak); ties are left out (a band overwrite costs a copy per
    band)."""
    skip = set(optional)
    best = _pack_plan(graph, sched, life, kernel_scratch, skip)[2]
    changed = True
    while changed:
        changed = False
        for k in sorted(skip):
            trial = _pack_plan(graph, sched, life, kernel_scratch, skip - {k})[2]
            if trial < best:
                skip.discard(k)
                best, changed = trial, True
    return skip, best


def _pack_plan(graph: Graph, sched: Schedule, life: dict[str, tuple[int, int]], kernel_scratch: dict[int, int],
               skip: set[int]) -> tuple[_Buffers, dict[str, int], int]:
    """Buffers, their base offsets and the arena size, with the overwrite candidates of the steps in `skip` left
    out (sets every step's `overwrites` and `scratch`)."""
    for s in sched.steps:
        s.overwrites = []
    bufs = _build_buffers(graph, sched, life, skip)
    for s in sched.steps:
        layout_scratch(graph, s, kernel_scratch)
    items: list[_Item] = []
    for key, members in bufs.members.items():
        items.append(_Item(key, [(bufs.rel[m], align(bufs.size[m]), *life[m]) for m in members]))
    for s in sched.steps:
        if s.scratch_bytes:
            items.append(_Item(f"scratch#{s.index}", [(0, s.scratch_bytes, s.index, s.index)]))
    base, top = _best_packing(items)
    return bufs, base, align(top)


def _layers(g: Graph, sched: Schedule, tensors: dict[str, Allocation],
            scratch: dict[int, Allocation]) -> list[LayerMemory]:
    out = []
    allocs = sorted(tensors.values(), key=lambda a: a.first)
    for s in sched.steps:
        live = [a for a in allocs if a.first <= s.index <= a.last]
        spans = [(a.offset, a.end) for a in live]
        if s.index in scratch:
            spans.append((scratch[s.index].offset, scratch[s.index].end))
        starts, ends = _free_segments(spans)
        held = sum(e - b for b, e in zip(starts, ends, strict=True))
        out.append(LayerMemory(s.index, s.name, s.kind, [g.nodes[i].op for i in s.nodes], held,
                               max(ends, default=0), [a.name for a in live]))
    return out
