"""The search driver on a tiny ViT space: budgets as hard constraints, export, resume, seeds, impossible budgets."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings

import optuna
import pytest
import torch
from optuna.trial import TrialState

from edgefmr.errors import EdgefmrError
from edgefmr.ir import load
from edgefmr.nas.search.cost import Budgets, candidate_cost
from edgefmr.nas.search.driver import NoFeasibleArchitecture, Search, SearchSettings
from edgefmr.nas.search.storage import recover_dead_local_trials

torch.set_num_threads(1)


def history(s):
    return [(t.number, t.params, t.values) for t in s.study.get_trials(states=(TrialState.COMPLETE,))]


def test_search_end_to_end_meets_the_budget_and_exports(tmp_path, search_settings):
    probe = Search(search_settings(1), tmp_path / "probe")
    sp = probe.spaces["vit"]
    lo = probe.cost_of("vit", sp.smallest()[0]).cost.sram_total
    hi = probe.cost_of("vit", sp.extremes()[0]).cost.sram_total
    budget = (lo + hi) // 2
    assert lo < budget < hi
    s = Search(search_settings(8, budgets=Budgets(sram=budget)), tmp_path / "out")
    rep = s.run()
    assert rep["trials"] == 8 and rep["feasible"] >= 1
    for r in rep["rows"]:
        assert r["feasible"] == (r["sram"] <= budget)
        if not r["feasible"]:
            assert r["accuracy"] == 0.0 and not r["evaluated"]
    feas = {r["number"] for r in rep["rows"] if r["feasible"]}
    assert rep["pareto"] and {p["number"] for p in rep["pareto"]} <= feas
    c = rep["chosen"]
    assert c["accuracy"] == max(r["accuracy"] for r in rep["rows"] if r["feasible"])
    assert c["sram"] <= budget
    g = load(tmp_path / "out" / "model.efm")
    final = candidate_cost(g, "qemu-netduinoplus2", stack_bytes=1024)
    assert final.arena == c["arena"] and final.sram_total == c["sram"] and final.flash == c["flash"]
    assert c["prediction_matches_final"] and c["test_accuracy_int"] > 0.15
    assert (tmp_path / "out" / "pareto.png").stat().st_size > 1000
    q = json.loads((tmp_path / "out" / "quant.json").read_text())  # as `edgefmr quantize --report` writes it
    assert q["int_accuracy"] == c["test_accuracy_int"] and q["out"] == str(tmp_path / "out" / "model.efm")
    saved = json.loads((tmp_path / "out" / "search.json").read_text())
    assert saved["chosen"]["number"] == c["number"] and saved["format"] == "edgefmr-search"
    assert saved["supernets"]["vit"]["trained_now"] is False  # the session's cached supernet was reused


def test_rerun_resumes_and_an_interrupted_run_loses_no_finished_trial(tmp_path, search_settings, monkeypatch):
    out = tmp_path / "out"
    s = Search(search_settings(3), out)
    s.run(export=False)
    first = history(s)
    assert len(first) == 3
    s2 = Search(search_settings(5), out)
    assert s2.study_name == s.study_name
    s2.run(export=False)
    second = history(s2)
    assert second[:3] == first and len(second) == 5

    real = Search._objective
    calls = {"n": 0}

    def interrupted(self, trial):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, trial)

    monkeypatch.setattr(Search, "_objective", interrupted)
    s3 = Search(search_settings(8), out)
    with pytest.raises(KeyboardInterrupt):
        s3.run(export=False)
    kept = history(s3)
    assert len(kept) == 6 and kept[:5] == second
    monkeypatch.setattr(Search, "_objective", real)
    s4 = Search(search_settings(8), out)
    s4.run(export=False)
    done = history(s4)
    assert len(done) == 8 and done[:6] == kept


def test_same_seed_same_trials(tmp_path, search_settings):
    runs = []
    for i, seed in enumerate((0, 0, 1)):
        s = Search(search_settings(5, seed=seed), tmp_path / f"r{i}")
        s.run(export=False)
        runs.append([(p, v) for _, p, v in history(s)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_impossible_budget_stops_quickly_before_any_training(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEFMR_CACHE_DIR", str(tmp_path / "cache"))
    t0 = time.perf_counter()
    with pytest.raises(NoFeasibleArchitecture) as e:
        Search(SearchSettings(task="digits", board="qemu-netduinoplus2", budgets=Budgets(sram=8 * 1024)),
               tmp_path / "out").run()
    assert time.perf_counter() - t0 < 60
    msg = str(e.value)
    assert "no architecture meets the budgets on qemu-netduinoplus2" in msg
    assert "the smallest SRAM footprint found is" in msg and "--sram-budget 8.0 KiB is below it" in msg
    assert "stack 8.0 KiB" in msg and "vit patch_size=" in msg
    assert not (tmp_path / "cache").exists()  # no supernet was trained


def test_joining_a_study_with_other_settings_is_an_error(tmp_path, search_settings):
    Search(search_settings(1), tmp_path, study_name="shared").run(export=False)
    other = Search(search_settings(1, budgets=Budgets(sram=64 * 1024)), tmp_path, study_name="shared")
    with pytest.raises(EdgefmrError, match="study shared was created with other settings \\(budgets differ\\)"):
        other.run(export=False)


def test_journal_storage(tmp_path, search_settings):
    s = Search(search_settings(2), tmp_path, storage=f"journal:{tmp_path / 'j.log'}")
    s.run(export=False)
    assert len(history(s)) == 2 and (tmp_path / "j.log").stat().st_size > 0


def test_bad_storage_url_is_an_error(tmp_path, search_settings):
    with pytest.raises(EdgefmrError, match="--storage redis://x: expected sqlite:///PATH"):
        Search(search_settings(1), tmp_path, storage="redis://x").run(export=False)


def test_a_dead_local_workers_trial_is_failed_and_retried(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", directions=["maximize", "minimize"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial = study.ask()
    trial.suggest_categorical("vit.depth", [1, 2])
    import socket

    trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": dead.pid, "start": None,
                                   "since": time.time()})
    alive = study.ask()
    alive.set_user_attr("worker", {"host": socket.gethostname(), "pid": __import__("os").getpid(), "start": None,
                                   "since": time.time()})
    assert recover_dead_local_trials(study) == [trial.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[trial.number] == TrialState.FAIL and states[alive.number] == TrialState.RUNNING
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs["retry_of"] == trial.number
    assert waiting[0].system_attrs["fixed_params"] == {"vit.depth": trial.params["vit.depth"]}


def test_no_fit_message_names_the_board_limit_and_what_was_checked(tmp_path, search_settings):
    """Every candidate over the board's own memory: the message says so and still names what was checked."""
    from edgefmr.nas.search.driver import Candidate

    s = Search(search_settings(1), tmp_path)
    sp = s.spaces["vit"]
    c = s.cost_of("vit", sp.smallest()[0])
    over = Candidate("vit", c.values, c.cost, [-1.0, -1.0, -1.0, 0.5, -1.0])
    msg = s._no_fit_message([over], "candidates")
    assert "none fits the memory of board qemu-netduinoplus2" in msg and msg.endswith("(1 candidates checked)")


def test_a_restarted_worker_runs_the_dead_workers_last_trial_instead_of_waiting_for_it(tmp_path, search_settings,
                                                                                       monkeypatch):
    """The quota is full only with the dead worker's trial (complete + its retry = trials): the retry, waiting, must be
    run by the next worker, not awaited (a fresh-clone CI run hung here for 300 s)."""
    import socket

    from edgefmr.nas.search import driver

    out = tmp_path / "out"
    s = Search(search_settings(2), out)
    s.run(export=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with warnings.catch_warnings():  # Optuna: a heartbeat storage "is supposed to be used with Study.optimize"
        warnings.simplefilter("ignore", UserWarning)
        trial = s.study.ask()
    trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": dead.pid, "start": None,
                                   "since": time.time()})
    polls = {"n": 0}

    def sleep(seconds: float) -> None:
        polls["n"] += 1
        assert polls["n"] < 5, "the worker waits for a trial that no one runs"

    monkeypatch.setattr(driver.time, "sleep", sleep)
    s2 = Search(search_settings(3), out)
    s2.prepare()
    s2.run_trials()
    states = {t.number: t.state for t in s2.study.get_trials()}
    assert states[trial.number] == TrialState.FAIL
    assert sum(st == TrialState.COMPLETE for st in states.values()) == 3
