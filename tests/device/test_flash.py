"""`edgefmr flash` with the probe methods (OpenOCD, pyOCD) against stand-ins: a fake `openocd` executable and a fake
pyOCD module that program a simulated target, and a simulated board on a pty that prints the banner after reset and
answers INFO (the protocol simulator of tests/device/test_protocol.py). The real tools need hardware; these tests pin
down the command lines, the verify, the banner and model-hash checks and the error messages."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
import tty
import types
from pathlib import Path

import pytest

from edgefmr.device.flash import FlashError, elf_segments, flash, flash_image
from edgefmr.device.transport import Transport
from edgefmr.errors import EdgefmrError

BOARD = "nucleo-f446re"
HASH = "ab" * 32       # the protocol simulator's model hash
FLASH_BASE = 0x0800_0000


def _elf(path: Path, segments: list[tuple[int, bytes]]) -> None:
    import struct

    ph_off = 52
    data_off = ph_off + 32 * len(segments)
    hdr = b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, segments[0][0], ph_off, 0,
                                                           0x5000000, 52, 32, len(segments), 40, 0, 0)
    phs, body = b"", b""
    for addr, data in segments:
        phs += struct.pack("<IIIIIIII", 1, data_off + len(body), addr, addr, len(data), len(data), 5, 4)
        body += data
    path.write_bytes(hdr + phs + body)


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    art = tmp_path / "art"
    art.mkdir()
    _elf(art / "model.elf", [(FLASH_BASE, bytes(range(256)) * 3), (FLASH_BASE + 0x1000, b"\x11\x22\x33\x44")])
    (art / "manifest.json").write_text(json.dumps({"board": BOARD, "main": "protocol", "model_hash": HASH,
                                                   "files": {"elf": "model.elf"}}))
    return art


def test_elf_image_fills_gaps_with_erased_bytes(artifact: Path) -> None:
    segs = elf_segments(artifact / "model.elf")
    assert [(a, len(d)) for a, d in segs] == [(FLASH_BASE, 768), (FLASH_BASE + 0x1000, 4)]
    base, img = flash_image(artifact / "model.elf")
    assert base == FLASH_BASE and len(img) == 0x1004
    assert img[:768] == bytes(range(256)) * 3 and img[768:0x1000] == b"\xff" * (0x1000 - 768)
    assert img[0x1000:] == b"\x11\x22\x33\x44"


class _FdTransport(Transport):
    """The board side of a pty (its master fd)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.name = fd, "pty-master"

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        import select

        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return b""
        try:
            return os.read(self.fd, max_bytes)
        except OSError:
            return b""


class SimBoard:
    """A board on a pty: after `boot()` it prints the banner and then runs the protocol simulator."""

    def __init__(self, board: str = BOARD, model_hash: str = HASH) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.banner = f"EFM-PROTO 1 {board} {model_hash}\n".encode()
        self.dev = None
        self.boots = 0

    def boot(self) -> None:
        from protocol_sim import SimDevice

        self.boots += 1
        if self.dev is None:   # listening before the banner: the host may send INFO as soon as it reads it
            self.dev = SimDevice(_FdTransport(self.master))  # type: ignore[arg-type]
        os.write(self.master, b"\x00garbage from reset\r\n" + self.banner)

    def close(self) -> None:
        if self.dev is not None:
            self.dev.stop()
        for fd in (self.master, self.slave):
            os.close(fd)


@pytest.fixture
def board() -> SimBoard:
    b = SimBoard()
    yield b
    b.close()


# ------------------------------------------------------------------------------------------------ openocd

FAKE_OPENOCD = """#!{python}
import sys, pathlib
log = pathlib.Path({log!r})
log.write_text(repr(sys.argv[1:]))
mode = pathlib.Path({mode!r}).read_text()
if mode == "ok":
    print("Open On-Chip Debugger (fake)", file=sys.stderr)
    print("** Programming Started **", file=sys.stderr)
    print("** Programming Finished **", file=sys.stderr)
    print("** Verify Started **", file=sys.stderr)
    print("** Verified OK **", file=sys.stderr)
    print("** Resetting Target **", file=sys.stderr)
    pathlib.Path({reset!r}).write_text("reset")
    sys.exit(0)
if mode == "noprobe":
    print("Error: open failed", file=sys.stderr)
    sys.exit(1)
print("** Programming Finished **", file=sys.stderr)
print("Error: checksum mismatch - attempting binary compare", file=sys.stderr)
print("Error: Verify Failed", file=sys.stderr)
sys.exit(1)
"""


@pytest.fixture
def fake_openocd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    files = {k: tmp_path / f"openocd.{k}" for k in ("log", "mode", "reset")}
    exe = bindir / "openocd"
    exe.write_text(FAKE_OPENOCD.format(python=sys.executable, **{k: str(v) for k, v in files.items()}))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return files


def _watch(path: Path, action, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            if path.exists():
                action()
                return
            time.sleep(0.01)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_openocd_programs_verifies_and_waits_for_the_banner(artifact: Path, board: SimBoard, fake_openocd) -> None:
    fake_openocd["mode"].write_text("ok")
    stop = threading.Event()
    _watch(fake_openocd["reset"], board.boot, stop)
    try:
        res = flash(artifact, method="openocd", port=board.port, banner_timeout=5)
    finally:
        stop.set()
    args = eval(fake_openocd["log"].read_text())  # noqa: S307 - our own fake's repr of argv
    elf = str((artifact / "model.elf").resolve())
    assert args == ["-f", "board/st_nucleo_f4.cfg", "-c", f"program {{{elf}}} verify reset exit"]
    assert res.method == "openocd" and res.banner == f"EFM-PROTO 1 {BOARD} {HASH}" and res.model_hash == HASH
    assert res.image_bytes == res.verified_bytes == 772 and res.address == FLASH_BASE
    assert board.dev is not None and 0x01 in board.dev.executed           # INFO confirmed the model hash


@pytest.mark.parametrize(("mode", "message"), [
    ("noprobe", r"openocd failed \(exit code 1\): Error: open failed — no ST-LINK found: connect the board's debug "
                r"USB port"),
    ("verify", r"openocd failed \(exit code 1\): Error: checksum mismatch.*Error: Verify Failed"),
])
def test_openocd_failures_say_what_to_do(artifact: Path, board: SimBoard, fake_openocd, mode: str,
                                         message: str) -> None:
    fake_openocd["mode"].write_text(mode)
    with pytest.raises(FlashError, match=message):
        flash(artifact, method="openocd", port=board.port, banner_timeout=1)


def test_openocd_missing_and_port_missing(artifact: Path, board: SimBoard, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlashError, match=r"openocd not found on PATH: install it \(Debian/Ubuntu `apt-get install "
                                         r"openocd`\) or use --method pyocd"):
        flash(artifact, method="openocd", port=board.port)
    monkeypatch.undo()
    with pytest.raises(FlashError, match=r"give --port: the serial port of nucleo-f446re's firmware"):
        flash(artifact, method="openocd")


def test_banner_of_another_model_is_an_error(artifact: Path, fake_openocd) -> None:
    fake_openocd["mode"].write_text("ok")
    other = SimBoard(model_hash="cd" * 32)
    stop = threading.Event()
    _watch(fake_openocd["reset"], other.boot, stop)
    try:
        with pytest.raises(FlashError, match=r"the board runs model cdcdcdcdcdcdcdcd…, the artifact is "
                                             r"abababababababab…: the new image did not start"):
            flash(artifact, method="openocd", port=other.port, banner_timeout=5)
    finally:
        stop.set()
        other.close()


def test_no_banner_is_an_error_with_a_hint(artifact: Path, board: SimBoard, fake_openocd) -> None:
    fake_openocd["mode"].write_text("ok")   # programs, but the board never prints anything
    t0 = time.monotonic()
    with pytest.raises(FlashError, match=r"no boot banner 'EFM-PROTO 1 nucleo-f446re …' on /dev/pts/\d+ within 0.5 s"
                                         r".*reset the board with BOOT0 low"):
        flash(artifact, method="openocd", port=board.port, banner_timeout=0.5)
    assert time.monotonic() - t0 < 5


# ------------------------------------------------------------------------------------------------ pyocd


def _fake_pyocd(monkeypatch: pytest.MonkeyPatch, board: SimBoard | None, corrupt: bool = False) -> dict:
    state: dict = {"mem": {}, "target": None, "programmed": None}

    class Target:
        def read_memory_block8(self, addr: int, n: int) -> list[int]:
            return [state["mem"].get(addr + i, 0xFF) for i in range(n)]

        def reset(self) -> None:
            state["reset"] = True
            if board is not None:
                board.boot()

    class Session:
        target = Target()

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

    class ConnectHelper:
        @staticmethod
        def session_with_chosen_probe(target_override=None, blocking=True, **kw):
            state["target"] = target_override
            return Session() if board is not None else None

    class FileProgrammer:
        def __init__(self, session) -> None:
            pass

        def program(self, path: str, file_format: str | None = None) -> None:
            state["programmed"] = (path, file_format)
            for addr, data in elf_segments(path):
                for i, b in enumerate(data):
                    state["mem"][addr + i] = b
            if corrupt:
                state["mem"][FLASH_BASE + 5] ^= 0x10

    mods = {"pyocd": types.ModuleType("pyocd"), "pyocd.core": types.ModuleType("pyocd.core"),
            "pyocd.core.helpers": types.ModuleType("pyocd.core.helpers"),
            "pyocd.flash": types.ModuleType("pyocd.flash"),
            "pyocd.flash.file_programmer": types.ModuleType("pyocd.flash.file_programmer")}
    mods["pyocd.core.helpers"].ConnectHelper = ConnectHelper  # type: ignore[attr-defined]
    mods["pyocd.flash.file_programmer"].FileProgrammer = FileProgrammer  # type: ignore[attr-defined]
    for k, v in mods.items():
        monkeypatch.setitem(sys.modules, k, v)
    return state


def test_pyocd_programs_reads_back_and_waits_for_the_banner(artifact: Path, board: SimBoard,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    state = _fake_pyocd(monkeypatch, board)
    res = flash(artifact, method="pyocd", port=board.port, banner_timeout=5)
    assert state["target"] == "stm32f446retx" and state["programmed"][1] == "elf" and state["reset"]
    assert res.verified_bytes == 772 and res.banner == f"EFM-PROTO 1 {BOARD} {HASH}"


def test_pyocd_verify_mismatch_and_no_probe(artifact: Path, board: SimBoard, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pyocd(monkeypatch, board, corrupt=True)
    with pytest.raises(FlashError, match=r"verify failed at 0x08000005: wrote 0x05, read 0x15"):
        flash(artifact, method="pyocd", port=board.port, banner_timeout=1)
    _fake_pyocd(monkeypatch, None)
    with pytest.raises(FlashError, match=r"pyOCD found no debug probe: connect the board's ST-LINK"):
        flash(artifact, method="pyocd", port=board.port, banner_timeout=1)


def test_pyocd_not_installed(artifact: Path, board: SimBoard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyocd", None)
    monkeypatch.setitem(sys.modules, "pyocd.core.helpers", None)
    with pytest.raises(FlashError, match=r"pyOCD is not installed: pip install 'edgefmr\[pyocd\]'"):
        flash(artifact, method="pyocd", port=board.port)


# ------------------------------------------------------------------------------------------------ artifact checks


def test_artifact_errors(tmp_path: Path, artifact: Path) -> None:
    with pytest.raises(FlashError, match="not a build artifact folder .*edgefmr build MODEL --board BOARD"):
        flash(tmp_path / "nothing")
    with pytest.raises(FlashError, match="was built for board nucleo-f446re, not qemu-netduinoplus2; rebuild it"):
        flash(artifact, "qemu-netduinoplus2")
    m = json.loads((artifact / "manifest.json").read_text())
    (artifact / "manifest.json").write_text(json.dumps({**m, "main": "semihost"}))
    with pytest.raises(FlashError, match="holds a 'semihost' image; flash needs the protocol firmware"):
        flash(artifact)
    (artifact / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(EdgefmrError, match="has no flash method 'qemu'; valid: openocd, pyocd, serial-bootloader"):
        flash(artifact, method="qemu")
