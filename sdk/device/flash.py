"""Put a build artifact's firmware on a board, verify what was written, and wait for the firmware's boot banner.

Methods (the board file's `[flash.<method>]` tables say which a board supports and their settings):

- `qemu`: boot the ELF on the board's QEMU machine; the banner and the model hash (INFO) confirm it runs.
- `serial-bootloader`: the STM32 ROM bootloader over a UART (ST AN3155, `edgefmr.device.an3155`), 8E1: erase only the
  sectors the image touches (board file's sector layout; Extended Erase or Erase as the device's Get says), write
  256-byte blocks, read every block back, Go.
- `pyocd`: a CMSIS-DAP/ST-LINK probe through pyOCD (optional: `pip install 'edgefmr[pyocd]'`), program the ELF,
  read every loaded segment back, reset.
- `openocd`: `openocd -f <configs> -c "program ELF verify reset exit"` when OpenOCD is installed.

After writing, every method waits for the banner `EFM-PROTO 1 <board> <model hash>` on the firmware's serial port
and checks board and hash against the artifact's manifest.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgefmr.boards import Board, load_board
from edgefmr.device.an3155 import Bootloader, BootloaderError
from edgefmr.device.connection import Device
from edgefmr.device.qemu import QemuBoard
from edgefmr.device.transport import SerialTransport, Transport, TransportError
from edgefmr.errors import EdgefmrError

METHODS = ("qemu", "serial-bootloader", "pyocd", "openocd")
BANNER_RE = re.compile(rb"EFM-PROTO (\d+) (\S+) ([0-9a-f]{64})\r?\n")


class FlashError(EdgefmrError):
    """Flashing failed; the message says what to do."""


@dataclass
class FlashResult:
    """What `flash` did."""

    board: str
    method: str
    artifact: str
    image_bytes: int
    address: int | None = None
    sectors: list[int] = field(default_factory=list)
    erase_command: str | None = None
    verified_bytes: int = 0
    device: str = ""
    banner: str = ""
    model_hash: str = ""
    seconds: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ artifact and image

def read_artifact(artifact: str | Path) -> tuple[Path, dict[str, Any]]:
    """The artifact folder and its manifest (FlashError if it is not a protocol-firmware build artifact)."""
    art = Path(artifact)
    m = art / "manifest.json"
    if not (art.is_dir() and m.is_file()):
        raise FlashError(f"{art}: not a build artifact folder (no manifest.json); build it with `edgefmr build MODEL "
                         f"--board BOARD --out {art}`")
    try:
        manifest = json.loads(m.read_text())
    except ValueError as e:
        raise FlashError(f"{m}: not valid JSON ({e})") from None
    if manifest.get("board") in (None, "host"):
        raise FlashError(f"{art} is a host build; flash a build for a board (edgefmr build --board BOARD)")
    if manifest.get("main") != "protocol":
        raise FlashError(f"{art} holds a {manifest.get('main')!r} image; flash needs the protocol firmware "
                         f"(edgefmr build without test inputs)")
    elf = art / manifest.get("files", {}).get("elf", "model.elf")
    if not elf.is_file():
        raise FlashError(f"{elf}: the artifact's ELF is missing; rebuild with `edgefmr build` (or `make -C {art}`)")
    return art, manifest


def elf_segments(elf: str | Path) -> list[tuple[int, bytes]]:
    """The loadable contents of a 32-bit little-endian ARM ELF: (load address, bytes) of every PT_LOAD segment
    with file data, by load (physical) address — initialized data appears at its flash copy."""
    raw = Path(elf).read_bytes()
    if raw[:4] != b"\x7fELF" or raw[4] != 1 or raw[5] != 1:
        raise FlashError(f"{elf}: not a 32-bit little-endian ELF file")
    phoff, = struct.unpack_from("<I", raw, 0x1C)
    phentsize, phnum = struct.unpack_from("<HH", raw, 0x2A)
    out = []
    for i in range(phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack_from("<IIIII", raw, phoff + i * phentsize)
        if p_type == 1 and p_filesz:
            out.append((p_paddr, raw[p_offset:p_offset + p_filesz]))
    if not out:
        raise FlashError(f"{elf}: no loadable segments")
    return sorted(out)


def flash_image(elf: str | Path) -> tuple[int, bytes]:
    """(base address, bytes) of the whole image, gaps between segments filled with 0xFF (erased flash)."""
    segs = elf_segments(elf)
    base = segs[0][0]
    end = max(a + len(d) for a, d in segs)
    img = bytearray(b"\xff" * (end - base))
    for a, d in segs:
        img[a - base:a - base + len(d)] = d
    return base, bytes(img)


# ------------------------------------------------------------------------------------------------ banner

def wait_banner(transport: Transport, board: str, model_hash: str, timeout: float) -> str:
    """Read until the firmware's banner line; check its board and model hash. Returns the line."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        m = BANNER_RE.search(buf)
        if m:
            line = m.group(0).strip().decode("ascii")
            got_board, got_hash = m.group(2).decode("ascii"), m.group(3).decode("ascii")
            if got_board != board:
                raise FlashError(f"the firmware on {transport.name} says it is built for board {got_board}, not "
                                 f"{board}")
            if model_hash and got_hash != model_hash:
                raise FlashError(f"the board runs model {got_hash[:16]}…, the artifact is {model_hash[:16]}…: the "
                                 f"new image did not start (is BOOT0 still high? set it low and reset the board)")
            if isinstance(transport, SerialTransport):
                transport.unread(buf[m.end():])
            return line
        left = deadline - time.monotonic()
        if left <= 0:
            raise FlashError(f"no boot banner 'EFM-PROTO 1 {board} …' on {transport.name} within {timeout:g} s "
                             f"(got {buf[-120:]!r}): reset the board with BOOT0 low, and check that this is the "
                             f"firmware's serial port and baud rate")
        buf += transport.read(4096, min(left, 0.2))


def _confirm_info(transport: Transport, model_hash: str) -> None:
    """INFO over the binary protocol: the model hash again, and proof that the protocol answers."""

    info = Device(transport, timeout=2.0, retries=3).info()
    if model_hash and info.model_hash != model_hash:
        raise FlashError(f"INFO says model {info.model_hash[:16]}…, the artifact is {model_hash[:16]}…")


def _open(port: str, baud: int, parity: str, what: str) -> SerialTransport:
    try:
        return SerialTransport(port, baud=baud, parity=parity)
    except TransportError as e:
        raise FlashError(f"{e} — {what}; close any terminal or edgefmr session using it") from None


# ------------------------------------------------------------------------------------------------ entry point

def flash(artifact: str | Path, board: str | Board | None = None, *, port: str | None = None,
          method: str | None = None, baud: int | None = None, parity: str = "E", console_port: str | None = None,
          banner_timeout: float = 15.0, retries: int = 4,
          progress: Callable[[int, int], None] | None = None) -> FlashResult:
    """Write the artifact's firmware to `board` (default: the manifest's) with `method` (default: the board's),
    verify it and wait for its banner.

    port: the serial port of the bootloader (serial-bootloader) or of the firmware's console (pyocd, openocd: the
    banner is read there). console_port: the firmware's serial port when it differs from the bootloader's
    (serial-bootloader only; default: port). baud, parity: the bootloader line (default: the board file's, 8E1).
    """
    t0 = time.monotonic()
    art, manifest = read_artifact(artifact)
    b = load_board(board) if isinstance(board, str) else board
    if b is None:
        b = load_board(str(manifest["board"]))
    if b.name != manifest["board"]:
        raise FlashError(f"{art} was built for board {manifest['board']}, not {b.name}; rebuild it with --board "
                         f"{b.name}")
    if b.kind != "mcu":
        raise FlashError(f"board {b.name} is an FPGA board; flash programs MCU boards")
    m = b.flash_method(method).method   # EdgefmrError naming the configured methods
    elf = art / manifest.get("files", {}).get("elf", "model.elf")
    want = str(manifest.get("model_hash", ""))
    res = FlashResult(board=b.name, method=m, artifact=str(art), image_bytes=0)
    if m == "qemu":
        unused = [(o, v) for o, v in (("--port", port), ("--console-port", console_port), ("--baud", baud)) if v]
        if unused:
            raise FlashError(f"{unused[0][0]} {unused[0][1]} is not used by the qemu method (QEMU boots the ELF and "
                             f"edgefmr picks its serial TCP "
                             f"port); leave it out, or choose a method that uses it: --method serial-bootloader, "
                             f"pyocd or openocd")
        _flash_qemu(b, elf, want, banner_timeout, res)
    elif m == "serial-bootloader":
        _flash_serial(b, elf, want, port, console_port, baud, parity, banner_timeout, retries, progress, res)
    elif m == "pyocd":
        _flash_pyocd(b, elf, want, port, banner_timeout, res)
    else:
        _flash_openocd(b, elf, want, port, banner_timeout, res)
    res.model_hash = want
    res.seconds = round(time.monotonic() - t0, 3)
    return res


# ------------------------------------------------------------------------------------------------ qemu

def _flash_qemu(b: Board, elf: Path, want: str, banner_timeout: float, res: FlashResult) -> None:

    res.image_bytes = len(flash_image(elf)[1])
    with QemuBoard(b, elf, banner=b"EFM-PROTO", banner_timeout=banner_timeout) as q:
        assert q.transport is not None
        line = q.banner_line + b"\n"
        q.transport.unread(line)   # check it like a serial banner
        res.banner = wait_banner(q.transport, b.name, want, 1.0)
        _confirm_info(q.transport, want)
    res.device = f"QEMU {b.qemu.machine if b.qemu else ''}"
    res.verified_bytes = res.image_bytes


# ------------------------------------------------------------------------------------------------ serial bootloader

def _flash_serial(b: Board, elf: Path, want: str, port: str | None, console_port: str | None, baud: int | None,
                  parity: str, banner_timeout: float, retries: int,
                  progress: Callable[[int, int], None] | None, res: FlashResult) -> None:

    cfg = b.flash_method("serial-bootloader")
    if not port:
        raise FlashError(f"the serial-bootloader method needs --port: the serial port wired to the ROM bootloader's "
                         f"{cfg.usart} ({cfg.tx_pin}/{cfg.rx_pin}) of board {b.name}"
                         + (f" ({cfg.note})" if cfg.note else ""))
    assert b.defaults is not None and b.serial is not None
    code = b.region(b.defaults.code)
    base, image = flash_image(elf)
    if not (code.origin <= base and base + len(image) <= code.end):
        raise FlashError(f"{elf}: the image (0x{base:08X}..0x{base + len(image):08X}) is not inside flash region "
                         f"{code.name} (0x{code.origin:08X}..0x{code.end:08X})")
    table = code.sector_table()
    sectors = code.sectors_for(base - code.origin, len(image))

    def sector_of(addr: int) -> int:
        return next(i for i, (a, s) in enumerate(table) if a <= addr < a + s)

    line_baud = baud or cfg.baud or 115200
    app_baud = b.serial.baud
    console = None
    if console_port and console_port != port:
        console = _open(console_port, app_baud, "N", f"the firmware's serial port of {b.name}")
    t = _open(port, line_baud, parity, f"the bootloader's serial port of {b.name}")
    try:
        bl = Bootloader(t, retries=retries)
        try:
            info = bl.connect()
            bl.check_unprotected(base)
            res.device = f"{info.part}, bootloader v{info.version_text}"
            res.erase_command = "extended" if info.extended_erase else "standard"
            bl.erase(sectors)
            bl.write_image(base, image, sector_of=sector_of, progress=progress)
            if bl.stats.resyncs:
                # bytes sent to resynchronize could, in principle, have completed some other command: read it all
                bl.verify_image(base, image)

            def to_app_line() -> None:
                if console is None:
                    t.reconfigure(baud=app_baud, parity="N")

            bl.go(base, switch=to_app_line)
        except BootloaderError as e:
            raise FlashError(f"{b.name} on {port}: {e}") from None
        res.address, res.image_bytes, res.sectors = base, len(image), sectors
        res.verified_bytes = bl.stats.bytes_verified
        res.stats = bl.stats.to_dict()
        link = console or t
        res.banner = wait_banner(link, b.name, want, banner_timeout)
        _confirm_info(link, want)
    finally:
        t.close()
        if console is not None:
            console.close()


# ------------------------------------------------------------------------------------------------ probes

def _console(b: Board, port: str | None, method: str) -> SerialTransport:
    if not port:
        raise FlashError(f"give --port: the serial port of {b.name}'s firmware (e.g. /dev/ttyACM0, the probe's "
                         f"virtual COM port), where {method} waits for the boot banner")
    assert b.serial is not None
    return _open(port, b.serial.baud, "N", f"the firmware's serial port of {b.name}")


def _flash_pyocd(b: Board, elf: Path, want: str, port: str | None, banner_timeout: float, res: FlashResult) -> None:
    cfg = b.flash_method("pyocd")
    if not port:
        _console(b, port, "pyocd")     # FlashError: give --port
    try:
        from pyocd.core.helpers import ConnectHelper
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        raise FlashError("pyOCD is not installed: pip install 'edgefmr[pyocd]' (or pip install pyocd)") from None
    console = _console(b, port, "pyocd")
    try:
        try:
            session = ConnectHelper.session_with_chosen_probe(target_override=cfg.target, blocking=False)
        except Exception as e:  # noqa: BLE001 - pyOCD raises many kinds; all mean "cannot use the probe"
            raise FlashError(f"pyOCD cannot open a probe for target {cfg.target}: {e}"
                             + (f" (install the target's pack: pyocd pack install {cfg.target})" if cfg.pack
                                else "")) from None
        if session is None:
            raise FlashError("pyOCD found no debug probe: connect the board's ST-LINK/CMSIS-DAP USB port (check "
                             "`pyocd list`, and udev permissions on Linux)")
        segs = elf_segments(elf)
        with session:
            try:
                FileProgrammer(session).program(str(elf), file_format="elf")
                target = session.target
                for addr, data in segs:
                    back = bytes(target.read_memory_block8(addr, len(data)))
                    if back != data:
                        bad = next(i for i, (x, y) in enumerate(zip(back, data, strict=True)) if x != y)
                        raise FlashError(f"verify failed at 0x{addr + bad:08X}: wrote 0x{data[bad]:02X}, read "
                                         f"0x{back[bad]:02X}")
                    res.verified_bytes += len(data)
                console.reset_input()
                target.reset()
            except FlashError:
                raise
            except Exception as e:  # noqa: BLE001
                raise FlashError(f"pyOCD failed to program {elf.name} on {cfg.target}: {e}") from None
        res.image_bytes = sum(len(d) for _, d in segs)
        res.address = segs[0][0]
        res.device = f"pyOCD target {cfg.target}"
        res.banner = wait_banner(console, b.name, want, banner_timeout)
        _confirm_info(console, want)
    finally:
        console.close()


OPENOCD_HINTS = (
    ("open failed", "no ST-LINK found: connect the board's debug USB port; on Linux check the udev rules "
                    "(permission to the probe)"),
    ("LIBUSB_ERROR_ACCESS", "no permission to the probe's USB device: install OpenOCD's udev rules or run with "
                            "access to the USB device"),
    ("unable to find", "no matching debug probe found: connect it, or fix the interface in the board file's "
                       "[flash.openocd] configs"),
    ("Can't find", "an OpenOCD config script of the board file's [flash.openocd] configs is not installed"),
    ("couldn't bind", "another program (an OpenOCD or GDB server) holds the probe or its ports: stop it"),
    ("timed out while waiting for target halted", "the target does not halt: hold reset, or connect under reset"),
)


def _flash_openocd(b: Board, elf: Path, want: str, port: str | None, banner_timeout: float,
                   res: FlashResult) -> None:
    cfg = b.flash_method("openocd")
    if not port:
        _console(b, port, "openocd")   # FlashError: give --port
    exe = shutil.which("openocd")
    if exe is None:
        raise FlashError("openocd not found on PATH: install it (Debian/Ubuntu `apt-get install openocd`) or use "
                         "--method pyocd")
    console = _console(b, port, "openocd")
    try:
        cmd = [exe]
        for c in cfg.configs:
            cmd += ["-f", c]
        if cfg.adapter_khz:
            cmd += ["-c", f"adapter speed {cfg.adapter_khz}"]
        cmd += ["-c", f"program {{{elf.resolve()}}} verify reset exit"]
        console.reset_input()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise FlashError(f"openocd did not finish within 300 s: {' '.join(cmd)}") from None
        log = r.stdout + r.stderr
        if r.returncode != 0 or "Verified OK" not in log:
            hint = next((h for k, h in OPENOCD_HINTS if k in log), "see OpenOCD's output above")
            errors = [ln for ln in log.splitlines() if ln.startswith("Error")][-3:]
            raise FlashError(f"openocd failed (exit code {r.returncode}): {'; '.join(errors) or log[-300:]} — {hint}")
        segs = elf_segments(elf)
        res.image_bytes = sum(len(d) for _, d in segs)
        res.verified_bytes = res.image_bytes   # OpenOCD's `verify` compared every loaded section
        res.address = segs[0][0]
        res.device = f"OpenOCD ({', '.join(cfg.configs)})"
        res.banner = wait_banner(console, b.name, want, banner_timeout)
        _confirm_info(console, want)
    finally:
        console.close()
