"""A budget-driven search without a supernet: exact cost of every candidate, proxies to rank the feasible ones,
and (optionally) a short training of a few finalists.

This is the search the budget sweeps and the MCUFormer-scale spaces use (``bench/search_sweep.py``,
``bench/mcuformer_scale.py``), where training a supernet per task and seed would cost far more than the question
needs. :func:`budget_search`:

1. **Pool** - ``pool`` random points of the space (seeded) and the space's smallest points, each lowered to the
   integer IR and costed on the board by :func:`edgefmr.nas.search.cost.candidate_cost` (the planner's arena per
   region + the stack reserve, flash of the constants, latency from the board's calibration table) against the
   budgets (:func:`~edgefmr.nas.search.cost.constraints`: SRAM, flash and latency budgets and the board's regions,
   hard).
   ``seeds``: known-good points (e.g. the family's reference recipe scaled to the budget) that join the pool
   as source ``seed``, are always grown and always among the finalists.
2. **Grow** - ``grow_rounds`` rounds of hill climbing under the constraints, as the evolutionary searches of
   HAT/MCUFormer move towards the constraint boundary: each of the ``beam`` best feasible points (by the proxy)
   and every seed is changed one size dimension one step up (or one shape/other dimension to another choice);
   neighbours that stay feasible join the candidates. Then **fill**: from each of those points and from the
   largest feasible point, up to ``fill_steps`` steps to the feasible neighbour with the most SRAM, as long as that
   adds SRAM, or, where no neighbour above adds SRAM and stays feasible, to the feasible point one trade away (one
   size dimension up, another down: :meth:`BudgetSearch.trades`) with the most SRAM (walks to the budget's
   boundary, where the chosen point should be). With ``extremes`` the space's largest points
   (:meth:`Space.extremes`) are costed too, and with ``descend`` each of them that does not fit walks down to the
   boundary: one size dimension one step down at a time, to the feasible point with the most SRAM as soon as one
   step reaches one, else to the point with the least SRAM (:meth:`BudgetSearch.descend`). Walks up from a seed or
   a random point keep its shape and other choices (a spiking seed's threshold and time constant, its attention);
   walks down from the extremes bring every attention variant and shape choice to the boundary.
3. **Rank** - every feasible candidate gets the proxies (:mod:`edgefmr.nas.search.proxies`, on a freshly
   initialised model; ``macs``/``params`` are counts of the lowered graph) and is ranked by the mean of its ranks
   over the proxies (an ensemble of zero-cost proxies). ``random`` ranks at random (the data-free baseline).
   With ``min_use`` > 0 only the feasible points whose SRAM is at least that share of the SRAM budget are ranked, or
   of what the space can use where that is less (the largest costed point that meets every limit but the SRAM
   budget: a budget above it ranks the points it would rank at exactly that budget), or of the largest feasible
   point's SRAM when no feasible point reaches the floor or there is no SRAM budget: under a memory budget, the
   larger models of a space are the more accurate ones (MCUNet's observation for its design spaces), so the proxies
   choose among the points that spend the budget.
4. **Finalists** - with a ``short_train`` callback, the ``finalists`` best-ranked candidates (and the best-ranked
   eligible descendant of each seed, and each seed that is eligible itself: a seed below the ``min_use`` floor is
   not a finalist, so the chosen point spends the budget) are trained and the one with the best validation
   accuracy is chosen; without it the best-ranked candidate is chosen. Points that build the same model (they
   differ only in keys the config calls inert, e.g. the heads of an all-SDSA spiking model) are one finalist.

The result lists every costed candidate (memory, latency, proxy scores, feasibility) so that a report can show
how close to the budget the chosen point is and whether a larger feasible point was seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgefmr.boards import Board, load_board
from edgefmr.errors import EdgefmrError
from edgefmr.nas.search import cost as costmod
from edgefmr.nas.search.proxies import PROXIES
from edgefmr.nas.search.proxies import score as proxy_score
from edgefmr.nas.search.space import Dim, Space, arch_key
from edgefmr.nas.tasks import Task
from edgefmr.nas.train import build_model

#: Rankers besides the proxies of :mod:`~edgefmr.nas.search.proxies`: counts of the lowered graph, and chance.
COUNT_RANKERS = ("macs", "params")
RANKERS = (*PROXIES, *COUNT_RANKERS, "random")

ShortTrain = Callable[[dict[str, Any]], float]


@dataclass
class Candidate:
    """One costed point of a budget search."""

    values: dict[str, Any]
    cost: costmod.Cost
    constraints: list[float]
    params: int
    scores: dict[str, float] = field(default_factory=dict)
    rank: float = math.inf  # mean rank over the rankers (0 = best)
    short_accuracy: float | None = None
    source: str = "pool"
    origin: str = ""  # arch_key of the seed a grown point descends from ("" for the others)

    @property
    def feasible(self) -> bool:
        return costmod.feasible(self.constraints)

    def to_dict(self) -> dict[str, Any]:
        c = self.cost
        return {"arch": self.values, "sram": c.sram_total, "arena": c.arena, "flash": c.flash,
                "latency_s": c.latency_seconds, "latency_cycles": c.latency_cycles, "macs": c.macs,
                "params": self.params, "feasible": self.feasible, "scores": self.scores,
                "rank": None if math.isinf(self.rank) else self.rank, "short_accuracy": self.short_accuracy,
                "source": self.source, "from_seed": bool(self.origin)}


class BudgetSearch:
    """Costs points of ``space`` on ``board`` under ``budgets`` (memoised by architecture), see the module
    docstring. One instance may serve several budgets: costs do not depend on them."""

    def __init__(self, space: Space, task: Task, board: Board | str, *, stack_bytes: int = costmod.DEFAULT_STACK_BYTES,
                 seed: int = 0, calib_samples: int = 8) -> None:
        self.space, self.task = space, task
        self.board = load_board(board) if isinstance(board, str) else board
        self.stack_bytes, self.seed, self.calib_samples = int(stack_bytes), int(seed), int(calib_samples)
        self.table = costmod.latency_table(self.board)
        self._costs: dict[str, tuple[costmod.Cost, int]] = {}
        self._points: dict[str, dict[str, Any]] = {}
        self._scores: dict[tuple[str, str], float] = {}

    # ------------------------------------------------------------------------------------------ costing
    def cost(self, values: dict[str, Any]) -> tuple[costmod.Cost, int]:
        """(cost, parameter count) of a point, lowered with seeded random weights."""
        key = arch_key(self.space.family, values)
        if key not in self._costs:
            cfg = self.space.config(values)
            g = costmod.lower_for_cost(cfg, self.task, calib_samples=self.calib_samples, seed=self.seed)
            c = costmod.candidate_cost(g, self.board, stack_bytes=self.stack_bytes, table=self.table)
            m = build_model(self.space.family, cfg, self.task.input_shape, self.task.n_classes)
            self._costs[key] = (c, int(sum(p.numel() for p in m.parameters())))
            self._points[key] = dict(values)
        return self._costs[key]

    def costed(self) -> list[dict[str, Any]]:
        """Every point costed so far (any budget)."""
        return list(self._points.values())

    def candidate(self, values: dict[str, Any], budgets: costmod.Budgets, source: str) -> Candidate:
        c, n = self.cost(values)
        return Candidate(dict(values), c, costmod.constraints(c, budgets, self.board), n, source=source)

    def score(self, cand: Candidate, ranker: str) -> float:
        """One ranker's score of a candidate (higher is better)."""
        key = (arch_key(self.space.family, cand.values), ranker)
        if key not in self._scores:
            if ranker == "macs":
                v = math.log10(max(1, cand.cost.macs))
            elif ranker == "params":
                v = math.log10(max(1, cand.params))
            elif ranker in PROXIES:
                v = proxy_score(ranker, self.space.family, self.space.config(cand.values), self.task, seed=self.seed)
            else:
                raise EdgefmrError(f"unknown ranker {ranker!r}; valid: {', '.join(RANKERS)}")
            self._scores[key] = float(v) if math.isfinite(v) else -1e30
        return self._scores[key]

    # ------------------------------------------------------------------------------------------- search
    @staticmethod
    def _size_step(values: dict[str, Any], d: Dim, step: int) -> list[dict[str, Any]]:
        """``values`` with size dimension ``d`` ``step`` choices away ([] when it has no such choice)."""
        i = list(d.choices).index(values[d.name]) + step
        return [{**values, d.name: d.choices[i]}] if d.kind == "size" and 0 <= i < len(d.choices) else []

    def neighbours(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        """Points one step away: a size dimension one choice up, or a shape dimension at another choice."""
        out = []
        for d in self.space.active(values):
            out += self._size_step(values, d, 1)
            if d.kind == "shape":
                out += [{**values, d.name: c} for c in d.choices if c != values[d.name]]
        return self._valid(values, out)

    def trades(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        """Points that trade one size dimension for another: one a choice up, another a choice down (e.g. a wider
        MLP on a narrower embedding), the moves that cross a budget's boundary sideways where every neighbour
        above is infeasible."""
        sizes = [d for d in self.space.active(values) if d.kind == "size"]
        out = []
        for up in sizes:
            i = up.choices.index(values[up.name])
            if i + 1 == len(up.choices):
                continue
            for down in sizes:
                j = down.choices.index(values[down.name])
                if down is not up and j > 0:
                    out.append({**values, up.name: up.choices[i + 1], down.name: down.choices[j - 1]})
        return self._valid(values, out)

    def _valid(self, values: dict[str, Any], out: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``out`` (points derived from ``values``) with per-layer attention following the depth, those that make a
        valid config."""
        fixed = []
        for v in out:
            if self.space.attention:  # per-layer attention follows the depth: extend with the last layer's variant
                att = list(values.get("attention", []))
                depth = self.space.depth_of(v)
                v["attention"] = (att + [att[-1] if att else self.space.attention[0]] * depth)[:depth]
            try:
                self.space.config(v)
            except EdgefmrError:
                continue
            fixed.append(v)
        return fixed

    def _rank(self, cands: list[Candidate], rankers: tuple[str, ...], rng: np.random.Generator) -> None:
        if not cands:
            return
        if rankers == ("random",):
            for c, r in zip(cands, rng.permutation(len(cands)), strict=True):
                c.rank = float(r)
            return
        total = np.zeros(len(cands))
        for r in rankers:
            s = np.array([self.score(c, r) for c in cands])
            for c, v in zip(cands, s, strict=True):
                c.scores[r] = float(v)
            order = (-s).argsort(kind="stable")
            ranks = np.empty(len(cands))
            ranks[order] = np.arange(len(cands))
            total += ranks
        for c, t in zip(cands, total / len(rankers), strict=True):
            c.rank = float(t)

    def run(self, budgets: costmod.Budgets, *, pool: int = 32, grow_rounds: int = 2, beam: int = 3,
            rankers: tuple[str, ...] = ("synflow", "hidden_cov"), finalists: int = 3,
            short_train: ShortTrain | None = None, min_use: float = 0.0,
            seeds: list[dict[str, Any]] | None = None, fill_steps: int = 0, extremes: bool = False,
            descend: bool = False, spread: str | None = None) -> dict[str, Any]:
        """Search under ``budgets``; returns ``{"chosen": dict, "candidates": [dict], ...}`` (see the module
        docstring); EdgefmrError when no costed point meets the budgets. ``extremes``: cost the space's largest
        points too (:meth:`Space.extremes`); ``descend``: walk each of them that does not fit down to the budget's
        boundary (:meth:`descend`); ``spread``: a dimension the ranked finalists are spread across."""
        if descend and not extremes:
            raise EdgefmrError("descend walks down from the space's largest points: it needs extremes=True")
        for r in rankers:
            if r not in RANKERS:
                raise EdgefmrError(f"unknown ranker {r!r}; valid: {', '.join(RANKERS)}")
        if spread is not None:
            self.space.dim(spread)  # EdgefmrError naming the space's family and the unknown dimension
        rng = np.random.default_rng(self.seed)
        seen: dict[str, Candidate] = {}
        key = self._key

        def add(values: dict[str, Any], source: str, origin: str = "") -> Candidate | None:
            k = key(values)
            if k not in seen:
                try:
                    seen[k] = self.candidate(values, budgets, source)
                    seen[k].origin = origin
                except EdgefmrError:
                    return None  # a point that does not lower (e.g. too few tokens for its options): not a candidate
            return seen[k]

        seed_keys = []
        for v in seeds or []:
            c = add(v, "seed")
            if c is not None:
                c.origin = key(v)
                seed_keys.append(key(v))
        for v in self.space.smallest():
            add(v, "smallest")
        tops = [add(v, "extreme") for v in (self.space.extremes() if extremes else [])]
        for c in tops if descend else []:
            if c is not None and not c.feasible:
                self.descend(c, add)
        for _ in range(pool):
            add(self.space.sample(rng), "pool")
        for _ in range(grow_rounds):
            feas = [c for c in seen.values() if c.feasible]
            self._rank(feas, rankers, rng)
            ranked = sorted(feas, key=lambda c: c.rank)
            fronts = ranked[:beam]
            for k in seed_keys:  # each seed's lineage climbs too: its best-ranked feasible member
                fronts += [c for c in ranked if c.origin == k and c not in fronts][:1]
            for c in fronts:
                for v in self.neighbours(c.values):
                    add(v, "grow", c.origin)
        feas = [c for c in seen.values() if c.feasible]
        if not feas:
            smallest = min(seen.values(), key=lambda c: c.cost.sram_total)
            raise EdgefmrError(f"no point of the {self.space.family} space meets the budgets on {self.board.name}: "
                               f"the smallest SRAM found is {costmod.format_bytes(smallest.cost.sram_total)} "
                               f"({len(seen)} points costed)")
        if fill_steps > 0:
            self._rank(feas, rankers, rng)
            starts = sorted(feas, key=lambda c: c.rank)[:beam] + [seen[k] for k in seed_keys if seen[k].feasible]
            starts.append(max(feas, key=lambda c: (c.cost.sram_total, c.params)))  # climb from the largest too
            for c in starts:
                for _ in range(fill_steps):
                    nbs = self._fill_step(c, add)
                    if not nbs:
                        break
                    c = max(nbs, key=lambda n: (n.cost.sram_total, n.params))
            feas = [c for c in seen.values() if c.feasible]
        largest = max(feas, key=lambda c: c.cost.sram_total)
        # a share of the budget, or of what the space can use (its largest costed point that meets every limit but
        # the SRAM budget) where that is less: the floor never jumps down as the budget grows past what the space
        # can use, and every budget above that ranks the same points; a share of the largest feasible point where no
        # feasible point reaches the floor (the budget falls in a gap of the space)
        reach = largest.cost.sram_total
        if budgets.sram:
            others = replace(budgets, sram=None)
            reach = min(budgets.sram, max(c.cost.sram_total for c in seen.values()
                                          if costmod.feasible(costmod.constraints(c.cost, others, self.board))))
        floor = min_use * (reach if largest.cost.sram_total >= min_use * reach else largest.cost.sram_total)
        eligible = [c for c in feas if c.cost.sram_total >= floor]
        self._rank(eligible, rankers, rng)
        ranked = sorted(eligible, key=lambda c: (c.rank, -c.cost.sram_total))
        chosen = ranked[0]
        if short_train is not None:
            # one finalist per model: points that differ only in inert keys train the same network
            models: dict[str, Candidate] = {}  # model key -> its best-ranked point (insertion order: rank order)
            for c in ranked:
                models.setdefault(self.model_key(c.values), c)
            ranked = list(models.values())
            top = self._spread(ranked, max(1, finalists), spread)
            for k in seed_keys:  # each seed's best-ranked eligible descendant, and the seed itself when eligible
                lineage = [c for c in ranked if c.origin == k]
                top += [c for c in lineage[:1] if c not in top]
                if (seen[k].feasible and seen[k].cost.sram_total >= floor
                        and models[self.model_key(seen[k].values)] not in top):
                    top.append(seen[k])
            for c in top:
                c.short_accuracy = float(short_train(c.values))
            chosen = max(top, key=lambda c: (c.short_accuracy, -c.rank))
        return {"chosen": chosen.to_dict(), "feasible": len(feas), "eligible": len(eligible), "costed": len(seen),
                "largest_feasible_sram": largest.cost.sram_total, "rankers": list(rankers),
                "candidates": [c.to_dict() for c in seen.values()]}

    @staticmethod
    def _spread(ranked: list[Candidate], n: int, dim: str | None) -> list[Candidate]:
        """The ``n`` best of ``ranked``; with ``dim``, taken in turn from each of its values in the order their best
        candidates rank (the proxies do not compare points across, e.g., token counts: each patch size gets its
        best-ranked point as a finalist before any gets a second)."""
        if dim is None:
            return ranked[:n]
        groups: dict[Any, list[Candidate]] = {}
        for c in ranked:
            groups.setdefault(repr(c.values.get(dim)), []).append(c)
        rounds = max(map(len, groups.values()), default=0)
        return [g[i] for i in range(rounds) for g in groups.values() if i < len(g)][:n]

    def downs(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        """Points one step below: a size dimension one choice down."""
        return self._valid(values, [v for d in self.space.active(values) for v in self._size_step(values, d, -1)])

    def descend(self, c: Candidate, add: Callable[..., Candidate | None]) -> None:
        """Walk an infeasible point down to the budgets' boundary, each step a candidate (through ``add``): one size
        dimension one choice down at a time, to the feasible point with the most SRAM (then the most parameters) as
        soon as a step reaches one, else to the point with the least SRAM (the steepest step); it stops where no step
        down lowers. The steps that do not fit are budget-independent, so the walks of several budgets share their
        costs."""
        while not c.feasible:
            nbs = [n for n in (add(v, "descend", c.origin) for v in self.downs(c.values)) if n is not None]
            if not nbs:
                return
            fits = [n for n in nbs if n.feasible]
            c = (max(fits, key=lambda n: (n.cost.sram_total, n.params)) if fits
                 else min(nbs, key=lambda n: (n.cost.sram_total, -n.params)))

    def _fill_step(self, c: Candidate, add: Callable[..., Candidate | None]) -> list[Candidate]:
        """The feasible points with more SRAM than ``c`` one step up from it, or, when there are none, one trade away
        (:meth:`trades`)."""
        for moves in (self.neighbours, self.trades):
            nbs = [n for n in (add(v, "fill", c.origin) for v in moves(c.values))
                   if n is not None and n.feasible and n.cost.sram_total > c.cost.sram_total]
            if nbs:
                return nbs
        return []

    def _key(self, values: dict[str, Any]) -> str:
        return arch_key(self.space.family, values)

    def model_key(self, values: dict[str, Any]) -> str:
        """The key of the model a point builds: its arch_key without the keys inert for it
        (:meth:`FamilyConfig.inert`)."""
        inert = set(self.space.config(values).inert())
        return arch_key(self.space.family, {k: v for k, v in values.items() if k not in inert})
