"""`make bench`'s budget sweep (bench/search_sweep.py) resumes a job cut short: the budgets its earlier worker saved
are not searched again, and the next budget's search is seeded with the point the last saved budget chose."""

from __future__ import annotations

import json

import pytest

import bench.search_sweep as sweep
from edgefmr.errors import EdgefmrError


def test_a_resumed_job_searches_only_unsaved_budgets_seeded_with_the_saved_choice(monkeypatch, tmp_path) -> None:
    chosen16 = {"patch_size": 8, "embed_dim": 96, "depth": 4, "heads": 4, "mlp_ratio": 4.0,
                "attention": ["gated", "gated", "gated", "gated"]}
    saved = [{"kind": "sweep", "family": "vit", "budget_kb": 8, "seed": 1, "chosen_arch": {"embed_dim": 64}},
             {"kind": "sweep", "family": "vit", "budget_kb": 16, "seed": 1, "chosen_arch": chosen16}]
    (tmp_path / "vit-1.json").write_text(json.dumps(saved + [{"kind": "time_steps"}]))
    searched = []

    def search(family, task, seed, budgets, trainer, seeds=None):
        searched.append((budgets.sram, seeds))
        raise EdgefmrError("stop here: the search itself is not under test")

    monkeypatch.setattr(sweep, "PARTIAL", tmp_path)
    monkeypatch.setattr(sweep, "BUDGETS_KB", (8, 16, 32, 64))
    monkeypatch.setattr(sweep, "_search", search)
    monkeypatch.setattr(sweep, "_baseline", lambda family, search, budgets: None)
    monkeypatch.setattr(sweep, "_budget_search", lambda family, task, seed: None)
    monkeypatch.setattr("edgefmr.nas.tasks.load_task", lambda name: None)
    records, chosen64 = sweep._family_sweep("vit", "smallshapes32", 1, tmp_path, sweep._saved_sweep("vit-1"))

    assert records[:2] == saved
    # 32 KiB is seeded with the saved 16 KiB choice; its search failing leaves the carry as it was for 64 KiB
    assert searched == [(32 * 1024, [chosen16]), (64 * 1024, [chosen16])]
    assert [r["chosen_arch"] for r in records[2:]] == [None, None] and chosen64 is None


@pytest.mark.parametrize("content", [None, "[]"])
def test_a_fresh_job_has_no_saved_budgets(monkeypatch, tmp_path, content) -> None:
    monkeypatch.setattr(sweep, "PARTIAL", tmp_path)
    if content is not None:
        (tmp_path / "lmu-0.json").write_text(content)
    assert sweep._saved_sweep("lmu-0") == []
