"""Distributed search on a real PostgreSQL server started on loopback by the test: two workers share one study,
a killed worker's trial is retried by its restarted successor, no trial is duplicated or lost."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

pytestmark = pytest.mark.slow


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    w = shutil.which("initdb")
    return Path(w).parent if w else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL cluster on 127.0.0.1 (as the postgres or nobody user when running as root)."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (Debian package postgresql)")
    base = Path(tempfile.mkdtemp(prefix="edgefmr-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            user, pw = "nobody", pwd.getpwnam("nobody")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    data, sock, log = base / "data", base / "sock", base / "log"
    port = _free_port()

    def run(*cmd: str) -> None:
        r = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            logged = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr or r.stdout}\n{logged}")

    run("mkdir", "-p", str(sock))
    run(str(bindir / "initdb"), "-D", str(data), "-U", "edgefmr", "--auth=trust", "-E", "UTF8", "--no-sync")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "edgefmr", "search")
        yield f"postgresql://edgefmr@127.0.0.1:{port}/search"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _worker(url: str, study: str, trials: int, out: Path, space: str, epochs: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "edgefmr.cli", "search", "--task", "digits", "--board", "qemu-netduinoplus2",
           "--space", space, "--supernet-epochs", str(epochs), "--stack-bytes", "1024", "--trials", str(trials),
           "--storage", url, "--study", study, "--no-export", "--out", str(out), "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(p: subprocess.Popen, timeout: float = 300) -> dict:
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err[-3000:]
    return json.loads(out)


def _check_no_duplicate_or_lost(url: str, study: str, n: int, pids: set[int]) -> list:
    st = optuna.load_study(study_name=study, storage=url)
    trials = st.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == n
    assert len({t.number for t in trials}) == len(trials)
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    # every complete trial was evaluated by one of our workers; every failed one is a surplus or a dead worker's
    assert {t.user_attrs["worker"]["pid"] for t in complete} <= pids
    for t in trials:
        if t.state == TrialState.FAIL:
            assert t.user_attrs.get("surplus") or t.user_attrs.get("failed_because") == "worker process died" \
                or "failed_trial" in t.system_attrs or "fail_reason" in t.system_attrs, t
    return trials


def test_two_workers_share_one_study(postgres, tiny_supernet, tiny_space_file, tmp_path):
    n = 14
    epochs = tiny_supernet[2].epochs
    ws = [_worker(postgres, "two-workers", n, tmp_path / f"w{i}", tiny_space_file, epochs) for i in range(2)]
    reports = [_finish(w) for w in ws]
    assert all(r["trials"] == n and r["study"] == "two-workers" for r in reports)
    assert reports[0]["pareto"] == reports[1]["pareto"]
    trials = _check_no_duplicate_or_lost(postgres, "two-workers", n, {w.pid for w in ws})
    by = {t.user_attrs["worker"]["pid"] for t in trials if t.state == TrialState.COMPLETE}
    assert by == {w.pid for w in ws}  # both did work


def test_a_killed_worker_restarted_resumes_the_study(postgres, tiny_supernet, tiny_space_file, tmp_path):
    n = 10
    epochs = tiny_supernet[2].epochs
    a = _worker(postgres, "killed", n, tmp_path / "a", tiny_space_file, epochs)
    # one storage (one connection pool) for the polling below: a URL would open a new engine per call, and a slow
    # machine's hundreds of polls then exhausted the server's max_connections ("too many clients already")
    storage = optuna.storages.RDBStorage(postgres)
    victim = None
    deadline = time.monotonic() + 240
    while victim is None and time.monotonic() < deadline:
        try:
            st = optuna.load_study(study_name="killed", storage=storage)
        except KeyError:
            time.sleep(0.2)
            continue
        trials = st.get_trials(deepcopy=False)
        done = sum(t.state == TrialState.COMPLETE for t in trials)
        for t in trials:
            mine = t.user_attrs.get("worker", {}).get("pid") == a.pid
            if done >= 2 and t.state == TrialState.RUNNING and mine and "arch" in t.user_attrs:  # mid-evaluation
                # freeze the worker, then kill it only if the trial is still running (it may have finished since
                # it was read): the kill must land mid-trial
                a.send_signal(signal.SIGSTOP)
                now = optuna.load_study(study_name="killed", storage=storage).get_trials(deepcopy=False)
                if now[t.number].state == TrialState.RUNNING:
                    a.send_signal(signal.SIGKILL)
                    victim = t
                else:
                    a.send_signal(signal.SIGCONT)
                break
        time.sleep(0.02)
    a.wait(timeout=30)
    assert victim is not None, "the worker never ran a trial"
    assert a.returncode == -signal.SIGKILL
    st = optuna.load_study(study_name="killed", storage=storage)
    assert st.get_trials(deepcopy=False)[victim.number].state == TrialState.RUNNING  # left behind by the kill
    b = _worker(postgres, "killed", n, tmp_path / "b", tiny_space_file, epochs)
    report = _finish(b)
    assert report["trials"] == n
    trials = _check_no_duplicate_or_lost(postgres, "killed", n, {a.pid, b.pid})
    dead = trials[victim.number]
    assert dead.state == TrialState.FAIL
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim.number
               or t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == dead.params  # the same candidate, evaluated again by the restarted worker
