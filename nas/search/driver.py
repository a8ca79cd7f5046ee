"""The search driver: an Optuna study over the families' spaces with the supernets' accuracy and the cost model.

Objectives: validation accuracy of the subnet with inherited supernet weights (maximised) and predicted latency in
seconds (minimised). Constraints (Optuna ``constraints_func``, hard: an infeasible trial never dominates a feasible
one): the SRAM, flash and latency budgets and the board's region sizes (:func:`edgefmr.nas.search.cost.constraints`).
The accuracy of an infeasible candidate is not measured (recorded as 0, attribute ``evaluated: false``).

Storage: local by default (SQLite, ``DIR/search.db``); ``sqlite:///PATH``, ``postgresql://USER[:PW]@HOST[:PORT]/DB``
(many processes or machines join one study) or ``journal:PATH`` (Optuna's journal file). The study name defaults to
the task, board, families and a hash of every setting, so re-running the same command resumes the same study.

Workers: a worker runs trials until the study holds ``trials`` COMPLETE ones. A trial asked when that many are
already complete, running or waiting is a surplus and fails at once (attribute ``surplus``), so concurrent workers
never finish more than ``trials``. A worker that dies leaves a RUNNING trial: on the same machine the next worker
sees that its process is gone, on other machines RDB storages' heartbeat (every
:data:`~edgefmr.nas.search.storage.HEARTBEAT_SECONDS`) marks it stale after
:data:`~edgefmr.nas.search.storage.GRACE_SECONDS`; either way it is failed and re-enqueued with the same parameters,
and a worker that finds the quota taken by running trials waits for them (a waiting trial it runs). A finished
trial is never redone or lost.
An identical architecture evaluated before reuses that trial's values (attribute ``reused_from``).

Reproducibility: the sampler is re-created for every trial with the seed ``(seed, trial number)``, so one worker
with one seed always asks the same trials; concurrent workers draw different ones.

Before any supernet is trained, the smallest architectures of each space are costed; if none meets the budgets the
search stops with the smallest footprint found (:class:`NoFeasibleArchitecture`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from edgefmr.boards import load_board
from edgefmr.errors import EdgefmrError
from edgefmr.ir import graph_hash, load, save
from edgefmr.nas.search import cost as costmod
from edgefmr.nas.search.cost import CONSTRAINT_NAMES, Budgets, format_bytes
from edgefmr.nas.search.pareto import choose, pareto_front, plot_pareto
from edgefmr.nas.search.space import Space, arch_key, check_space, default_space, describe, load_space_file
from edgefmr.nas.search.storage import (
    make_sampler,
    open_storage,
    recover_dead_local_trials,
    redact,
    worker_attr,
)
from edgefmr.nas.search.supernet import Scorer, SupernetSettings, load_or_train, task_digest
from edgefmr.nas.tasks import load_task
from edgefmr.nas.train import evaluate, save_checkpoint, train, train_defaults
from edgefmr.profiling.calibration import table_info
from edgefmr.quant.pipeline import quantize_task
from edgefmr.quant.quantizer import QuantOptions

REPORT_FORMAT = "edgefmr-search"
REPORT_VERSION = 1
POLL_SECONDS = 1.0
SAMPLERS = ("tpe", "nsga2", "random")
MAX_FAILURES = 5
#: Supernet epochs per family (``--supernet-epochs`` overrides). The ViT supernet learns slowly: with 20 epochs its
#: validation ranking was too noisy and the search on digits chose shallower models than with 60.
SUPERNET_EPOCHS = {"vit": 60, "spiking": 10, "lmu": 10}

Progress = Callable[[str, int, int, str], None]


class NoFeasibleArchitecture(EdgefmrError):
    """No architecture of the space meets the budgets; the message names the smallest footprint found."""


class _Surplus(Exception):
    """A trial asked after the study's quota was taken."""


class _TrialError(Exception):
    """A candidate that could not be evaluated (the trial fails, the search goes on)."""


@dataclass
class SearchSettings:
    """Everything that defines a search (the CLI options)."""

    task: str
    board: str
    families: tuple[str, ...] = ()
    budgets: Budgets = field(default_factory=Budgets)
    trials: int = 40
    seed: int = 0
    sampler: str = "tpe"
    stack_bytes: int = costmod.DEFAULT_STACK_BYTES
    supernet_epochs: int | None = None
    space_file: str | None = None
    finetune_epochs: int = 15
    calib_samples: int = 32
    eval_samples: int | None = None  # test samples the int8 model is evaluated on (None: all)

    def check(self) -> None:
        if self.trials < 1:
            raise EdgefmrError(f"--trials must be >= 1, got {self.trials}")
        if self.sampler not in SAMPLERS:
            raise EdgefmrError(f"unknown sampler {self.sampler!r}; valid: {', '.join(SAMPLERS)}")
        if self.stack_bytes < 0 or self.finetune_epochs < 0:
            raise EdgefmrError("--stack-bytes and --finetune-epochs must be >= 0")
        if self.supernet_epochs is not None and self.supernet_epochs < 1:
            raise EdgefmrError(f"--supernet-epochs must be >= 1, got {self.supernet_epochs}")


def default_families(task: Any) -> tuple[str, ...]:
    """vit for image tasks, lmu for sequence tasks."""
    return ("vit",) if task.kind == "image" else ("lmu",)


@dataclass
class Candidate:
    """One evaluated point."""

    family: str
    values: dict[str, Any]
    cost: costmod.Cost
    constraints: list[float]

    @property
    def feasible(self) -> bool:
        return costmod.feasible(self.constraints)


class Search:
    """One worker of a search (see the module docstring). ``run()`` returns the report dict."""

    def __init__(self, settings: SearchSettings, out: str | Path, *, storage: str | None = None,
                 study_name: str | None = None, progress: Progress | None = None) -> None:

        settings.check()
        self.settings = settings
        self.out = Path(out)
        self.progress = progress or (lambda stage, done, total, info: None)
        self.task = load_task(settings.task)
        self.board = load_board(settings.board)
        fams = settings.families or default_families(self.task)
        self.families = tuple(fams)
        if settings.space_file:
            self.spaces = load_space_file(settings.space_file, list(self.families), self.task.input_shape)
        else:
            self.spaces = {f: default_space(f, self.task.input_shape) for f in self.families}
        for sp in self.spaces.values():
            check_space(sp, self.task.input_shape, self.task.n_classes)
        self.table = costmod.latency_table(self.board)
        self.storage_url = storage
        self.identity = self._identity()
        digest = hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:8]
        slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(self.task.name).name)
        self.study_name = study_name or f"{slug}-{self.board.name}-{'+'.join(self.families)}-s{settings.seed}-{digest}"
        self.scorers: dict[str, Scorer] = {}
        self.supernet_info: dict[str, dict[str, Any]] = {}
        self.study: Any = None
        self._failures = 0

    # ---------------------------------------------------------------------------------------- identity
    def supernet_settings(self, family: str) -> SupernetSettings:
        epochs = self.settings.supernet_epochs or SUPERNET_EPOCHS.get(family, 20)
        return SupernetSettings(epochs=epochs, seed=self.settings.seed)

    def _identity(self) -> dict[str, Any]:

        s = self.settings
        return {"task": self.task.name, "task_data": task_digest(self.task), "board": self.board.name,
                "families": list(self.families), "budgets": s.budgets.to_dict(), "stack_bytes": s.stack_bytes,
                "spaces": {f: sp.to_dict() for f, sp in self.spaces.items()}, "sampler": s.sampler,
                "supernets": {f: dataclasses.asdict(self.supernet_settings(f)) for f in self.families},
                "calibration_source": self.table.get("source"), "calib_samples": s.calib_samples}

    # ------------------------------------------------------------------------------------------ costing
    def cost_of(self, family: str, values: dict[str, Any], model: nn.Module | None = None) -> Candidate:
        """Cost and constraint values of a point (``model``: its weights; default: seeded random weights)."""
        target = model if model is not None else self.spaces[family].config(values)
        graph = costmod.lower_for_cost(target, self.task, calib_samples=self.settings.calib_samples)
        c = costmod.candidate_cost(graph, self.board, stack_bytes=self.settings.stack_bytes, table=self.table)
        return Candidate(family, dict(values), c, costmod.constraints(c, self.settings.budgets, self.board))

    def preflight(self) -> list[Candidate]:
        """Cost the smallest architectures of every space; NoFeasibleArchitecture if none meets the budgets."""
        cands = []
        for fam, sp in self.spaces.items():
            seen = set()
            for values in _probe_points(sp):
                k = arch_key(fam, values)
                if k in seen:
                    continue
                seen.add(k)
                cands.append(self.cost_of(fam, values))
                self.progress("check the smallest architectures", len(cands), len(cands), "")
        if not any(c.feasible for c in cands):
            raise NoFeasibleArchitecture(self._no_fit_message(cands, "of the smallest architectures of the space"))
        return cands

    def _no_fit_message(self, cands: list[Candidate], what: str) -> str:
        b = self.settings.budgets
        idx = {n: i for i, n in enumerate(CONSTRAINT_NAMES)}
        smallest = min(cands, key=lambda c: c.cost.sram_total)
        sc = smallest.cost
        if sc.resources:  # an FPGA design
            use = ", ".join(f"{r.upper()} {n}/{sc.resources_available[r]}" for r, n in sc.resources.items())
            head = (f"the smallest on-chip memory found is {format_bytes(sc.sram_total)} of block RAM ({use}), "
                    f"with weights {format_bytes(sc.flash)} and latency {1e3 * sc.latency_seconds:.3f} ms "
                    f"({smallest.family} {describe(smallest.values)})")
        else:
            arena = " + ".join(f"arena {format_bytes(n)} in {r}" for r, n in sc.arena.items())
            head = (f"the smallest SRAM footprint found is {format_bytes(sc.sram_total)} ({arena} + stack "
                    f"{format_bytes(sc.stack_bytes)}), with flash {format_bytes(sc.flash)} and latency "
                    f"{1e3 * sc.latency_seconds:.2f} ms ({smallest.family} {describe(smallest.values)})")
        need = []

        def over(name: str) -> bool:
            return all(c.constraints[idx[name]] > 0 for c in cands)

        if b.sram is not None and over("sram_budget"):
            need.append(f"--sram-budget {format_bytes(b.sram)} is below it")
        if b.flash is not None and over("flash_budget"):
            need.append(f"--flash-budget {format_bytes(b.flash)} is below the smallest flash "
                        f"{format_bytes(min(c.cost.flash for c in cands))}")
        if b.latency is not None and over("latency_budget"):
            if b.latency_unit == "s":
                m = min(c.cost.latency_seconds for c in cands)
                need.append(f"--latency-budget {1e3 * b.latency:g} ms is below the fastest {1e3 * m:.2f} ms")
            else:
                m = min(c.cost.latency_cycles for c in cands)
                need.append(f"--latency-budget {b.latency:g} cycles is below the fastest {m:.0f} cycles")
        if all(c.constraints[idx["board_sram"]] > 0 or c.constraints[idx["board_flash"]] > 0 for c in cands):
            limits = "DSP, BRAM, LUT and FF" if sc.resources else "memory"
            need.append(f"none fits the {limits} of board {self.board.name}")
        reason = "; ".join(need) or "no candidate meets every budget at once"
        return (f"no architecture meets the budgets on {self.board.name}: {head}; {reason} "
                f"({len(cands)} {what} checked)")

    # ------------------------------------------------------------------------------------------- study
    def prepare(self) -> None:
        """Train or load the supernets (cached) and open the study."""

        for fam in self.families:
            if fam in self.scorers:
                continue
            s = self.supernet_settings(fam)

            def bar(done: int, total: int, loss: float, fam: str = fam) -> None:
                self.progress(f"train the {fam} supernet", done, total, f"loss {loss:.3f}")

            net, metrics, path, trained = load_or_train(fam, self.task, self.spaces[fam], s, bar)
            self.scorers[fam] = Scorer(net, self.task, s)
            self.supernet_info[fam] = {"cache": str(path), "trained_now": trained, **metrics}
        self.study = self._open_study()

    def _open_study(self) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        storage = open_storage(self.storage_url, self.out)
        sampler = make_sampler(self.settings.sampler, self.settings.seed, self.settings.trials)
        try:
            study = optuna.create_study(storage=storage, study_name=self.study_name, sampler=sampler,
                                        directions=["maximize", "minimize"], load_if_exists=True)
        except ValueError as e:  # e.g. an existing study of the same name with other directions
            raise EdgefmrError(f"study {self.study_name}: {e}") from None
        have = study.user_attrs.get("edgefmr")
        if have is None:
            study.set_user_attr("edgefmr", self.identity)
        elif have != self.identity:
            diff = sorted(k for k in set(have) | set(self.identity) if have.get(k) != self.identity.get(k))
            raise EdgefmrError(f"study {self.study_name} was created with other settings ({', '.join(diff)} differ); "
                               "use the same options to join it, or another --study name")
        return study

    def _complete(self) -> list[Any]:
        from optuna.trial import TrialState

        return self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

    def run_trials(self) -> None:
        """Run trials until the study holds ``settings.trials`` complete ones (see the module docstring)."""
        import optuna
        from optuna.trial import TrialState

        n = self.settings.trials
        while True:
            recover_dead_local_trials(self.study)
            trials = self.study.get_trials(deepcopy=False)
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            feas = [t for t in complete if t.user_attrs.get("feasible")]
            best = max((t.values[0] for t in feas), default=None)
            info = f"{len(feas)} feasible" + (f", best {100 * best:.1f}%" if best is not None else "")
            self.progress("search", min(len(complete), n), n, info)
            if len(complete) >= n:
                return
            claimed = sum(1 for t in trials if t.state in (TrialState.COMPLETE, TrialState.RUNNING,
                                                           TrialState.WAITING))
            waiting = any(t.state == TrialState.WAITING for t in trials)
            if claimed >= n and not waiting:  # a waiting trial (e.g. a dead worker's, re-enqueued) is run, not awaited
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(self.study)
                time.sleep(POLL_SECONDS)
                continue
            self.study.optimize(self._objective, n_trials=1, catch=(_Surplus, _TrialError), gc_after_trial=False)

    def _objective(self, trial: Any) -> tuple[float, float]:
        from optuna.trial import TrialState

        trial.set_user_attr("worker", worker_attr())
        ahead = [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING,
                                                                             TrialState.WAITING))
                 if t.number < trial.number]
        if len(ahead) >= self.settings.trials:
            trial.set_user_attr("surplus", True)
            raise _Surplus()
        fam = (trial.suggest_categorical("family", list(self.families)) if len(self.families) > 1
               else self.families[0])
        values = self.spaces[fam].suggest(trial)
        key = arch_key(fam, values)
        trial.set_user_attr("family", fam)
        trial.set_user_attr("arch", values)
        trial.set_user_attr("arch_key", key)
        for t in self._complete():
            if t.user_attrs.get("arch_key") == key:
                for k in ("cost", "constraints", "feasible", "evaluated", "accuracy"):
                    if k in t.user_attrs:
                        trial.set_user_attr(k, t.user_attrs[k])
                trial.set_user_attr("reused_from", t.number)
                _set_constraints(trial, t.user_attrs["constraints"])
                return float(t.values[0]), float(t.values[1])
        try:
            scorer = self.scorers[fam]
            model = scorer.model(values)
            cand = self.cost_of(fam, values, model)
        except EdgefmrError as e:
            trial.set_user_attr("error", str(e))
            self._failures += 1
            if self._failures >= MAX_FAILURES:
                raise EdgefmrError(f"{MAX_FAILURES} candidates in a row could not be evaluated; last: {e}") from None
            raise _TrialError(str(e)) from None
        self._failures = 0
        trial.set_user_attr("cost", cand.cost.to_dict())
        trial.set_user_attr("constraints", cand.constraints)
        _set_constraints(trial, cand.constraints)
        trial.set_user_attr("feasible", cand.feasible)
        acc = 0.0
        if cand.feasible:
            acc = scorer.accuracy_of(model)
        trial.set_user_attr("evaluated", cand.feasible)
        trial.set_user_attr("accuracy", acc)
        return acc, cand.cost.latency_seconds

    # ---------------------------------------------------------------------------------------- results
    def rows(self) -> list[dict[str, Any]]:
        """One row per complete trial."""
        out = []
        for t in self._complete():
            c = t.user_attrs.get("cost", {})
            out.append({"number": t.number, "family": t.user_attrs.get("family"), "arch": t.user_attrs.get("arch"),
                        "accuracy": float(t.values[0]), "latency_s": float(t.values[1]),
                        "sram": c.get("sram_total"), "arena": c.get("arena"), "flash": c.get("flash"),
                        "macs": c.get("macs"), "resources": c.get("resources") or None,
                        "feasible": bool(t.user_attrs.get("feasible")),
                        "evaluated": bool(t.user_attrs.get("evaluated")),
                        "reused_from": t.user_attrs.get("reused_from"),
                        "constraints": t.user_attrs.get("constraints")})
        return out

    def run(self, export: bool = True) -> dict[str, Any]:
        """Preflight, supernets, trials, Pareto front and (with ``export``) the chosen model in ``out``."""
        t0 = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self.preflight()
        self.prepare()
        self.run_trials()
        rows = self.rows()
        feasible = [r for r in rows if r["feasible"]]
        if not feasible:
            cands = [Candidate(r["family"], r["arch"], costmod.Cost(**self._cost_dict(r)), r["constraints"])
                     for r in rows]
            raise NoFeasibleArchitecture(self._no_fit_message(cands, "candidates"))
        front = pareto_front(feasible)
        chosen = choose(front)
        report: dict[str, Any] = {
            "format": REPORT_FORMAT, "version": REPORT_VERSION, "task": self.task.name, "board": self.board.name,
            "families": list(self.families), "budgets": self.settings.budgets.to_dict(),
            "stack_bytes": self.settings.stack_bytes, "seed": self.settings.seed, "sampler": self.settings.sampler,
            "study": self.study_name, "storage": redact(self.storage_url or f"sqlite:///{self.out / 'search.db'}"),
            "trials": len(rows), "feasible": len(feasible), "latency_source": self.table.get("source"),
            "latency_table": (table_info(self.table)
                              if self.table.get("source") != costmod.FPGA_LATENCY_SOURCE else None),
            "supernets": self.supernet_info, "pareto": front, "chosen": chosen,
            "search_seconds": round(time.perf_counter() - t0, 1), "files": {},
        }
        if export:
            report["chosen"] = {**chosen, **self.export(chosen, report)}
        report["files"]["pareto_plot"] = plot_pareto(rows, front, chosen, self.out / "pareto.png")
        report["rows"] = rows
        (self.out / "search.json").write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
        report["files"]["report"] = str(self.out / "search.json")
        return report

    def _cost_dict(self, r: dict[str, Any]) -> dict[str, Any]:
        for t in self._complete():
            if t.number == r["number"]:
                return dict(t.user_attrs["cost"])
        raise KeyError(r["number"])

    _EXPORT_KEYS = ("model_hash", "test_accuracy_float", "test_accuracy_int", "finetune_epochs", "final_cost",
                    "prediction_matches_final", "export_seconds", "build_command")

    def _exported(self, chosen: dict[str, Any]) -> dict[str, Any] | None:
        """The export of an earlier run of this study in ``out`` when it chose the same trial with the same
        fine-tuning and its model.efm is still the one it wrote (by hash): a finished search run again does not
        fine-tune again or overwrite model.efm."""
        prev_path = self.out / "search.json"
        try:
            prev = json.loads(prev_path.read_text())
        except (OSError, ValueError):
            return None
        pc, files = prev.get("chosen") or {}, prev.get("files") or {}
        if (prev.get("study") != self.study_name or pc.get("number") != chosen["number"]
                or pc.get("finetune_epochs") != self.settings.finetune_epochs or not pc.get("model_hash")
                or not all(Path(files.get(k, "")).is_file() for k in ("model", "checkpoint", "quantization_report"))):
            return None
        try:
            if graph_hash(load(files["model"])) != pc["model_hash"]:
                return None
        except EdgefmrError:
            return None
        return {"files": files, "export": {k: pc[k] for k in self._EXPORT_KEYS if k in pc}}

    def export(self, chosen: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
        """Fine-tune the chosen subnet from its inherited weights, quantize it to the IR in ``out`` (model.efm), and
        check that its memory equals the prediction."""

        done = self._exported(chosen)
        if done is not None:
            report["files"].update({k: done["files"][k] for k in ("model", "checkpoint", "quantization_report")})
            self.progress("fine-tune the chosen model", 1, 1, "already done: model.efm kept")
            return done["export"]
        fam, values = chosen["family"], chosen["arch"]
        sp, scorer = self.spaces[fam], self.scorers[fam]
        cfg = sp.config(values)
        t0 = time.perf_counter()
        if self.settings.finetune_epochs > 0:
            self.progress("fine-tune the chosen model", 0, 1, f"{self.settings.finetune_epochs} epochs")
            # the family's own training settings (lr, label smoothing, ...): the inherited weights are only a warm
            # start, and a small fine-tuning lr left the chosen ViT well short of what the family's lr reaches
            opts = {k: v for k, v in train_defaults(fam).items() if k != "epochs"}
            model, metrics = train(fam, self.task, cfg, epochs=self.settings.finetune_epochs, seed=self.settings.seed,
                                   progress=False, init_state=scorer.net.state_for(values), **opts)
            self.progress("fine-tune the chosen model", 1, 1, f"test accuracy {100 * metrics['accuracy']:.1f}%")
        else:

            model = scorer.model(values)
            metrics = {"accuracy": evaluate(model, self.task.x_test, self.task.y_test), "epochs": 0}
        ckpt = self.out / "model.pt"
        save_checkpoint(ckpt, fam, cfg, self.task.name, self.task.input_shape, self.task.n_classes, model,
                        metrics)

        def qbar(stage: str, done: int, total: int) -> None:
            self.progress(stage, done, total, "")

        res = quantize_task(model, fam, self.task, QuantOptions(seed=self.settings.seed), where=str(ckpt),
                            progress=qbar, eval_samples=self.settings.eval_samples,
                            metadata={"source": "edgefmr search", "study": self.study_name})
        efm = self.out / "model.efm"
        save(res.graph, efm)
        quant = self.out / "quant.json"  # the report `edgefmr quantize --report` writes
        quant.write_text(json.dumps({**res.report, "out": str(efm), "exports": {}}, indent=2, default=_json_default)
                         + "\n")
        final = costmod.candidate_cost(res.graph, self.board, stack_bytes=self.settings.stack_bytes, table=self.table)
        same = final.arena == chosen["arena"] and final.flash == chosen["flash"] and final.sram_total == chosen["sram"]
        report["files"].update({"model": str(efm), "checkpoint": str(ckpt), "quantization_report": str(quant)})
        return {"model_hash": graph_hash(res.graph),
                "test_accuracy_float": metrics["accuracy"], "test_accuracy_int": res.report["int_accuracy"],
                "finetune_epochs": self.settings.finetune_epochs, "final_cost": final.to_dict(),
                "prediction_matches_final": same, "export_seconds": round(time.perf_counter() - t0, 1),
                "build_command": f"edgefmr build {efm} --board {self.board.name} --out {self.out / 'build'}"}


def _set_constraints(trial: Any, values: list[float]) -> None:
    """The hard constraints of a trial (Optuna's samplers treat a trial with any value > 0 as infeasible)."""
    for name, v in zip(CONSTRAINT_NAMES, values, strict=True):
        trial.set_constraint(name, float(v))


def _probe_points(space: Space) -> list[dict[str, Any]]:
    """The smallest point, then the same with one shape dimension or the attention variant changed."""
    base = space.smallest()[0]
    out = [base]
    for d in space.dims:
        if d.kind == "shape" and d.when is None:
            for c in d.choices:
                out.append({**base, d.name: c})
    for a in space.attention:
        out.append({**base, "attention": [a] * space.depth_of(base)})
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")
