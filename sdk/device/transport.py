"""Byte transports for the device link: pyserial URLs (`/dev/tty*`, `socket://`, `rfc2217://`), an in-memory
loopback for tests, and a fault injector that corrupts, drops or inserts bytes on any transport.

A transport moves raw bytes; framing, CRCs and retries live in `edgefmr.device.protocol`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from edgefmr.errors import EdgefmrError


class TransportError(EdgefmrError):
    """The byte link itself failed (port missing or busy, connection refused or closed)."""


class Transport:
    """Base class: `write` sends all bytes; `read` returns what arrives within `timeout` seconds (b"" if nothing)."""

    #: line rate in baud, or None for links without one (TCP to QEMU, in-memory); used to scale timeouts.
    baud: int | None = None
    #: a short description for error messages
    name: str = "transport"

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, max_bytes: int, timeout: float) -> bytes:
        raise NotImplementedError

    def reset_input(self) -> None:
        """Discard bytes already received and not yet read."""
        while self.read(4096, 0.0):
            pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialTransport(Transport):
    """A pyserial port opened with `serial_for_url`: `/dev/ttyACM0`, `socket://127.0.0.1:PORT`, `rfc2217://…`.

    `parity` is pyserial's letter ("N", "E", "O"); `baud` is ignored by pyserial for `socket://`.
    """

    def __init__(self, url: str, baud: int = 115200, parity: str = "N", open_timeout: float = 0.0) -> None:
        try:
            import serial
        except ImportError:  # pragma: no cover - pyserial is a dependency
            raise TransportError("pyserial is not installed: pip install pyserial") from None
        self._serial_mod = serial
        termios_error = _termios_error()
        self.name = url
        self.baud = None if url.startswith("socket://") else baud
        deadline = time.monotonic() + open_timeout
        while True:
            try:
                self._ser = serial.serial_for_url(url, baudrate=baud, parity=parity, timeout=0)
                break
            except (serial.SerialException, ValueError, OSError, termios_error) as e:
                if time.monotonic() >= deadline:
                    if isinstance(e, termios_error) and parity != "N":
                        raise TransportError(f"cannot set parity {parity} on serial port {url}: {e} (the port or "
                                             f"adapter has no parity support; a pseudo-terminal never has)") from None
                    raise TransportError(f"cannot open serial port {url}: {_why(e)}") from None
                time.sleep(0.05)
        self._timeout: float | None = 0.0
        self._pending = b""
        if parity != "N" and not self._parity_took():
            self.close()
            raise TransportError(f"cannot set parity {parity} on serial port {url}: the port dropped it (the port "
                                 f"or adapter has no parity support; a pseudo-terminal never has)")

    def _parity_took(self) -> bool:
        """False when a POSIX port silently cleared the parity bit we asked for (Linux ptys do)."""
        fd = getattr(self._ser, "fd", None)
        if not isinstance(fd, int):
            return True   # socket://, rfc2217://: parity is not a property of the local end
        try:
            import termios

            return bool(termios.tcgetattr(fd)[2] & termios.PARENB)
        except (ImportError, OSError, termios.error):
            return True

    def unread(self, data: bytes) -> None:
        """Put bytes back: the next reads return them first (bytes read past a boot banner)."""
        self._pending = bytes(data) + self._pending

    def reconfigure(self, baud: int | None = None, parity: str | None = None) -> None:
        """Change the line settings of the open port (bytes already received are kept)."""
        try:
            if baud is not None:
                self._ser.baudrate = baud
                if self.baud is not None:
                    self.baud = baud
            if parity is not None:
                self._ser.parity = parity
        except (self._serial_mod.SerialException, ValueError, OSError, _termios_error()) as e:
            raise TransportError(f"cannot set {self.name} to {baud} baud, parity {parity}: {_why(e)}") from None

    def _set_timeout(self, t: float) -> None:
        if self._timeout != t:
            self._ser.timeout = t
            self._timeout = t

    def write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
            self._ser.flush()
        except (self._serial_mod.SerialException, OSError) as e:
            raise TransportError(f"write to {self.name} failed: {_why(e)}") from None

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if self._pending:
            out, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
            return out
        try:
            self._set_timeout(max(0.0, timeout))
            first = self._ser.read(1)
            if not first or max_bytes <= 1:
                return first
            self._set_timeout(0.0)  # then whatever is already there, without waiting
            return first + self._ser.read(max_bytes - 1)
        except (self._serial_mod.SerialException, OSError) as e:
            raise TransportError(f"read from {self.name} failed: {_why(e)}") from None

    def close(self) -> None:
        try:
            self._ser.close()
        except Exception:  # noqa: BLE001 - closing a dead port must not mask the real error
            pass


def _termios_error() -> type[BaseException]:
    """termios.error (raised by pyserial for settings a port refuses), or a placeholder where termios is absent."""
    try:
        import termios

        return termios.error
    except ImportError:  # pragma: no cover - Windows
        return OSError


def _why(e: BaseException) -> str:
    s = str(e)
    if "could not open port" in s and ("Permission denied" in s or "busy" in s.lower()):
        return s + " (is another program using the port, or do you lack permission: add yourself to 'dialout')"
    return s


def open_transport(url: str, baud: int = 115200, open_timeout: float = 0.0) -> SerialTransport:
    """A `SerialTransport` for a device path or pyserial URL."""
    return SerialTransport(url, baud=baud, open_timeout=open_timeout)


# ------------------------------------------------------------------------------------------------ in-memory

class _Pipe:
    """A one-way byte queue with blocking reads."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._cv = threading.Condition()
        self.closed = False

    def put(self, data: bytes) -> None:
        with self._cv:
            self._buf += data
            self._cv.notify_all()

    def get(self, max_bytes: int, timeout: float) -> bytes:
        with self._cv:
            if not self._buf and timeout > 0 and not self.closed:
                self._cv.wait_for(lambda: bool(self._buf) or self.closed, timeout)
            out = bytes(self._buf[:max_bytes])
            del self._buf[:max_bytes]
            return out

    def close(self) -> None:
        with self._cv:
            self.closed = True
            self._cv.notify_all()


class PipeEnd(Transport):
    """One end of an in-memory full-duplex link (see `loopback_pair`)."""

    def __init__(self, rx: _Pipe, tx: _Pipe, name: str) -> None:
        self._rx, self._tx, self.name = rx, tx, name

    def write(self, data: bytes) -> None:
        if self._tx.closed:
            raise TransportError(f"{self.name}: link closed")
        self._tx.put(bytes(data))

    def read(self, max_bytes: int, timeout: float) -> bytes:
        return self._rx.get(max_bytes, timeout)

    def close(self) -> None:
        self._rx.close()
        self._tx.close()


def loopback_pair() -> tuple[PipeEnd, PipeEnd]:
    """Two connected in-memory transports (host end, device end)."""
    a, b = _Pipe(), _Pipe()
    return PipeEnd(a, b, "loopback-host"), PipeEnd(b, a, "loopback-device")


# ------------------------------------------------------------------------------------------------ faults

@dataclass
class FaultStats:
    """What a `FaultyTransport` did to the bytes that went through it."""

    corrupted: int = 0
    dropped: int = 0
    inserted: int = 0
    duplicated: int = 0
    bytes_seen: int = 0


@dataclass
class FaultPlan:
    """Random faults per byte, applied independently in one direction."""

    corrupt: float = 0.0   # probability a byte is XORed with a random non-zero value
    drop: float = 0.0      # probability a byte is lost
    insert: float = 0.0    # probability a random garbage byte is inserted before a byte
    duplicate: float = 0.0  # probability a byte arrives twice
    stats: FaultStats = field(default_factory=FaultStats)

    def apply(self, data: bytes, rng: random.Random) -> bytes:
        out = bytearray()
        for b in data:
            self.stats.bytes_seen += 1
            if self.insert and rng.random() < self.insert:
                out.append(rng.randrange(256))
                self.stats.inserted += 1
            if self.drop and rng.random() < self.drop:
                self.stats.dropped += 1
                continue
            if self.corrupt and rng.random() < self.corrupt:
                b ^= rng.randrange(1, 256)
                self.stats.corrupted += 1
            out.append(b)
            if self.duplicate and rng.random() < self.duplicate:
                out.append(b)
                self.stats.duplicated += 1
        return bytes(out)


class FaultyTransport(Transport):
    """Wraps a transport and damages bytes on the way out (`tx`) and on the way in (`rx`), reproducibly (`seed`).

    `FaultyTransport.symmetric(t, flip=0.01, seed=1)` flips 1 % of the bytes both ways, like a noisy cable.

    `script` hooks, when set, see each write/read chunk first and may replace it (deterministic faults in tests).
    """

    def __init__(self, inner: Transport, tx: FaultPlan | None = None, rx: FaultPlan | None = None,
                 seed: int = 0) -> None:
        self.inner = inner
        self.tx = tx or FaultPlan()
        self.rx = rx or FaultPlan()
        self.rng = random.Random(seed)
        self.baud = inner.baud
        self.name = f"faulty({inner.name})"
        self.tx_hooks: deque[Callable[[bytes], bytes]] = deque()
        self.rx_hooks: deque[Callable[[bytes], bytes]] = deque()

    @classmethod
    def symmetric(cls, inner: Transport, *, flip: float = 0.0, drop: float = 0.0, duplicate: float = 0.0,
                  insert: float = 0.0, seed: int = 0) -> FaultyTransport:
        """The same byte fault rates in both directions."""
        def plan() -> FaultPlan:
            return FaultPlan(corrupt=flip, drop=drop, insert=insert, duplicate=duplicate)
        return cls(inner, tx=plan(), rx=plan(), seed=seed)

    def write(self, data: bytes) -> None:
        if self.tx_hooks:
            data = self.tx_hooks.popleft()(data)
        self.inner.write(self.tx.apply(data, self.rng))

    def read(self, max_bytes: int, timeout: float) -> bytes:
        data = self.inner.read(max_bytes, timeout)
        if data and self.rx_hooks:
            data = self.rx_hooks.popleft()(data)
        return self.rx.apply(data, self.rng)

    def close(self) -> None:
        self.inner.close()


#: environment variable that wraps every device session's link in a FaultyTransport (e.g. "flip=0.01,seed=3")
FAULTS_ENV = "EDGEFMR_LINK_FAULTS"
_FAULT_KEYS = ("flip", "drop", "duplicate", "insert", "seed")


def parse_faults(spec: str, where: str = FAULTS_ENV) -> dict[str, float]:
    """`flip=0.01,drop=0.001,duplicate=0,insert=0,seed=3` as keyword arguments of `FaultyTransport.symmetric`."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, _, val = part.partition("=")
        key = key.strip()
        if key not in _FAULT_KEYS:
            raise EdgefmrError(f"{where}: unknown fault {key!r}; valid: {', '.join(_FAULT_KEYS)} "
                               f"(e.g. flip=0.01,seed=3)")
        try:
            v = int(val) if key == "seed" else float(val)
        except ValueError:
            raise EdgefmrError(f"{where}: {key}={val!r} is not a number") from None
        if key != "seed" and not 0.0 <= v <= 1.0:
            raise EdgefmrError(f"{where}: {key}={val} is not a probability; valid: 0 … 1")
        out[key] = v
    return out


def faults_from_env() -> Callable[[Transport], Transport] | None:
    """A wrapper that damages the link as $EDGEFMR_LINK_FAULTS says, or None when it is not set."""
    import os

    spec = os.environ.get(FAULTS_ENV, "").strip()
    if not spec:
        return None
    kw = parse_faults(spec)
    seed = int(kw.pop("seed", 0))
    return lambda t: FaultyTransport.symmetric(t, seed=seed, **kw)
