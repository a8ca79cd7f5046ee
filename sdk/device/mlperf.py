"""Host side of the MLPerf Tiny (EEMBC runner) text protocol that edgefmr protocol firmware also speaks.

The same command sequence as the MLPerf Tiny runner (mlcommons/tiny, benchmark/runner): each command is sent with
its terminator `%` and answered by lines up to `m-ready`; `e-[...]` lines are errors. Data goes in with `db load N`
and `db HEX` commands of 31 bytes each (the runner's chunk without a power manager). See docs/protocol.md,
"MLPerf Tiny".
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from edgefmr.device.transport import Transport
from edgefmr.errors import EdgefmrError

READY = "m-ready"
CHUNK = 31  # bytes per `db` command, as the runner sends them


class MlperfError(EdgefmrError):
    """The device answered a text command with an `e-[...]` line, or not at all."""


@dataclass(frozen=True)
class InferResult:
    """What `infer N W` printed: the two timestamps (µs) around the N timed inferences and the results vector."""

    runs: int
    warmups: int
    start_us: int
    end_us: int
    results: tuple[float, ...]
    lines: tuple[str, ...]

    @property
    def us_per_inference(self) -> float:
        return ((self.end_us - self.start_us) % (1 << 32)) / self.runs


class MlperfTinyClient:
    """Drives a device over `transport` like the MLPerf Tiny runner does."""

    def __init__(self, transport: Transport, timeout: float = 5.0) -> None:
        self.transport = transport
        self.timeout = timeout
        self._buf = b""

    def _line(self, deadline: float) -> str:
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise MlperfError(f"no complete reply line from {self.transport.name} before the timeout "
                                  f"(got {self._buf[-80:]!r}); does the firmware speak the MLPerf Tiny protocol?")
            self._buf += self.transport.read(4096, min(left, 0.2))
        line, self._buf = self._buf.split(b"\n", 1)
        # bytes outside printable ASCII are not part of the text protocol (e.g. a binary frame)
        return bytes(b for b in line if 0x20 <= b < 0x7F).decode("ascii")

    def command(self, cmd: str, timeout: float | None = None, check: bool = True) -> list[str]:
        """Send `cmd%` and return the reply lines before `m-ready`; MlperfError on an `e-[...]` line if `check`."""
        if "%" in cmd:
            raise ValueError("the command must not contain the terminator '%'")
        self.transport.write(cmd.encode("ascii") + b"%")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        lines = []
        while True:
            line = self._line(deadline)
            if line == READY:
                break
            if line:
                lines.append(line)
        if check:
            errors = [ln for ln in lines if ln.startswith("e-[")]
            if errors:
                raise MlperfError(f"device rejected {cmd!r}: {errors[0]}")
        return lines

    def wait_ready(self, timeout: float | None = None) -> list[str]:
        """Read lines until `m-ready` (the boot messages); returns the lines before it."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        lines = []
        while (line := self._line(deadline)) != READY:
            lines.append(line)
        return lines

    def name(self) -> str:
        for ln in self.command("name"):
            m = re.match(r"^m-name-dut-\[([^]]+)]$", ln)
            if m:
                return m.group(1)
        raise MlperfError("no m-name-dut-[...] line in the reply to name%")

    def profile(self) -> dict[str, str]:
        out = {}
        for ln in self.command("profile"):
            m = re.match(r"^m-(model|profile)-\[([^]]+)]$", ln)
            if m:
                out[m.group(1)] = m.group(2)
        return out

    def load(self, data: bytes, chunk: int = CHUNK) -> list[list[str]]:
        """`db load N` then `db HEX` commands of `chunk` bytes; the replies of each command."""
        replies = [self.command(f"db load {len(data)}")]
        for i in range(0, len(data), chunk):
            replies.append(self.command("db " + data[i:i + chunk].hex()))
        if not replies[-1] or replies[-1][-1] != "m-load-done":
            raise MlperfError(f"the device did not confirm the load of {len(data)} bytes (m-load-done)")
        return replies

    def infer(self, n: int, warmups: int, timeout: float = 120.0) -> InferResult:
        lines = self.command(f"infer {n} {warmups}", timeout=timeout)
        laps = [int(ln[len("m-lap-us-"):]) for ln in lines if ln.startswith("m-lap-us-")]
        res = [ln for ln in lines if ln.startswith("m-results-[")]
        if len(laps) != 2 or len(res) != 1:
            raise MlperfError(f"unexpected reply to infer {n} {warmups}: {lines}")
        return InferResult(n, warmups, laps[0], laps[1], parse_results(res[0]), tuple(lines))

    def results(self) -> tuple[float, ...]:
        res = [ln for ln in self.command("results") if ln.startswith("m-results-[")]
        if len(res) != 1:
            raise MlperfError("no m-results-[...] line in the reply to results%")
        return parse_results(res[0])


def parse_results(line: str) -> tuple[float, ...]:
    """The numbers of an `m-results-[a,b,...]` line."""
    m = re.match(r"^m-results-\[([^]]*)]$", line)
    if not m:
        raise MlperfError(f"not a results line: {line!r}")
    return tuple(float(v) for v in m.group(1).split(",") if v)


def format_results(values: list[float]) -> str:
    """The results line a device prints for float32 `values` (C's "%.3f" of each)."""
    import numpy as np

    return "m-results-[" + ",".join(f"{float(np.float32(v)):.3f}" for v in values) + "]"
