"""Run a virtual board under QEMU with its UART on a loopback TCP port, and always stop it.

`QemuBoard(board, elf)` starts `qemu-system-arm -M <machine> -kernel ELF` with the board's console UART on
`-serial tcp:127.0.0.1:PORT,server=on,wait=on,nodelay=on`, connects with pyserial (`socket://127.0.0.1:PORT`),
waits for the firmware's boot banner, and hands out the transport. (`nodelay=on`: the UART sends byte by byte, and
Nagle's algorithm against the host's delayed ACKs would add ~40 ms to every response.) QEMU is stopped by the
context manager, by `stop()`, at interpreter exit (atexit), on SIGTERM/SIGINT, and — if Python dies without running
any of those (SIGKILL) — by the kernel (Linux `PR_SET_PDEATHSIG`), so no QEMU process outlives the session.

Instruction counts: under `-icount shift=S` QEMU advances virtual time 2^S ns per executed instruction, so a
timer of f Hz ticks f·2^S/1e9 times per instruction. SysTick runs on the core clock (168 MHz on netduinoplus2,
25 MHz on mps2-an500): at S = 0 one tick is 5.95 resp. 40 instructions (the count's resolution), at S = 10 one
instruction is 172.03 resp. 25.6 ticks, so rounding ticks·1e9/(f·2^S) gives the exact instruction count. The
default here is therefore S = 10 (measured; see tests/device/test_device_qemu.py and docs/protocol.md).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from edgefmr.boards import Board, load_board
from edgefmr.device.transport import SerialTransport, TransportError
from edgefmr.errors import EdgefmrError

QEMU = "qemu-system-arm"
DEFAULT_ICOUNT_SHIFT = 10
INSTALL_HINT = ("install it: Debian/Ubuntu `apt-get install qemu-system-arm` (scripts/setup.sh does), "
                "Fedora `dnf install qemu-system-arm`, macOS `brew install qemu`")


class QemuError(EdgefmrError):
    """QEMU is missing, failed to start, or the firmware never printed its banner."""


def find_qemu() -> str:
    """Path of qemu-system-arm, or QemuError saying what to install."""
    import shutil

    path = shutil.which(QEMU)
    if path is None:
        raise QemuError(f"{QEMU} not found on PATH; {INSTALL_HINT}")
    return path


def qemu_command(board: Board, elf: str | os.PathLike[str], serial: str, *, icount_shift: int | None,
                 semihosting: bool = True) -> list[str]:
    """The qemu-system-arm command line of `board` running `elf`, its console UART on QEMU chardev `serial`
    (e.g. "stdio" or "tcp:..."), the other UARTs before it on null."""
    q = board.qemu
    if q is None:
        raise EdgefmrError(f"board {board.name} is not a QEMU board")
    cmd = [find_qemu(), "-M", q.machine]
    if q.cpu:
        cmd += ["-cpu", q.cpu]
    cmd += ["-nographic", "-monitor", "none", "-kernel", str(elf)]
    cmd += ["-serial", "null"] * q.serial_index + ["-serial", serial]
    if semihosting:
        cmd += ["-semihosting-config", "enable=on,target=native"]
    if icount_shift is not None:
        cmd += ["-icount", f"shift={icount_shift}"]
    return cmd


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------------ process registry

_live: set[QemuBoard] = set()
_live_lock = threading.Lock()
_handlers_installed = False


def _stop_all() -> None:
    with _live_lock:
        boards = list(_live)
    for b in boards:
        b.stop()


def _on_signal(signum: int, frame: object) -> None:
    _stop_all()
    prev = _prev_handlers.get(signum)
    if callable(prev):
        prev(signum, frame)  # e.g. SIGINT → KeyboardInterrupt
        return
    # default action (terminate): restore it and re-deliver the signal to ourselves
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_prev_handlers: dict[int, object] = {}


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            prev = signal.getsignal(sig)
            if prev is signal.SIG_IGN:
                continue
            _prev_handlers[sig] = prev
            signal.signal(sig, _on_signal)
    _handlers_installed = True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# ------------------------------------------------------------------------------------------------ launcher

class QemuBoard:
    """A QEMU virtual board running `elf`, serial on a loopback TCP port; use as a context manager."""

    def __init__(self, board: Board | str, elf: str | os.PathLike[str], *, banner: bytes | None = b"EFM-PROTO",
                 banner_timeout: float = 15.0, icount_shift: int | None = DEFAULT_ICOUNT_SHIFT,
                 semihosting: bool = True, extra_args: tuple[str, ...] = (), port: int | None = None) -> None:
        self.board = load_board(board) if isinstance(board, str) else board
        if self.board.qemu is None:
            raise QemuError(f"board {self.board.name} is not a QEMU board (no [qemu] table); use a serial port")
        self.elf = Path(elf)
        if not self.elf.is_file():
            raise QemuError(f"{self.elf}: no such ELF file")
        self.banner = banner
        self.banner_timeout = banner_timeout
        self.icount_shift = icount_shift
        self.semihosting = semihosting
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.fixed_port = port
        self.port: int | None = None
        self.transport: SerialTransport | None = None
        self.banner_line = b""
        self._log = tempfile.NamedTemporaryFile(prefix="edgefmr-qemu-", suffix=".log", delete=False)

    # -- command line --
    def command(self, port: int) -> list[str]:
        return qemu_command(self.board, self.elf, f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
                            icount_shift=self.icount_shift, semihosting=self.semihosting) + list(self.extra_args)

    def log(self) -> str:
        """QEMU's stdout and stderr so far (semihosting console output included)."""
        try:
            return Path(self._log.name).read_text(errors="replace")
        except OSError:
            return ""

    # -- lifecycle --
    def start(self) -> QemuBoard:
        """Start QEMU, connect to its serial port and wait for the banner; QemuError on any failure."""
        _install_handlers()
        last = ""
        for _ in range(1 if self.fixed_port else 5):  # a free port may be taken before QEMU binds it: retry
            port = self.fixed_port or free_port()
            self._spawn(port)
            try:
                self._connect(port)
                break
            except QemuError as e:
                last = str(e)
                if "in use" not in self.log().lower() or self.fixed_port:
                    self.stop()
                    raise
                self.stop()
        else:
            raise QemuError(last)
        self.port = port
        if self.banner:
            self._await_banner()
        return self

    def _spawn(self, port: int) -> None:
        self._log.truncate(0)
        self._log.seek(0)
        self.proc = subprocess.Popen(self.command(port), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)  # noqa: PLW1509
        with _live_lock:
            _live.add(self)

    def _connect(self, port: int) -> None:
        """Open the transport to QEMU's serial server (QEMU starts the guest when this connects)."""
        deadline = time.monotonic() + 10.0
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise QemuError(f"QEMU exited with code {self.proc.returncode} before its serial port opened: "
                                f"{self.log().strip()[-500:]}")
            try:
                self.transport = SerialTransport(f"socket://127.0.0.1:{port}")
                return
            except TransportError:
                if time.monotonic() > deadline:
                    raise QemuError(f"QEMU did not open its serial port 127.0.0.1:{port} within 10 s") from None
                time.sleep(0.05)

    def _await_banner(self) -> None:
        assert self.transport is not None and self.banner is not None
        deadline = time.monotonic() + self.banner_timeout
        buf = b""
        while True:
            i = buf.find(self.banner)
            if i >= 0 and b"\n" in buf[i:]:
                j = buf.index(b"\n", i)
                self.banner_line = buf[i:j].rstrip(b"\r")
                self.transport.unread(buf[j + 1:])
                return
            left = deadline - time.monotonic()
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise QemuError(f"QEMU ({self.board.qemu.machine}, {self.elf.name}) exited with code "
                                f"{self.proc.returncode} before the firmware banner {self.banner!r}; serial said "
                                f"{buf[-200:]!r}; QEMU log: {self.log().strip()[-500:]!r}")
            if left <= 0:
                raise QemuError(f"no firmware banner {self.banner!r} from {self.elf.name} on QEMU "
                                f"{self.board.qemu.machine} within {self.banner_timeout:g} s (serial said "
                                f"{buf[-200:]!r}); is it edgefmr protocol firmware built for board {self.board.name}?")
            buf += self.transport.read(4096, min(left, 0.2))

    def wait(self, timeout: float) -> int:
        """Wait for QEMU to exit by itself (semihosting exit); its exit code. QemuError on timeout."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise QemuError(f"QEMU did not exit within {timeout:g} s") from None

    def stop(self) -> None:
        """Close the link and stop QEMU (SIGTERM, then SIGKILL after 3 s); safe to call more than once."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        p = self.proc
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(3)
        with _live_lock:
            _live.discard(self)

    def __enter__(self) -> QemuBoard:
        try:
            self.start()
            return self
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)

    def __hash__(self) -> int:
        return id(self)
