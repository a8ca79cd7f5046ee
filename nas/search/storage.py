"""Where a search's Optuna study lives and how workers share it: storage URLs (SQLite, PostgreSQL, journal file),
per-trial seeded samplers, and recovery of the trials of workers that died on this machine."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from edgefmr.errors import EdgefmrError

#: RDB storages' heartbeat of a running trial, and the silence after which it is stale (seconds).
HEARTBEAT_SECONDS = 5
GRACE_SECONDS = 20


def _mix(seed: int, number: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{number}".encode()).digest()[:4], "little")


def redact(url: str) -> str:
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}@{host}"
    return url


def _schema_race(e: Exception) -> bool:
    """Whether ``e`` is what a worker gets when another creates the same schema object first: a row (IntegrityError)
    or, on PostgreSQL, a type or table (psycopg's DuplicateObject/DuplicateTable inside SQLAlchemy's
    ProgrammingError)."""
    orig = type(getattr(e, "orig", None)).__name__
    return type(e).__name__ == "IntegrityError" or orig in ("DuplicateObject", "DuplicateTable")


def open_storage(url: str | None, out: Path) -> Any:
    """An Optuna storage for ``url`` (None: SQLite in ``out``)."""
    if url is None:
        out.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{(out / 'search.db').resolve()}"
    if url.startswith("journal:"):
        path = url[len("journal:"):]
        if not path:
            raise EdgefmrError("--storage journal:PATH needs a file path")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(path))
    if not url.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://")):
        raise EdgefmrError(f"--storage {redact(url)}: expected sqlite:///PATH, postgresql://USER@HOST[:PORT]/DB or "
                           "journal:PATH")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]  # psycopg 3, whatever SQLAlchemy's default
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 60}}
    try:
        for attempt in range(5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
            except Exception as e:  # workers starting together race to create the schema: the loser retries
                if not _schema_race(e) or attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")
    except ImportError:
        raise EdgefmrError(f"--storage {redact(url)}: the database driver is not installed (PostgreSQL needs the "
                           "Python package psycopg[binary])") from None
    except Exception as e:  # sqlalchemy's OperationalError and friends
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EdgefmrError(f"--storage {redact(url)}: cannot open the study storage: {first}") from None


class _PerTrialSeeded:
    """A sampler re-created for every trial with a seed from (seed, trial number): reproducible for one worker,
    different draws for concurrent workers. Delegates the BaseSampler interface to the current sampler."""

    def __init__(self, make: Callable[[int], Any], seed: int) -> None:
        self._make, self._seed = make, seed
        self._cur = make(seed)

    def before_trial(self, study: Any, trial: Any) -> None:
        self._cur = self._make(_mix(self._seed, trial.number))
        self._cur.before_trial(study, trial)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return self._cur.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        return self._cur.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
        return self._cur.sample_independent(study, trial, name, dist)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self._cur.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._cur.reseed_rng()


def make_sampler(name: str, seed: int, trials: int) -> Any:
    base = optuna.samplers.BaseSampler

    def make(s: int) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if name == "tpe":
                return optuna.samplers.TPESampler(seed=s, n_startup_trials=min(10, max(3, trials // 3)))
            if name == "nsga2":
                return optuna.samplers.NSGAIISampler(seed=s, population_size=min(20, max(4, trials // 4)))
            return optuna.samplers.RandomSampler(seed=s)

    cls = type("PerTrialSeededSampler", (_PerTrialSeeded, base), {})
    return cls(make, seed)


def _proc_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start is None or _proc_start(pid) in (None, start)


def worker_attr() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _proc_start(os.getpid()), "since": time.time()}


def recover_dead_local_trials(study: Any) -> list[int]:
    """Fail the RUNNING trials of dead processes on this machine and re-enqueue their parameters; their numbers."""
    host = socket.gethostname()
    done = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        w = t.user_attrs.get("worker")
        if not isinstance(w, dict) or w.get("host") != host:
            continue
        if t.datetime_start is not None and t.datetime_start.timestamp() > float(w.get("since", 0)) + 1.0:
            continue  # a copied attribute (a retried trial not yet claimed by its new worker)
        if _alive(int(w["pid"]), w.get("start")):
            continue
        try:
            study._storage.set_trial_user_attr(t._trial_id, "failed_because", "worker process died")
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            continue  # another worker got there first
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        done.append(t.number)
    return done
