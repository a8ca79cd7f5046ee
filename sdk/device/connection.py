"""`Device`: a session with a board that runs edgefmr protocol firmware (info, load, run, profile, stack,
read outputs and intermediate tensors), and `run_on_board`, the board path of `edgefmr run`."""

from __future__ import annotations

import contextlib
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefmr.boards import load_board
from edgefmr.device.protocol import (
    ALL_LAYERS,
    MAX_PAYLOAD,
    OVERHEAD,
    PROFILE_PER_PAGE,
    STACK_REPAINT,
    Cmd,
    Counter,
    Info,
    LayerInfo,
    Link,
    LinkError,
    ProfilePage,
    RunResult,
    StackInfo,
    pack_load,
    pack_read_output,
    pack_read_tensor,
    pack_run,
)
from edgefmr.device.qemu import QemuBoard
from edgefmr.device.transport import Transport, faults_from_env, open_transport
from edgefmr.errors import EdgefmrError
from edgefmr.ir.graph import Graph, np_dtype
from edgefmr.ir.model_io import load_model


@dataclass(frozen=True)
class LayerProfile:
    index: int
    name: str
    op: str
    count: float     # mean per profiled inference
    share: float     # of the sum over layers


@dataclass(frozen=True)
class Profile:
    runs: int
    counter: Counter
    layers: tuple[LayerProfile, ...]

    @property
    def total(self) -> float:
        return sum(lp.count for lp in self.layers)


class Device:
    """A protocol session over `transport` (see docs/protocol.md).

    Transfers are chunked; the chunk size adapts to the link's observed byte error rate (about its inverse,
    never below `min_chunk`), so a noisy link still gets data through.
    """

    def __init__(self, transport: Transport, *, timeout: float = 1.0, retries: int = 8, run_timeout: float = 60.0,
                 min_chunk: int = 16) -> None:
        self.link = Link(transport, timeout=timeout, retries=retries)
        self.run_timeout = run_timeout
        self.min_chunk = min_chunk
        self._info: Info | None = None
        self._layers: dict[int, LayerInfo] = {}
        self._chunk = MAX_PAYLOAD
        self._ber = 0.0
        self._run_s: float | None = None   # measured wall time of one inference (for RUN timeouts)

    @property
    def stats(self) -> dict[str, int]:
        """Link counters: retries, timeouts, NAKs, damaged frames, garbage bytes."""
        return self.link.stats.to_dict()

    def close(self) -> None:
        self.link.transport.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests with chunk adaptation ---------------------------------------------------------------------
    def _req(self, cmd: Cmd, payload: bytes = b"", timeout: float | None = None, expect: int = 0) -> bytes:
        out = self.link.request(cmd, payload, timeout=timeout, expect_bytes=expect)
        self._adapt(self.link.last_attempts, len(payload) + expect + 2 * OVERHEAD + 1)
        return out

    def _adapt(self, attempts: int, nbytes: int) -> None:
        """Track the link's byte error rate e (from attempts per request) and size chunks near 1/e, where
        chunk × P(frame intact) is largest."""
        e_hat = 1.0 - (1.0 / attempts) ** (1.0 / nbytes)
        self._ber = 0.8 * self._ber + 0.2 * e_hat
        best = int(1.0 / self._ber) if self._ber > 1e-6 else MAX_PAYLOAD
        self._chunk = max(self.min_chunk, min(self._max_chunk(), best))

    def _max_chunk(self) -> int:
        mp = self._info.max_payload if self._info else MAX_PAYLOAD
        return min(mp, MAX_PAYLOAD) - 8

    def _chunked(self, total: int, one: object) -> None:
        """Call one(offset, length) over [0, total) in adaptive chunks; a chunk that exhausts the retries is
        split in half and tried again while it is larger than min_chunk."""
        off = 0
        while off < total:
            n = min(self._chunk, self._max_chunk(), total - off)
            try:
                one(off, n)  # type: ignore[operator]
            except LinkError:
                if n <= self.min_chunk:
                    raise
                self._chunk = max(self.min_chunk, n // 2)
                self.link.stats.retries += 1
                continue
            off += n

    # -- commands --------------------------------------------------------------------------------------------
    def info(self, refresh: bool = False) -> Info:
        """Board, core clock, firmware version, model hash, arena and stack sizes, counter kind."""
        if self._info is None or refresh:
            self._info = Info.unpack(self._req(Cmd.INFO))
            self._chunk = min(self._chunk, self._max_chunk())
        return self._info

    def ping(self, data: bytes = b"") -> bytes:
        """Echo `data` (link test)."""
        return self._req(Cmd.PING, data, expect=len(data))

    def layer(self, index: int) -> LayerInfo:
        if index not in self._layers:
            self._layers[index] = LayerInfo.unpack(index, self._req(Cmd.LAYER_INFO, struct.pack("<H", index)))
        return self._layers[index]

    def layers(self) -> list[LayerInfo]:
        return [self.layer(i) for i in range(self.info().num_layers)]

    def load_input(self, data: bytes | np.ndarray, index: int = 0) -> None:
        """Write input `index` (its exact byte size, chunked)."""
        raw = _as_bytes(data)
        info = self.info()
        if not 0 <= index < len(info.input_bytes):
            raise EdgefmrError(f"input index {index} out of range: the model has {len(info.input_bytes)} inputs")
        if len(raw) != info.input_bytes[index]:
            raise EdgefmrError(f"input {index} has {len(raw)} bytes; the firmware's model wants "
                               f"{info.input_bytes[index]}")

        def one(off: int, n: int) -> None:
            self._req(Cmd.LOAD_INPUT, pack_load(index, off, raw[off:off + n]))

        self._chunked(len(raw), one)

    def run(self, n: int = 1, profile: bool = False, last_layer: int | None = None,
            timeout: float | None = None) -> RunResult:
        """Run n inferences (or layers 0..last_layer once); counts per inference in the device's counter unit.

        The response timeout is `run_timeout` until one run has been timed, then 4x the expected time."""
        if n < 1:
            raise EdgefmrError(f"run count must be ≥ 1, got {n}")
        if timeout is None:
            # until a run has been timed, the generous run_timeout; then 4x the expected time plus the base
            timeout = self.run_timeout if self._run_s is None else self.link.timeout + 4 * n * self._run_s
        t0 = time.monotonic()
        r = RunResult.unpack(self._req(Cmd.RUN, pack_run(n, profile, ALL_LAYERS if last_layer is None else last_layer),
                                       timeout=timeout))
        if self.link.last_attempts == 1:
            self._run_s = (time.monotonic() - t0) / n
        return r

    def profile(self) -> Profile:
        """Per-layer counts of the last `run(..., profile=True)` (mean per inference, with shares)."""
        nl = self.info().num_layers
        sums: list[int] = []
        runs, counter = 0, Counter.NONE
        while len(sums) < nl:
            page = ProfilePage.unpack(self._req(Cmd.PROFILE, struct.pack("<HH", len(sums),
                                                                         min(PROFILE_PER_PAGE, nl - len(sums)))))
            if page.first != len(sums) or not page.sums:
                raise LinkError(f"PROFILE answered layers from {page.first} ({len(page.sums)}), asked {len(sums)}")
            runs, counter = page.runs, page.counter
            sums += page.sums
        if runs == 0:
            raise EdgefmrError("no profile yet: run with profile=True first")
        total = sum(sums) or 1
        layers = tuple(LayerProfile(i, li.name, li.op, s / runs, s / total)
                       for i, (s, li) in enumerate(zip(sums, self.layers(), strict=True)))
        return Profile(runs, counter, layers)

    def stack(self, repaint: bool = False) -> StackInfo:
        """Stack size and high-water mark (bytes ever used); repaint=True restarts the measurement."""
        return StackInfo.unpack(self._req(Cmd.STACK, bytes((STACK_REPAINT if repaint else 0,))))

    def read_output(self, index: int = 0) -> bytes:
        """Output `index` of the last full run."""
        info = self.info()
        if not 0 <= index < len(info.output_bytes):
            raise EdgefmrError(f"output index {index} out of range: the model has {len(info.output_bytes)} outputs")
        return self._read(info.output_bytes[index], lambda o, n: pack_read_output(index, o, n), Cmd.READ_OUTPUT)

    def read_tensor(self, layer: int) -> bytes:
        """The output of `layer` as the last run left it: run(last_layer=layer) first (the device refuses
        otherwise, since later layers may reuse its memory)."""
        nb = self.layer(layer).output_bytes
        if nb == 0:  # never stored whole: the device says so (UNAVAILABLE)
            return self._req(Cmd.READ_TENSOR, pack_read_tensor(layer, 0, 0))
        return self._read(nb, lambda o, n: pack_read_tensor(layer, o, n), Cmd.READ_TENSOR)

    def _read(self, total: int, pack: object, cmd: Cmd) -> bytes:
        parts: dict[int, bytes] = {}

        def one(off: int, n: int) -> None:
            got = self._req(cmd, pack(off, n), expect=n)  # type: ignore[operator]
            if len(got) != n:
                raise LinkError(f"{cmd.name}: asked {n} bytes at {off}, got {len(got)}")
            parts[off] = got

        self._chunked(total, one)
        return b"".join(parts[k] for k in sorted(parts))

    def infer(self, inputs: list[np.ndarray]) -> list[bytes]:
        """Load every input, run once, read every output."""
        for i, x in enumerate(inputs):
            self.load_input(x, i)
        self.run(1)
        return [self.read_output(i) for i in range(len(self.info().output_bytes))]


def _as_bytes(data: bytes | np.ndarray) -> bytes:
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).tobytes()
    return bytes(data)


# ------------------------------------------------------------------------------------------------ edgefmr run --board


@dataclass
class BoardRun:
    """Outputs and counts of `run_on_board`: outputs[record][output] as the graph's dtype and shape."""

    board: str
    outputs: list[list[np.ndarray]]
    counts: list[int]
    counter: Counter
    quantum: int
    link: dict[str, int]

    def describe(self) -> str:
        """One line: the count per inference and what it is."""
        if self.counter == Counter.NONE or not self.counts:
            return f"{self.board}: the firmware has no usable counter"
        mean = sum(self.counts) / len(self.counts)
        lo, hi = min(self.counts), max(self.counts)
        spread = "" if lo == hi else f" (min {lo:,}, max {hi:,})"
        what = {Counter.QEMU_INSTRUCTIONS: "instructions per inference: an executed-instruction count under "
                                           "QEMU, not cycles" + ("" if self.quantum == 1 else
                                                                 f", resolution {self.quantum} instructions"),
                Counter.DWT_CYCLES: "cycles per inference (DWT CYCCNT core cycles on the board)",
                Counter.SYSTICK_CYCLES: "cycles per inference (SysTick core cycles on the board)"}[self.counter]
        clock = load_board(self.board).clock_hz
        ms = (f"; {mean / clock * 1e3:.3f} ms at the {clock / 1e6:g} MHz board clock"
              + (" (1 instruction taken as 1 cycle)" if self.counter == Counter.QEMU_INSTRUCTIONS else ""))
        return f"{self.board}: {mean:,.0f} {what}{spread}{ms}"


def _artifact_manifest(target: Path) -> dict | None:
    m = target / "manifest.json"
    if not (target.is_dir() and m.is_file()):
        return None
    import json

    try:
        return json.loads(m.read_text())
    except ValueError as e:
        raise EdgefmrError(f"{m}: not valid JSON ({e})") from None


def target_graph(target: str | Path) -> Graph:
    """The IR graph of a model file, or of a build artifact folder (its manifest's model)."""

    target = Path(target)
    manifest = _artifact_manifest(target)
    path = target if manifest is None else Path(manifest.get("model", ""))
    if not path.is_file():
        raise EdgefmrError(f"{target}: its model {str(path)!r} is not there; pass the model file instead")
    return load_model(path)


def artifact_manifest(artifact: str | Path, board: str | None = None) -> tuple[Path, dict]:
    """The folder and manifest of a protocol-firmware build artifact (EdgefmrError saying what to do otherwise)."""
    art = Path(artifact)
    manifest = _artifact_manifest(art)
    if manifest is None:
        raise EdgefmrError(f"{art}: not a build artifact folder (no manifest.json); build it with `edgefmr build`")
    if board is not None and board != manifest.get("board"):
        raise EdgefmrError(f"{art} was built for board {manifest.get('board')}, not {board}; rebuild it "
                           f"with --board {board}")
    if manifest.get("main") != "protocol":
        raise EdgefmrError(f"{art} holds a {manifest.get('main')!r} image; `run --board` needs the "
                           f"protocol firmware (edgefmr build without test inputs)")
    return art, manifest


@contextlib.contextmanager
def board_session(art: Path, manifest: dict, port: str | None = None, *, timeout: float = 2.0, retries: int = 8,
                  wrap: Callable[[Transport], Transport] | None = None) -> Iterator[Device]:
    """A `Device` talking to the artifact's firmware: on a QEMU board started here (`port`, if given as a number, is
    its TCP port), or on a serial port (a real board, or a virtual one behind a serial link) that already runs it.
    `wrap` may wrap the link (e.g. a `FaultyTransport` to test a session against a noisy line); without it,
    $EDGEFMR_LINK_FAULTS (e.g. "flip=0.01,seed=3") does the same for any command."""

    w = wrap or faults_from_env() or (lambda t: t)

    b = load_board(str(manifest["board"]))
    if b.is_virtual and (not port or str(port).isdigit()):

        elf = art / manifest.get("files", {}).get("elf", "model.elf")
        with QemuBoard(b, elf, port=int(port) if port else None) as q, \
                Device(w(q.transport), timeout=timeout, retries=retries) as dev:
            yield dev
        return
    if not port:
        temporary = art.name.startswith("edgefmr-") and art.parent == Path(tempfile.gettempdir())
        flashed = (f"the model's firmware (edgefmr build MODEL --board {b.name} --out DIR, then edgefmr flash DIR "
                   f"--port PORT)" if temporary else f"{art} (edgefmr flash {art} --port PORT)")
        raise EdgefmrError(f"board {b.name} is a real board: give --port (e.g. /dev/ttyACM0) where its edgefmr "
                           f"protocol firmware talks, after flashing {flashed}")

    with Device(w(open_transport(port, baud=b.serial.baud if b.serial else 115200)), timeout=timeout,
                retries=retries) as dev:
        yield dev


def run_on_board(artifact: str | Path, board: str | None, records: list[list[np.ndarray]], *, port: str | None = None,
                 graph: Graph | None = None, timeout: float = 2.0, retries: int = 8,
                 progress: object = None) -> BoardRun:
    """Run integer input records on a board: a QEMU board is started and stopped here; a real board must already
    run the artifact's protocol firmware on serial port `port`.

    artifact: a build artifact folder (manifest.json with main "protocol"). graph: the IR graph (else the
    manifest's model is loaded). progress: optional callable(done, total).
    """
    art, manifest = artifact_manifest(artifact, board)
    if graph is None:
        graph = target_graph(art)
    with board_session(art, manifest, port, timeout=timeout, retries=retries) as dev:
        return _run_records(dev, str(manifest["board"]), manifest, graph, records, progress)


def _run_records(dev: Device, board: str, manifest: dict, graph: Graph, records: list[list[np.ndarray]],
                 progress: object) -> BoardRun:

    info = dev.info()
    want = manifest.get("model_hash")
    if want and info.model_hash != want:
        raise EdgefmrError(f"board {board} runs model {info.model_hash[:16]}, the artifact is {str(want)[:16]}: "
                           f"flash the artifact first")
    outs_meta = [(graph.tensor(n).shape, np_dtype(graph.tensor(n).dtype)) for n in graph.outputs]  # type: ignore[attr-defined]
    outputs, counts = [], []
    for k, rec in enumerate(records):
        for i, x in enumerate(rec):
            dev.load_input(x, i)
        r = dev.run(1)
        counts.append(r.total)
        outputs.append([np.frombuffer(dev.read_output(o), dt).reshape(shape).copy()
                        for o, (shape, dt) in enumerate(outs_meta)])
        if progress is not None:
            progress(k + 1, len(records))  # type: ignore[operator]
    return BoardRun(board, outputs, counts, info.counter, info.counter_quantum, dev.stats)
