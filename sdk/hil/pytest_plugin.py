"""The edgefmr pytest plugin (entry point `pytest11`): `--edgefmr-board NAME [--edgefmr-port PORT]` or
`--edgefmr-inventory boards.toml` select boards; the `edgefmr_board` fixture is parametrized over them and skipped
with the reason when a board is absent. See docs/hil.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgefmr.boards import load_board
from edgefmr.device.qemu import find_qemu
from edgefmr.errors import EdgefmrError
from edgefmr.hil.runner import (
    BANNER_TIMEOUT,
    BoardSpec,
    HilBoard,
    HilReport,
    check_port,
    default_cache_dir,
    load_inventory,
)

_BOARDS = pytest.StashKey[dict[str, HilBoard]]()
NO_BOARD = "no board selected: pass --edgefmr-board NAME (and --edgefmr-port PORT for a real board) or " \
           "--edgefmr-inventory FILE"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("edgefmr", "edgefmr hardware-in-the-loop")
    g.addoption("--edgefmr-board", action="append", default=[], metavar="NAME",
                help="board to test on (a board file name, e.g. qemu-netduinoplus2); repeatable")
    g.addoption("--edgefmr-port", default=None, metavar="PORT",
                help="serial port of the (single) real board: /dev/ttyACM0, socket://host:port, rfc2217://...")
    g.addoption("--edgefmr-inventory", default=None, metavar="FILE",
                help="TOML inventory of boards ([[board]] name, port, method, banner_timeout)")
    g.addoption("--edgefmr-cache", default=None, metavar="DIR",
                help="folder of built artifacts, reused across sessions (default $EDGEFMR_HIL_CACHE or a temp folder)")
    g.addoption("--edgefmr-banner-timeout", type=float, default=BANNER_TIMEOUT, metavar="S",
                help=f"seconds to wait for a board's firmware banner (default {BANNER_TIMEOUT:g})")


def selected_boards(config: pytest.Config) -> list[BoardSpec]:
    """The boards the options select (inventory first, then --edgefmr-board)."""
    specs: list[BoardSpec] = []
    bt = float(config.getoption("edgefmr_banner_timeout"))
    inv = config.getoption("edgefmr_inventory")
    if inv:
        specs += load_inventory(inv)
    names = config.getoption("edgefmr_board") or []
    port = config.getoption("edgefmr_port")
    if port and len(names) != 1:
        raise pytest.UsageError("--edgefmr-port needs exactly one --edgefmr-board (use an inventory for several)")
    for n in names:
        if not any(s.name == n for s in specs):
            specs.append(BoardSpec(n, port, None, bt))
    return specs


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_BOARDS] = {}
    config.addinivalue_line("markers", "edgefmr: a hardware-in-the-loop test (uses the edgefmr_board fixture)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "edgefmr_board" not in metafunc.fixturenames:
        return
    try:
        specs = selected_boards(metafunc.config)
    except EdgefmrError as e:
        raise pytest.UsageError(str(e)) from None
    if specs:
        metafunc.parametrize("edgefmr_board", specs, ids=[s.name for s in specs], indirect=True)
    else:
        metafunc.parametrize("edgefmr_board", [None], ids=["no-board"], indirect=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    for hb in config.stash.get(_BOARDS, {}).values():
        hb.close()


class BoardFixture:
    """What a test gets as `edgefmr_board`: the session's `HilBoard` for one board, bound to the test (profile
    reports are attached to its result)."""

    def __init__(self, hb: HilBoard, request: pytest.FixtureRequest) -> None:
        self.hil = hb
        self.name = hb.name
        self.board = hb.board
        self.port = hb.spec.port
        self._request = request

    def __repr__(self) -> str:
        return f"<edgefmr board {self.name}>"

    def artifact(self, model: str | Path) -> Path:
        """The built artifact folder of `model` for this board (built once per model hash)."""
        return self.hil.artifact(model)

    def run(self, model: str | Path, inputs: Any) -> list[list[Any]]:
        """The board's outputs[record][output] for the inputs (see HilBoard.run)."""
        return self.hil.run(model, inputs)

    def assert_bit_exact(self, model: str | Path, inputs: Any, reference: str | Path | None = None) -> None:
        """Fail unless the board matches the reference interpreter bit for bit (see HilBoard.assert_bit_exact)."""
        __tracebackhide__ = True
        self.hil.assert_bit_exact(model, inputs, reference)

    def profile(self, model: str | Path, inputs: Any, runs: int = 1) -> HilReport:
        """Profile `model`; the report is written as report.json and attached to the test result (user_properties,
        so JUnit XML carries it)."""
        rep = self.hil.profile(model, inputs, runs)
        node = self._request.node
        d = rep.to_dict()
        out = Path(self._request.config._tmp_path_factory.mktemp("edgefmr-report")) / "report.json"  # type: ignore[attr-defined]
        out.write_text(json.dumps(d, indent=2))
        node.user_properties.append((f"edgefmr_report[{self.name}]", json.dumps(d, separators=(",", ":"))))
        node.user_properties.append((f"edgefmr_report_path[{self.name}]", str(out)))
        return rep


@pytest.fixture
def edgefmr_board(request: pytest.FixtureRequest) -> BoardFixture:
    """One board selected by --edgefmr-board / --edgefmr-inventory (tests are parametrized over them); skipped
    when none is selected or its port is absent, failed when the port is busy."""
    spec: BoardSpec | None = getattr(request, "param", None)
    if spec is None:
        pytest.skip(NO_BOARD)
    boards = request.config.stash[_BOARDS]
    if spec.port:
        state, why = check_port(spec.port)
        if state == "absent":
            pytest.skip(f"board {spec.name} absent: {why}")
        if state == "busy":
            pytest.fail(f"board {spec.name}: {why}", pytrace=False)
    if spec.name not in boards and not spec.port:

        try:
            if load_board(spec.name).is_virtual:
                find_qemu()
        except EdgefmrError as e:
            pytest.skip(f"board {spec.name} absent: {e}")
    if spec.name not in boards:
        cache = request.config.getoption("edgefmr_cache") or default_cache_dir()
        try:
            boards[spec.name] = HilBoard(spec, cache)
        except EdgefmrError as e:
            pytest.fail(f"board {spec.name}: {e}", pytrace=False)
    return BoardFixture(boards[spec.name], request)


@pytest.fixture(scope="session")
def edgefmr_cache_dir(request: pytest.FixtureRequest) -> Path:
    """The folder of built artifacts of this session."""
    return Path(request.config.getoption("edgefmr_cache") or default_cache_dir())
