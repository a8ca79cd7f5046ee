"""Damaged model, board and input files through the commands: never a traceback, never a wrong success.

The corpus comes from tests/support/hostile_corpus.py (every field of an .efm's model.json replaced by a wrong type,
NaN/Infinity, a negative, an empty value or a dangling reference, or removed; truncated and byte-damaged .tflite
files; board files with one bad key; bad input .npy files). Commands run in-process (click's CliRunner): a case that
must fail exits 2 with one line naming the file; a case whose damage may leave a valid file exits 0 or 2.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from hostile_corpus import BASE_INPUTS, BASE_MODEL, Case, make_corpus

from edgefmr.cli import cli
from edgefmr.errors import EdgefmrError

GOOD_X = str(BASE_INPUTS)
GOOD_MODEL = str(BASE_MODEL)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def invoke(args: list[str]) -> tuple[int, str]:
    """(exit code, message) as `edgefmr` would give them: EdgefmrError is exit 2, anything unexpected exit 1."""
    r = CliRunner().invoke(cli, args, standalone_mode=False, catch_exceptions=True)
    e = r.exception
    if e is None:
        return 0, r.output
    if isinstance(e, EdgefmrError):
        return 2, str(e)
    if isinstance(e, click.ClickException):
        return e.exit_code, e.format_message()
    if isinstance(e, SystemExit):
        return int(e.code or 0), r.output
    return 1, "".join(traceback.format_exception(e))


def _judge(case: Case, args: list[str]) -> str | None:
    """None when the command did what the case demands; else what went wrong."""
    code, msg = invoke(args)
    if code == 1 or code not in (0, 2):
        return f"{args[0]} on {case.what}: exit {code}\n{msg[-1500:]}"
    if case.expect == "fail":
        if code != 2:
            return f"{args[0]} on {case.what}: a wrong success (exit {code})"
        if case.file not in msg or "\n" in msg.strip():
            return f"{args[0]} on {case.what}: the error is not one line naming the file: {msg!r}"
    return None


def _model_commands(case: Case, k: int, out: Path) -> list[list[str]]:
    """`inspect` for every model; `run`, `plan`, `convert` and `build` in turn for every fourth one (build only where
    the file must be refused: it never reaches the compiler then)."""
    cmds = [["inspect", case.file]]
    if k % 4 == 0:
        cmds.append([["run", case.file, "--input", GOOD_X, "--output", str(out / "y.npy")],
                     ["plan", case.file, "--board", "qemu-netduinoplus2"],
                     ["convert", case.file, str(out / "m.efm")],
                     ["build", case.file, "--board", "qemu-netduinoplus2", "--out", str(out / "b")]
                     if case.expect == "fail" else ["convert", case.file, str(out / "m.tflite")]][(k // 4) % 4])
    return cmds


@pytest.mark.parametrize("kind", ["efm", "tflite"])
def test_damaged_models(corpus: list[Case], kind: str, tmp_path: Path) -> None:
    cases = [c for c in corpus if c.kind == kind]
    assert len(cases) > (1000 if kind == "efm" else 30)
    problems = [p for k, c in enumerate(cases) for a in _model_commands(c, k, tmp_path) if (p := _judge(c, a))]
    assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:5])
    assert not (tmp_path / "b" / "model.elf").exists()


def test_damaged_boards(corpus: list[Case], tmp_path: Path) -> None:
    cases = [c for c in corpus if c.kind == "board"]
    assert len(cases) > 200
    problems = []
    for k, c in enumerate(cases):
        args = ["plan", GOOD_MODEL, "--board", c.file]
        if c.expect == "fail" and k % 5 == 0:
            args = ["build", GOOD_MODEL, "--board", c.file, "--out", str(tmp_path / "b")]
        if p := _judge(c, args):
            problems.append(p)
    assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:5])
    assert not (tmp_path / "b" / "model.elf").exists()   # a bad board never reaches the compiler


def test_bad_inputs(corpus: list[Case], tmp_path: Path) -> None:
    problems = []
    for c in (c for c in corpus if c.kind == "npy"):
        for args in (["run", GOOD_MODEL, "--input", c.file, "--output", str(tmp_path / "y.npy")],
                     ["verify", GOOD_MODEL, "--input", c.file]):
            if p := _judge(c, args):
                problems.append(p)
    assert not problems, "\n".join(problems[:5])


def test_nan_input_is_named_by_its_index(tmp_path: Path) -> None:
    x = np.load(BASE_INPUTS)[:4].astype(np.float32) / 255
    x[2, 5, 1, 0] = np.nan
    x[3, 0, 0, 0] = np.nan
    np.save(tmp_path / "x.npy", x)
    code, msg = invoke(["run", GOOD_MODEL, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    assert code == 2 and "NaN at index [2, 5, 1, 0]" in msg and "2 non-finite" in msg
    x[2, 5, 1, 0] = x[3, 0, 0, 0] = 0.5
    np.save(tmp_path / "x.npy", x)
    code, msg = invoke(["run", GOOD_MODEL, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    assert code == 0, msg


def test_zero_records_refused_before_a_board_is_started(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.load(BASE_INPUTS)[:0])
    for board in (None, "host", "qemu-netduinoplus2"):
        args = ["run", GOOD_MODEL, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]
        code, msg = invoke(args + (["--board", board] if board else []))
        assert code == 2 and "holds 0 inputs" in msg and str(tmp_path / "x.npy") in msg, msg
    assert not (tmp_path / "y.npy").exists()


def test_flash_port_with_qemu_method_is_refused(tmp_path: Path) -> None:
    import json

    (tmp_path / "manifest.json").write_text(json.dumps({"board": "qemu-netduinoplus2", "main": "protocol"}))
    (tmp_path / "model.elf").write_bytes(b"\x7fELF")   # refused before the ELF is read
    code, msg = invoke(["flash", str(tmp_path), "--method", "qemu", "--port", "/dev/ttyNOPE"])
    assert code == 2 and "--port /dev/ttyNOPE is not used by the qemu method" in msg, msg


@pytest.mark.parametrize("budget, message", [("99999999999999999999KB", "beyond 4 GiB"),
                                             ("1MB", "more than board qemu-netduinoplus2 has")])
def test_absurd_sram_budget_is_refused(budget: str, message: str, tmp_path: Path) -> None:
    code, msg = invoke(["search", "--task", "digits", "--board", "qemu-netduinoplus2", "--sram-budget", budget,
                        "--out", str(tmp_path / "s")])
    assert code == 2 and message in msg, msg
    assert not (tmp_path / "s").exists()
