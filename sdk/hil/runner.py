"""Hardware-in-the-loop testing: the board inventory (TOML), port checks, a per-board helper that builds and flashes a
model once (cached by model hash), runs inputs, checks bit-exactness layer by layer and profiles; and the parallel
suite runner behind `edgefmr hil run` (one pytest worker per board)."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import edgefmr
import edgefmr.boards
import edgefmr.firmware
import edgefmr.quant
from edgefmr.boards import load_board
from edgefmr.device.connection import Device, _run_records, artifact_manifest, board_session
from edgefmr.device.flash import flash
from edgefmr.device.protocol import Counter
from edgefmr.device.qemu import QemuBoard
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.build import build
from edgefmr.ir import Graph
from edgefmr.ir import run as run_graph
from edgefmr.ir.efm import graph_hash
from edgefmr.ir.model_io import load_model
from edgefmr.profiling.profile import _prepare

PORT_TIMEOUT = 2.0       # seconds to decide that a socket:// port has nobody listening
BANNER_TIMEOUT = 15.0    # seconds for a board's firmware banner after boot/flash
INVENTORY_KEYS = {"name", "port", "method", "banner_timeout"}


class HilError(EdgefmrError):
    """A board cannot be used for a HIL test (absent, busy, silent, or its outputs differ)."""


@dataclass(frozen=True)
class BoardSpec:
    """One board of the inventory: its board file name, serial port (real boards) and flash method."""

    name: str
    port: str | None = None
    method: str | None = None
    banner_timeout: float = BANNER_TIMEOUT

    def cli_args(self) -> list[str]:
        """The plugin options that select this board alone."""
        args = ["--edgefmr-board", self.name]
        if self.port:
            args += ["--edgefmr-port", self.port]
        return args


def load_inventory(path: str | Path) -> list[BoardSpec]:
    """Read a board inventory: `[[board]]` tables with `name` (a board file), optional `port`, `method`,
    `banner_timeout`. EdgefmrError naming the file and key on anything invalid."""

    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except OSError as e:
        raise EdgefmrError(f"{p}: cannot read the board inventory ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise EdgefmrError(f"{p}: not valid TOML ({e})") from None
    extra = set(doc) - {"board"}
    if extra:
        raise EdgefmrError(f"{p}: unknown top-level key {sorted(extra)[0]!r}; an inventory holds [[board]] tables")
    rows = doc.get("board")
    if not isinstance(rows, list) or not rows:
        raise EdgefmrError(f"{p}: no [[board]] tables; add one per board with name = \"<board file>\"")
    specs: list[BoardSpec] = []
    for i, row in enumerate(rows):
        where = f"{p}: board[{i}]"
        bad = set(row) - INVENTORY_KEYS
        if bad:
            raise EdgefmrError(f"{where}: unknown key {sorted(bad)[0]!r}; valid keys: "
                               f"{', '.join(sorted(INVENTORY_KEYS))}")
        name = row.get("name")
        if not isinstance(name, str) or not name:
            raise EdgefmrError(f"{where}: key 'name' must be a board name, got {name!r}")
        b = load_board(name)
        port, method = row.get("port"), row.get("method")
        for key, val in (("port", port), ("method", method)):
            if val is not None and not (isinstance(val, str) and val):
                raise EdgefmrError(f"{where}: key {key!r} must be a non-empty string, got {val!r}")
        if method is not None:
            b.flash_method(method)
        bt = row.get("banner_timeout", BANNER_TIMEOUT)
        if not isinstance(bt, int | float) or isinstance(bt, bool) or bt <= 0:
            raise EdgefmrError(f"{where}: key 'banner_timeout' must be seconds > 0, got {bt!r}")
        if not b.is_virtual and not port:
            raise EdgefmrError(f"{where}: board {name} is a real board; give its serial port (port = \"/dev/...\")")
        if any(s.name == name for s in specs):
            raise EdgefmrError(f"{where}: board {name} is listed twice; an inventory holds each board once")
        specs.append(BoardSpec(name, port, method, float(bt)))
    return specs


def check_port(port: str, timeout: float = PORT_TIMEOUT) -> tuple[str, str]:
    """Whether a serial port can be used now: ("ok", ""), ("absent", why) or ("busy", why); within `timeout`."""
    if port.startswith("socket://"):
        hostport = port[len("socket://"):]
        host, _, num = hostport.rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(num)), timeout=timeout):
                return "ok", ""
        except ValueError:
            return "absent", f"{port}: not host:port"
        except OSError as e:
            return "absent", f"nobody listens on {port} ({e.strerror or e})"
    if "://" in port:
        return "ok", ""   # rfc2217:// and the like: pyserial reports problems when the session opens
    if not os.path.exists(port):
        return "absent", f"serial port {port} does not exist (board unplugged, or another udev name?)"
    import serial

    try:
        s = serial.Serial(port, exclusive=True, timeout=0)
    except (serial.SerialException, OSError) as e:
        text = str(e)
        if getattr(e, "errno", None) in (errno.EBUSY, errno.EAGAIN) or "lock" in text.lower() or "busy" in text:
            return "busy", f"serial port {port} is held by another process ({text})"
        return "absent", f"serial port {port} cannot be opened ({text})"
    s.close()
    return "ok", ""


# ------------------------------------------------------------------------------------------------ profile report

@dataclass
class HilReport:
    """Latency and memory of one model on one board (`HilBoard.profile`); `to_dict` is report.json."""

    board: str
    model: str
    model_hash: str
    counter: str
    counter_unit: str
    count_mean: float
    latency_ms: float
    latency_estimated: bool
    stack_bytes: int
    stack_size: int
    arena_bytes: int
    layers: list[dict[str, Any]] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"HilReport(board={self.board!r}, latency_ms={self.latency_ms:.4g}"
                f"{' (estimated)' if self.latency_estimated else ''}, stack_bytes={self.stack_bytes}, "
                f"arena_bytes={self.arena_bytes})")

    def to_dict(self) -> dict[str, Any]:
        return {"format": "edgefmr-hil-report", "version": 1, **self.__dict__}


# ------------------------------------------------------------------------------------------------ board helper

def default_cache_dir() -> Path:
    """Where built artifacts are kept between sessions ($EDGEFMR_HIL_CACHE, else a per-user temp folder)."""
    return Path(os.environ.get("EDGEFMR_HIL_CACHE") or Path(tempfile.gettempdir()) / f"edgefmr-hil-{os.getuid()}")


#: the files of a source tree a firmware artifact is generated and compiled from
_SOURCE_SUFFIXES = frozenset({".py", ".c", ".h", ".S", ".ld", ".in", ".toml", ".json"})


@functools.cache
def build_digest() -> str:
    """A digest of what a built artifact depends on besides the model: the sources of the stages that lower,
    plan, generate and compile the firmware (edgefmr's Python and C files, board files) and the cross-compiler's
    version. Part of the artifact cache's key, so an artifact built by another edgefmr or toolchain (a cache folder
    kept across sessions) is never reused."""
    h = hashlib.sha256()
    roots = [*edgefmr.__path__, *edgefmr.firmware.__path__, *edgefmr.quant.__path__, *edgefmr.boards.__path__]
    for root in map(Path, roots):
        for p in sorted(root.rglob("*")):
            if p.suffix in _SOURCE_SUFFIXES and "__pycache__" not in p.parts and p.is_file():
                h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc:
        h.update(subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False).stdout.encode())
    return h.hexdigest()


class HilBoard:
    """One board of a HIL session: builds and flashes each model once (artifacts cached by model hash under
    `cache_dir`), keeps one live session per board and answers run / assert_bit_exact / profile."""

    def __init__(self, spec: BoardSpec, cache_dir: str | Path) -> None:

        self.spec = spec
        self.name = spec.name
        self.board = load_board(spec.name)
        self.cache_dir = Path(cache_dir)
        self._graphs: dict[str, tuple[Any, str]] = {}
        self._current: str | None = None
        self._stack = contextlib.ExitStack()
        self._dev: Any = None
        self._art: Path | None = None
        self._manifest: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"HilBoard({self.name!r}, port={self.spec.port!r})"

    # -- models --
    def graph(self, model: str | Path) -> tuple[Any, str]:
        """The IR graph of a model file and its hash (loaded once)."""

        key = str(Path(model).resolve())
        if key not in self._graphs:
            g = load_model(model)
            self._graphs[key] = (g, graph_hash(g))
        return self._graphs[key]

    def artifact(self, model: str | Path) -> Path:
        """The protocol-firmware artifact of `model` for this board, built once (cached by model hash and
        :func:`build_digest`)."""

        _, h = self.graph(model)
        out = self.cache_dir / self.name / f"{h[:32]}-{build_digest()[:16]}"
        m = out / "manifest.json"
        if m.is_file():
            with contextlib.suppress(ValueError):
                man = json.loads(m.read_text())
                if man.get("model_hash") == h and man.get("main") == "protocol" and (out / "model.elf").is_file():
                    return out
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{h[:16]}-", dir=out.parent))
        try:
            build(model, self.name, tmp, main="protocol")
            if out.exists():
                shutil.rmtree(out, ignore_errors=True)
            os.rename(tmp, out)   # atomic: parallel sessions never see a half-built artifact
        except OSError:
            if not (out / "manifest.json").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return out

    def attach(self, artifact: str | Path) -> Device:
        """Flash (real boards) or boot (QEMU) an artifact and open the session to it; the `Device`. A board that is
        already running this artifact's model is reused."""

        art, manifest = artifact_manifest(artifact, self.name)
        h = str(manifest.get("model_hash"))
        if self._dev is not None and self._current == h:
            return self._dev
        self.close()
        if not self.board.is_virtual:
            port = self.spec.port or ""
            state, why = check_port(port)
            if state != "ok":
                raise HilError(f"board {self.name}: {why}")

            flash(art, self.board, port=port, method=self.spec.method, banner_timeout=self.spec.banner_timeout)
            cm = board_session(art, manifest, port)
        else:
            cm = self._qemu_session(art, manifest)
        try:
            self._dev = self._stack.enter_context(cm)
        except EdgefmrError as e:
            self.close()
            raise HilError(f"board {self.name}: {e}") from None
        self._art, self._manifest, self._current = art, manifest, h
        return self._dev

    @contextlib.contextmanager
    def _qemu_session(self, art: Path, manifest: dict[str, Any]) -> Any:

        elf = art / manifest.get("files", {}).get("elf", "model.elf")
        q = QemuBoard(self.board, elf, banner_timeout=self.spec.banner_timeout)
        try:
            q.__enter__()
        except EdgefmrError as e:
            q.__exit__(None, None, None)
            machine = self.board.qemu.machine if self.board.qemu else "?"
            raise HilError(f"no firmware banner from {elf} on QEMU {machine} within {self.spec.banner_timeout:g} s "
                           f"(is it protocol firmware built for board {self.name}?): {e}") from None
        try:
            with Device(q.transport) as dev:
                yield dev
        finally:
            q.__exit__(None, None, None)

    def close(self) -> None:
        """End the session (stops QEMU); safe to call more than once."""
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self._dev, self._current = None, None

    def device(self, model: str | Path) -> Device:
        """The live `Device` running `model` (built and flashed first if needed)."""
        return self.attach(self.artifact(model))

    # -- helpers --
    def _records(self, g: Graph, inputs: Any) -> list[list[np.ndarray]]:

        if len(g.inputs) != 1:
            return [[np.asarray(x) for x in rec] for rec in inputs]
        x = np.asarray(inputs[0] if isinstance(inputs, list) and inputs and isinstance(inputs[0], list) else inputs)
        return [[r] for r in _prepare(g.tensor(g.inputs[0]), x, "inputs")]

    def run(self, model: str | Path, inputs: Any) -> list[list[np.ndarray]]:
        """Outputs of the board for each input record: outputs[record][output]. `inputs`: an array of samples
        (float samples are quantized with the input's scale), or a list of records of integer arrays."""

        g, _ = self.graph(model)
        dev = self.device(model)
        return _run_records(dev, self.name, self._manifest, g, self._records(g, inputs), None).outputs

    def assert_bit_exact(self, model: str | Path, inputs: Any, reference: str | Path | None = None) -> None:
        """AssertionError unless the board's outputs equal the reference interpreter's (of `reference`, default the
        model itself) for every input; the message names the board, the input, expected vs actual and the first
        layer whose intermediate tensor differs."""

        g, _ = self.graph(model)
        rg, _ = self.graph(reference) if reference is not None else (g, "")
        recs = self._records(g, inputs)
        got = self.run(model, inputs)
        for k, (rec, outs) in enumerate(zip(recs, got, strict=True)):
            want = run_graph(rg, rec)
            for o, name in enumerate(rg.outputs):
                w, a = want[name], outs[o]
                if np.array_equal(w, a):
                    continue
                diff = np.abs(w.astype(np.int64) - a.astype(np.int64))
                layer = self.first_differing_layer(model, rec, rg)
                raise AssertionError(
                    f"board {self.name}: model {Path(model).name}, input {k}, output {o} ({name!r}) is not "
                    f"bit-exact with the reference interpreter: {int((diff != 0).sum())} of {diff.size} values "
                    f"differ, max |diff| {int(diff.max())}\n  expected: {_short(w)}\n  actual:   {_short(a)}\n"
                    f"  {layer}")

    def first_differing_layer(self, model: str | Path, rec: list[np.ndarray], reference: Any = None) -> str:
        """Which layer's output first differs between the board (read back with READ_TENSOR) and the reference
        interpreter (every tensor kept), as one line. The inputs are loaded before each run of layers 0..k: the
        planner may stream a convolution's output over the model's input (the input dies in that step), so a run
        leaves the input overwritten."""

        g, _ = self.graph(model)
        ref = run_graph(reference if reference is not None else g, rec, keep_all=True)
        dev = self.device(model)
        for row in self._manifest.get("layers") or []:
            li, tname = int(row["index"]), str(row.get("output", ""))
            if not row.get("output_bytes") or tname not in ref:
                continue
            for i, x in enumerate(rec):
                dev.load_input(x, i)
            dev.run(1, last_layer=li)
            w = ref[tname]
            a = np.frombuffer(dev.read_tensor(li), w.dtype)
            if a.size != w.size:
                continue
            a = a.reshape(w.shape)
            if not np.array_equal(a, w):
                n = int((a != w).sum())
                return (f"first differing layer: {li} {row.get('op')} {str(row.get('name'))[:60]!r} "
                        f"({n} of {w.size} values differ; expected {_short(w)}, actual {_short(a)})")
        return "no stored intermediate tensor differs (the difference is in the last layer or a fused one)"

    def profile(self, model: str | Path, inputs: Any, runs: int = 1) -> HilReport:
        """Latency per inference (mean over `inputs`, per layer), stack high-water mark and arena of `model`."""

        g, h = self.graph(model)
        recs = self._records(g, inputs)
        dev = self.device(model)
        info = dev.info()
        dev.stack(repaint=True)
        totals, per_layer = [], []
        for rec in recs:
            for i, x in enumerate(rec):
                dev.load_input(x, i)
            r = dev.run(max(1, runs), profile=True)
            totals.append(r.total / r.runs if r.runs else r.total)
            per_layer.append([lp.count for lp in dev.profile().layers])
        st = dev.stack()
        counter = Counter(info.counter)
        mean = float(np.mean(totals))
        # QEMU counts executed instructions: the time assumes one instruction per core cycle (an estimate)
        estimated = counter not in (Counter.DWT_CYCLES, Counter.SYSTICK_CYCLES)
        ms = mean / info.core_clock_hz * 1e3 if info.core_clock_hz else float("nan")
        lm = np.mean(np.array(per_layer, dtype=np.float64), axis=0) if per_layer else []
        layers = [{"index": li.index, "name": li.name, "op": li.op, "count_mean": float(c)}
                  for li, c in zip(dev.layers(), lm, strict=True)]
        return HilReport(self.name, str(model), h, counter.name, counter.unit, mean, ms, estimated,
                         int(st.used_bytes), int(st.stack_bytes), int(info.arena_bytes), layers)


def _short(a: np.ndarray, n: int = 12) -> str:
    flat = np.asarray(a).ravel()
    body = " ".join(str(int(v)) for v in flat[:n])
    return f"[{body}{' …' if flat.size > n else ''}] (shape {list(np.asarray(a).shape)})"


# ------------------------------------------------------------------------------------------------ suite runner

@dataclass
class BoardResult:
    """One board's pytest run of a suite."""

    board: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    started: float = 0.0     # time.monotonic() when the worker started and ended (to show the boards overlap)
    ended: float = 0.0
    exit_code: int = 0
    junit: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code in (0, 5) and not self.failed and not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def _parse_junit(path: Path, res: BoardResult) -> None:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return
    for case in root.iter("testcase"):
        kinds = {c.tag for c in case}
        if "failure" in kinds or "error" in kinds:
            if "failure" in kinds:
                res.failed += 1
            else:
                res.errors += 1
            el = case.find("failure") if "failure" in kinds else case.find("error")
            msg = (el.get("message") if el is not None else "") or ""
            res.failures.append(f"{case.get('classname')}::{case.get('name')}: {msg.splitlines()[0] if msg else ''}")
        elif "skipped" in kinds:
            res.skipped += 1
        else:
            res.passed += 1


def run_board(suite: str | Path, spec: BoardSpec, out_dir: Path, extra: list[str] | None = None,
              timeout: float = 1800.0) -> BoardResult:
    """Run pytest on `suite` for one board in a child process; its counts from the JUnit XML it writes."""
    res = BoardResult(spec.name)
    junit = out_dir / f"{spec.name}.xml"
    res.junit = str(junit)
    cmd = [sys.executable, "-m", "pytest", str(suite), *spec.cli_args(), "-q", "-p", "no:cacheprovider",
           f"--junitxml={junit}", "-o", "junit_family=xunit2", *(extra or [])]
    t0 = res.started = time.monotonic()
    log = out_dir / f"{spec.name}.log"
    with open(log, "wb") as fh:
        try:
            res.exit_code = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            res.exit_code = -1
            res.failures.append(f"pytest did not finish within {timeout:g} s (log: {log})")
    res.ended = time.monotonic()
    res.seconds = round(res.ended - t0, 2)
    _parse_junit(junit, res)
    if res.exit_code not in (0, 1, 5) and not res.failures:
        res.errors += 1
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        res.failures.append(f"pytest exit code {res.exit_code}: {' | '.join(tail)}")
    return res


def run_suite(suite: str | Path, specs: list[BoardSpec], out_dir: str | Path | None = None,
              extra: list[str] | None = None) -> list[BoardResult]:
    """Run `suite` on every board at once (one pytest worker process per board); results in inventory order."""
    if not Path(suite).exists():
        raise EdgefmrError(f"{suite}: no such test suite (a pytest file or folder)")
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="edgefmr-hil-"))
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as ex:
        return list(ex.map(lambda s: run_board(suite, s, out, extra), specs))
