"""The budget search (edgefmr.nas.search.budget) and the MCUFormer-scale space."""

from __future__ import annotations

import pytest

from edgefmr.errors import EdgefmrError
from edgefmr.nas.search.budget import BudgetSearch
from edgefmr.nas.search.cost import Budgets
from edgefmr.nas.search.space import default_space, mcuformer_space
from edgefmr.nas.tasks import load_task

BOARD = "qemu-netduinoplus2"


@pytest.fixture(scope="module")
def search() -> BudgetSearch:
    task = load_task("digits")
    space = default_space("vit", task.input_shape).with_choices(
        {"heads": [1], "rank_factor": [1.0], "attention": ["softmax"], "hash_bits": [4], "activation": ["relu"],
         "patch_size": [4]})
    return BudgetSearch(space, task, BOARD, stack_bytes=1024, seed=0, calib_samples=4)


def test_chosen_point_meets_the_budget_and_ranks_first(search: BudgetSearch) -> None:
    small = search.cost(search.space.smallest()[0])[0].sram_total
    budget = small + 1024
    rep = search.run(Budgets(sram=budget), pool=6, grow_rounds=1, rankers=("params",))
    c = rep["chosen"]
    assert c["feasible"] and c["sram"] <= budget
    feas = [x for x in rep["candidates"] if x["feasible"]]
    assert len(feas) == rep["feasible"] >= 1
    assert c["params"] == max(x["params"] for x in feas)  # the params ranker puts the largest model first
    assert rep["largest_feasible_sram"] == max(x["sram"] for x in feas)
    assert any(not x["feasible"] for x in rep["candidates"])  # the budget rules some costed points out
    assert {x["source"] for x in rep["candidates"]} >= {"smallest", "pool"}


def test_short_training_picks_among_the_finalists(search: BudgetSearch) -> None:
    seen: list[dict] = []

    def short(values: dict) -> float:
        seen.append(values)
        return 0.5 if len(seen) == 2 else 0.1  # the second finalist "trains" best

    rep = search.run(Budgets(sram=64 * 1024), pool=4, grow_rounds=0, rankers=("params",), finalists=3,
                     short_train=short)
    assert len(seen) == 3
    assert rep["chosen"]["arch"] == seen[1] and rep["chosen"]["short_accuracy"] == 0.5


def test_neighbours_are_one_step_larger(search: BudgetSearch) -> None:
    base = search.space.smallest()[0]
    nb = search.neighbours(base)
    assert nb and all(len(v["attention"]) == v["depth"] for v in nb)
    for v in nb:
        changed = [k for k in base if k != "attention" and v[k] != base[k]]
        assert len(changed) == 1
        d = search.space.dim(changed[0])
        assert list(d.choices).index(v[changed[0]]) == list(d.choices).index(base[changed[0]]) + 1


def test_impossible_budget_is_an_error(search: BudgetSearch) -> None:
    with pytest.raises(EdgefmrError, match="no point of the vit space meets the budgets.*smallest SRAM"):
        search.run(Budgets(sram=1024), pool=2, grow_rounds=0, rankers=("params",))
    with pytest.raises(EdgefmrError, match="unknown ranker 'flops'"):
        search.run(Budgets(sram=64 * 1024), rankers=("flops",))


def test_default_vit_space_keeps_at_most_256_tokens_up_to_32_pixels_and_64_above() -> None:
    assert default_space("vit", (1, 8, 8)).dim("patch_size").choices == (2, 4)
    assert default_space("vit", (3, 32, 32)).dim("patch_size").choices == (2, 4, 8)
    assert default_space("vit", (3, 64, 64)).dim("patch_size").choices == (8,)


def test_mcuformer_space() -> None:
    assert mcuformer_space((3, 96, 96)).dim("patch_size").choices == (8, 12, 16)
    assert mcuformer_space((3, 240, 240)).dim("patch_size").choices == (16, 20, 24, 30, 40)
    sp = mcuformer_space((3, 96, 96))
    assert set(sp.dim("rank_factor").choices) >= {0.1, 0.5, 1.0} and max(sp.dim("depth").choices) == 12
    for e in sp.dim("embed_dim").choices:
        for h in sp.dim("heads").choices:
            sp.config({**sp.smallest()[0], "embed_dim": e, "heads": h})  # every width/heads pair is valid
    with pytest.raises(EdgefmrError, match="MCUFormer space is for images"):
        mcuformer_space((40, 1))


def test_min_use_ranks_only_points_that_spend_the_budget(search: BudgetSearch) -> None:
    rep = search.run(Budgets(sram=64 * 1024), pool=6, grow_rounds=1, rankers=("random",), min_use=1.0)
    assert rep["chosen"]["sram"] == rep["largest_feasible_sram"] and rep["eligible"] >= 1


def test_every_budget_above_the_largest_feasible_point_ranks_the_same_points(search: BudgetSearch) -> None:
    kw = {"pool": 6, "grow_rounds": 1, "rankers": ("params",), "min_use": 0.7, "extremes": True}
    far = search.run(Budgets(sram=128 * 1024), **kw)
    largest = far["largest_feasible_sram"]
    assert 0.7 * 128 * 1024 > largest  # the space uses less than the budget's floor would ask
    near = search.run(Budgets(sram=int(1.3 * largest)), **kw)  # 70 % of this budget is 91 % of the largest point
    feas = [c for c in far["candidates"] if c["feasible"]]
    assert any(0.7 * largest <= c["sram"] < 0.91 * largest for c in feas)  # points the two floors would tell apart
    assert near["largest_feasible_sram"] == largest
    assert near["eligible"] == far["eligible"] == sum(c["sram"] >= 0.7 * largest for c in feas)
    assert near["chosen"] == far["chosen"]


def test_space_point_completes_a_recipe_and_names_a_bad_key() -> None:
    sp = default_space("vit", (3, 32, 32))
    v = sp.point({"patch_size": 4, "embed_dim": 32, "depth": 2, "attention": "softmax", "pooling": "mean"})
    assert v["attention"] == ["softmax", "softmax"] and v["rank_factor"] == 1.0 and v["heads"] in (1, 2, 4)
    sp.config(v)
    with pytest.raises(EdgefmrError, match="'pooling' = 'cls' is neither a dimension"):
        sp.point({"pooling": "cls"})


def test_seeds_are_grown_and_always_among_the_finalists(search: BudgetSearch) -> None:
    seed = search.space.smallest()[0]
    trained: list[dict] = []

    def short(values: dict) -> float:
        trained.append(values)
        return 1.0 if values == seed else 0.0  # the seed "trains" best

    rep = search.run(Budgets(sram=64 * 1024), pool=2, grow_rounds=1, beam=1, rankers=("params",), finalists=1,
                     short_train=short, seeds=[seed])
    assert seed in trained and rep["chosen"]["arch"] == seed and rep["chosen"]["source"] == "seed"
    lineage = [c for c in rep["candidates"] if c["from_seed"] and c["source"] == "grow"]
    assert lineage  # the seed's one-step neighbours joined the candidates
    assert len(trained) >= 2  # the best finalist by rank, the seed (and its best eligible descendant)


def test_every_seed_that_reaches_the_floor_is_a_finalist(search: BudgetSearch) -> None:
    p = search.space.point({"embed_dim": 32, "depth": 2, "mlp_ratio": 3.0})  # ranks first by parameters
    q = search.space.point({"embed_dim": 32, "depth": 2, "mlp_ratio": 2.0})  # e.g. a smaller budget's chosen point
    sp, sq = (search.cost(v)[0].sram_total for v in (p, q))
    assert sp != sq and min(sp, sq) >= 0.7 * max(sp, sq)
    trained: list[dict] = []

    def short(values: dict) -> float:
        trained.append(values)
        return 1.0 if values == q else 0.0  # the second seed "trains" best

    rep = search.run(Budgets(sram=max(sp, sq) + 256), pool=0, grow_rounds=0, beam=0, rankers=("params",),
                     finalists=1, short_train=short, seeds=[p, q], min_use=0.7)
    assert p in trained and q in trained
    assert rep["chosen"]["arch"] == q and rep["chosen"]["source"] == "seed"


def test_fill_walks_to_the_budget_and_min_use_counts_from_the_budget(search: BudgetSearch) -> None:
    small = search.cost(search.space.smallest()[0])[0].sram_total
    budget = small + 6 * 1024
    rep = search.run(Budgets(sram=budget), pool=0, grow_rounds=0, beam=1, rankers=("params",), fill_steps=8,
                     min_use=0.7)
    filled = [c for c in rep["candidates"] if c["source"] == "fill"]
    assert filled and all(c["feasible"] for c in filled)
    assert rep["chosen"]["sram"] >= 0.7 * budget or rep["largest_feasible_sram"] < 0.7 * budget
    no_fill = search.run(Budgets(sram=budget), pool=0, grow_rounds=0, beam=1, rankers=("params",))
    assert rep["largest_feasible_sram"] > no_fill["largest_feasible_sram"]


def test_a_seed_below_the_min_use_floor_is_not_a_finalist(search: BudgetSearch) -> None:
    seed = search.space.smallest()[0]
    small = search.cost(seed)[0].sram_total
    budget = 2 * small
    trained: list[dict] = []

    def short(values: dict) -> float:
        trained.append(values)
        return 1.0 if values == seed else 0.0  # the seed would win, were it trained

    rep = search.run(Budgets(sram=budget), pool=0, grow_rounds=1, beam=1, rankers=("params",), finalists=1,
                     short_train=short, seeds=[seed], min_use=0.7, fill_steps=8)
    assert rep["largest_feasible_sram"] >= 0.7 * budget > small  # a point spending the budget exists
    assert seed not in trained and rep["chosen"]["arch"] != seed
    assert rep["chosen"]["sram"] >= 0.7 * budget


def test_trades_move_one_size_dimension_up_and_another_down(search: BudgetSearch) -> None:
    p = search.space.point({"embed_dim": 32, "depth": 2, "mlp_ratio": 2.0})
    sizes = [d for d in search.space.dims if d.kind == "size"]
    trades = search.trades(p)
    assert trades
    for t in trades:
        steps = sorted(d.choices.index(t[d.name]) - d.choices.index(p[d.name]) for d in sizes)
        assert [s for s in steps if s] == [-1, 1]  # exactly one dimension a choice down, another a choice up


def test_fill_trades_across_the_boundary_when_every_step_up_is_infeasible(search: BudgetSearch) -> None:
    p = search.space.point({"embed_dim": 32, "depth": 2, "mlp_ratio": 2.0})
    here = search.cost(p)[0].sram_total
    ups = [search.cost(v)[0].sram_total for v in search.neighbours(p)]
    above = min(s for s in ups if s > here)
    trades = [(search.cost(v)[0].sram_total, v) for v in search.trades(p)]
    between = [(s, v) for s, v in trades if here < s < above]
    assert between  # the space has a trade that adds SRAM under the next step up (e.g. a wider, shallower MLP)
    budget = above - 1
    rep = search.run(Budgets(sram=budget), pool=0, grow_rounds=0, beam=0, rankers=("params",), seeds=[p],
                     fill_steps=1)
    target = max(between, key=lambda t: t[0])
    filled = [c for c in rep["candidates"] if c["source"] == "fill" and c["feasible"]]
    assert any(c["arch"] == target[1] for c in filled)
    assert rep["largest_feasible_sram"] >= target[0]


def test_extremes_bring_the_space_s_largest_point_within_the_walk_s_reach(search: BudgetSearch) -> None:
    seed = search.space.smallest()[0]
    largest = max(search.cost(v)[0].sram_total for v in search.space.extremes())
    kw = {"pool": 0, "grow_rounds": 0, "beam": 0, "rankers": ("params",), "seeds": [seed], "min_use": 0.7}
    assert search.run(Budgets(sram=2 * largest), **kw)["largest_feasible_sram"] < largest  # the seed alone
    trained: list[dict] = []
    rep = search.run(Budgets(sram=2 * largest), extremes=True, finalists=1,
                     short_train=lambda v: trained.append(v) or 0.0, **kw)
    assert rep["largest_feasible_sram"] == largest
    assert "extreme" in {c["source"] for c in rep["candidates"]}
    assert seed not in trained and rep["chosen"]["sram"] >= 0.7 * largest  # the floor follows the largest point


def test_finalists_spread_across_a_dimension_take_each_value_s_best_first() -> None:
    task = load_task("digits")
    space = default_space("vit", task.input_shape).with_choices(
        {"heads": [1], "rank_factor": [1.0], "attention": ["softmax"], "hash_bits": [4], "activation": ["relu"],
         "patch_size": [2, 4], "embed_dim": [16, 32], "depth": [1, 2], "mlp_ratio": [2.0]})
    bs = BudgetSearch(space, task, BOARD, stack_bytes=1024, seed=0, calib_samples=4)
    runs = {}
    for spread in (None, "patch_size"):
        trained: list[dict] = []
        rep = bs.run(Budgets(sram=256 * 1024), pool=8, grow_rounds=1, rankers=("macs",), finalists=2,
                     short_train=lambda v, t=trained: t.append(v) or 0.0, spread=spread)
        ranked = sorted((c for c in rep["candidates"] if c["feasible"]), key=lambda c: c["rank"])
        runs[spread] = (trained, ranked)
    trained, ranked = runs[None]
    assert trained == [c["arch"] for c in ranked[:2]]
    assert len({v["patch_size"] for v in trained}) == 1  # the MACs ranker's top two share a patch size
    with pytest.raises(EdgefmrError, match="no dimension 'patch'"):
        bs.run(Budgets(sram=256 * 1024), pool=0, grow_rounds=0, rankers=("macs",), spread="patch")
    trained, ranked = runs["patch_size"]
    assert trained[0] == ranked[0]["arch"]
    other = next(c["arch"] for c in ranked if c["arch"]["patch_size"] != trained[0]["patch_size"])
    assert trained[1] == other  # the best-ranked point of the other patch size, not the overall second


def test_finalists_are_distinct_models_when_points_differ_only_in_an_inert_key() -> None:
    task = load_task("digits")
    space = default_space("spiking", task.input_shape).with_choices(
        {"T": [1], "patch_size": [4], "stem_dim": [8], "embed_dim": [16, 32], "depth": [1], "mlp_ratio": [1.0, 2.0],
         "threshold": [1.0], "attn_threshold": [0.5], "tau": [2.0], "attention": ["sdsa"]})
    bs = BudgetSearch(space, task, BOARD, stack_bytes=1024, seed=0, calib_samples=4)
    one = space.point({"embed_dim": 32, "mlp_ratio": 2.0, "heads": 1})
    assert bs.model_key(one) == bs.model_key({**one, "heads": 4})  # SDSA is channel-wise: heads is inert
    trained: list[dict] = []
    rep = bs.run(Budgets(sram=256 * 1024), pool=16, grow_rounds=1, rankers=("params",), finalists=3,
                 short_train=lambda v: trained.append(v) or 0.0)
    ranked = sorted((c for c in rep["candidates"] if c["feasible"]), key=lambda c: c["rank"])
    assert bs.model_key(ranked[0]["arch"]) == bs.model_key(ranked[1]["arch"])  # the top two: one model
    assert len(trained) == 3 and len({bs.model_key(v) for v in trained}) == 3


def test_descend_brings_every_attention_variant_of_the_largest_points_to_the_boundary() -> None:
    task = load_task("digits")
    space = default_space("vit", task.input_shape).with_choices(
        {"heads": [1], "rank_factor": [1.0], "attention": ["softmax", "gated"], "hash_bits": [4],
         "activation": ["relu"], "patch_size": [4], "mlp_ratio": [1.0, 2.0, 4.0]})
    bs = BudgetSearch(space, task, BOARD, stack_bytes=1024, seed=0, calib_samples=4)
    seed = {**space.smallest()[0]}
    seed["attention"] = ["softmax"] * space.depth_of(seed)
    small = bs.cost(seed)[0].sram_total
    budget = (small + min(bs.cost(v)[0].sram_total for v in space.extremes())) // 2
    kw = {"pool": 0, "grow_rounds": 0, "beam": 0, "rankers": ("params",), "seeds": [seed], "extremes": True}
    rep = bs.run(Budgets(sram=budget), **kw)
    assert {c["arch"]["attention"][0] for c in rep["candidates"] if c["feasible"]} == {"softmax"}  # the seed's only
    rep = bs.run(Budgets(sram=budget), descend=True, **kw)
    down = [c for c in rep["candidates"] if c["source"] == "descend" and c["feasible"]]
    assert {c["arch"]["attention"][0] for c in down} == {"softmax", "gated"}
    above = [c["arch"] for c in rep["candidates"] if not c["feasible"]]
    for c in down:  # each is one step below a point that does not fit: at the boundary, not far below it
        assert any(c["arch"] in bs.downs(a) for a in above)
        assert small < c["sram"] <= budget
    with pytest.raises(EdgefmrError, match="needs extremes=True"):
        bs.run(Budgets(sram=budget), **{**kw, "extremes": False}, descend=True)
