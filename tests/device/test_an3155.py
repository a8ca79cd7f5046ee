"""STM32 ROM bootloader (AN3155): Debian's stm32flash and edgefmr's client against the simulated device on a pty
(edgefmr.device.an3155_sim); faults (NACK, lost ACK, lost byte), errors that say what to do, and `edgefmr flash
--method serial-bootloader` of real protocol firmware that then boots on QEMU behind the simulated bootloader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from paths import FIXTURES

from edgefmr.boards import load_board
from edgefmr.device.an3155 import Bootloader, BootloaderError, NoAnswer
from edgefmr.device.an3155_sim import FLASH_BASE, An3155Sim
from edgefmr.device.flash import FlashError, flash, flash_image
from edgefmr.device.transport import SerialTransport

HAVE_STM32FLASH = shutil.which("stm32flash") is not None
F405 = load_board("qemu-netduinoplus2").region("FLASH")   # STM32F405 sector layout from the board file


def _image(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.mark.skipif(not HAVE_STM32FLASH, reason="needs stm32flash (apt-get install stm32flash)")
@pytest.mark.parametrize("extended", [True, False], ids=["extended-erase", "standard-erase"])
def test_stm32flash_writes_and_verifies_through_the_simulator(tmp_path: Path, extended: bool) -> None:
    img = _image(150_000, 1)
    (tmp_path / "img.bin").write_bytes(img)
    with An3155Sim(extended_erase=extended) as sim:
        sim.flash[300_000:300_004] = b"\x00\x00\x00\x00"      # outside the image: must survive
        # a pty has no parity bit (Linux refuses PARENB on a pty), so stm32flash runs 8N1 here
        r = subprocess.run(["stm32flash", "-m", "8n1", "-w", str(tmp_path / "img.bin"), "-v", "-g", "0x0",
                            sim.port], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout[-800:] + r.stderr[-800:]
        assert "Wrote and verified address" in r.stdout and "Starting execution at address 0x08000000" in r.stdout
        assert bytes(sim.flash[:len(img)]) == img
        assert sim.erased == [0, 1, 2, 3, 4, 5]                 # 150 KB: 4 x 16 K + 64 K + 128 K sectors only
        assert sim.flash[300_000:300_004] == b"\x00\x00\x00\x00"
        assert sim.started_at == FLASH_BASE
        erase_logs = [ln for ln in sim.log if "erase" in ln]
        assert erase_logs == [("extended erase [0, 1, 2, 3, 4, 5]" if extended else "erase [0, 1, 2, 3, 4, 5]")]
        assert sum(ln.startswith("read ") for ln in sim.log) >= len(img) // 256   # stm32flash read everything back


def _open(sim: An3155Sim) -> SerialTransport:
    return SerialTransport(sim.port, baud=115200, parity="N")   # a pty refuses 8E1 (see test_8e1_on_a_pty...)


def test_8e1_on_a_pty_is_refused_with_a_clear_error() -> None:
    from edgefmr.device.transport import TransportError

    with An3155Sim() as sim:
        with pytest.raises(TransportError, match=r"cannot set parity E on serial port /dev/pts/\d+: .*no parity "
                                                 r"support; a pseudo-terminal never has"):
            SerialTransport(sim.port, parity="E")


def test_client_writes_300kb_with_a_nack_a_lost_ack_and_a_lost_byte() -> None:
    """edgefmr's client: 300 KB in 256-byte writes with per-block read-back, only the needed sectors erased,
    Go; an injected NACK, a lost final ACK (timeout, the write had happened) and a lost data byte (timeout, the
    device waits in the middle of the command) are all recovered within the bounded retries."""
    img = _image(300 * 1024, 2)
    faults = {"nack_write": 3, "drop_write_ack": 200, "lose_byte_write": 700}
    with An3155Sim(faults=faults) as sim:
        sim.flash[:] = b"\x00" * len(sim.flash)                 # programmed everywhere: the erase must happen
        t = _open(sim)
        try:
            bl = Bootloader(t, timeout=0.3)
            t0 = time.monotonic()
            info = bl.connect()
            assert (info.product_id, info.version, info.extended_erase, info.part) == (
                0x413, 0x31, True, "STM32F405/407/415/417")
            bl.check_unprotected(FLASH_BASE)
            sectors = F405.sectors_for(0, len(img))
            assert sectors == [0, 1, 2, 3, 4, 5, 6]
            bl.erase(sectors)
            table = F405.sector_table()
            bl.write_image(FLASH_BASE, img, sector_of=lambda a: next(
                i for i, (s, n) in enumerate(table) if s <= a < s + n))
            bl.verify_image(FLASH_BASE, img)
            assert bl.go(FLASH_BASE)
            elapsed = time.monotonic() - t0
        finally:
            t.close()
        assert bytes(sim.flash[:len(img)]) == img
        assert sim.flash[len(img):sum(n for _, n in table[:7])] == b"\xff" * (sum(n for _, n in table[:7]) - len(img))
        assert sim.flash[sum(n for _, n in table[:7]):] == b"\x00" * (len(sim.flash) - sum(n for _, n in table[:7]))
        assert sim.erased == sectors and sim.started_at == FLASH_BASE
        s = bl.stats
        assert s.nacks == 1 and s.timeouts == 2 and s.resyncs == 2 and s.rewrites == 0
        assert s.bytes_written == len(img) and s.bytes_verified == 2 * len(img)   # per block, then verify_image
        assert elapsed < 30


def test_client_uses_standard_erase_when_get_lists_it() -> None:
    img = _image(40_000, 3)
    with An3155Sim(extended_erase=False) as sim:
        t = _open(sim)
        try:
            bl = Bootloader(t, timeout=0.3)
            assert not bl.connect().extended_erase
            bl.erase(F405.sectors_for(0, len(img)))
            bl.write_image(FLASH_BASE, img)
        finally:
            t.close()
        assert [ln for ln in sim.log if "erase" in ln] == ["erase [0, 1, 2]"]
        assert bytes(sim.flash[:len(img)]) == img


def test_a_block_that_does_not_read_back_is_erased_and_written_again() -> None:
    """A sector left programmed (an erase that did not take) shows in the read-back: the client erases that sector
    and writes it again, once."""
    img = _image(20_000, 4)
    with An3155Sim() as sim:
        sim.flash[:] = b"\x00" * len(sim.flash)
        t = _open(sim)
        try:
            bl = Bootloader(t, timeout=0.3)
            bl.connect()
            bl.erase([0])                                      # sector 1 (16 K..32 K) is not erased
            table = F405.sector_table()
            bl.write_image(FLASH_BASE, img, sector_of=lambda a: next(
                i for i, (s, n) in enumerate(table) if s <= a < s + n))
        finally:
            t.close()
        assert bytes(sim.flash[:len(img)]) == img and sim.erased == [0, 1] and bl.stats.rewrites == 1


def test_no_answer_to_sync_says_set_boot0() -> None:
    with An3155Sim(faults={"mute": 1}) as sim:
        t = _open(sim)
        try:
            t0 = time.monotonic()
            with pytest.raises(NoAnswer, match=r"no answer to the bootloader sync byte 0x7F on /dev/pts/\d+ after 3 "
                                               r"tries: set BOOT0 high .* and reset the board"):
                Bootloader(t, timeout=0.2).connect(attempts=3)
            assert time.monotonic() - t0 < 3
        finally:
            t.close()


def test_read_protection_is_named_with_the_way_out() -> None:
    with An3155Sim(read_protected=True) as sim:
        t = _open(sim)
        try:
            bl = Bootloader(t, timeout=0.3)
            bl.connect()                                       # Get, Get Version, Get ID still answer
            with pytest.raises(BootloaderError, match=r"read-out protection \(RDP level 1\) is active.*Readout "
                                                      r"Unprotect, which mass-erases"):
                bl.check_unprotected(FLASH_BASE)
        finally:
            t.close()


def test_busy_port_error_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import serial

    art = _fake_artifact(tmp_path, b"\x00" * 64)

    def busy(url, **kw):
        raise serial.SerialException(f"[Errno 16] could not open port {url}: [Errno 16] Device or resource busy: "
                                     f"'{url}'")

    monkeypatch.setattr(serial, "serial_for_url", busy)
    with pytest.raises(FlashError, match=r"cannot open serial port /dev/ttyUSB7: .*busy.*another program.*close any "
                                         r"terminal"):
        flash(art, _board_file(tmp_path), port="/dev/ttyUSB7")


def test_missing_port_and_unknown_method_are_clear(tmp_path: Path) -> None:
    art = _fake_artifact(tmp_path, b"\x00" * 64)
    b = _board_file(tmp_path)
    with pytest.raises(FlashError, match="serial-bootloader method needs --port: the serial port wired to the ROM "
                                         "bootloader's USART1 \\(PA9/PA10\\)"):
        flash(art, b)
    from edgefmr.errors import EdgefmrError

    with pytest.raises(EdgefmrError, match="has no flash method 'pyocd'; valid: qemu, serial-bootloader"):
        flash(art, b, method="pyocd")


# ------------------------------------------------------------------------------------------------ helpers


def _sim_board_text() -> str:
    """qemu-netduinoplus2 (an STM32F405 as QEMU models it) plus the ROM bootloader as its default flash method: the
    firmware is built as for the virtual board (QEMU does not model the clock tree a real-board image sets up)."""
    from edgefmr.boards import bundled_dir

    text = (bundled_dir() / "qemu-netduinoplus2.toml").read_text()
    assert '[flash]\ndefault = "qemu"' in text
    return text.replace('[flash]\ndefault = "qemu"', '[flash]\ndefault = "serial-bootloader"') + """
[flash.serial-bootloader]
usart = "USART1"
tx_pin = "PA9"
rx_pin = "PA10"
baud = 115200
via_vcp = false
"""


def _board_file(tmp_path: Path):
    from edgefmr.boards import load_board_file

    p = tmp_path / "boards" / "sim-f405.toml"
    p.parent.mkdir(exist_ok=True)
    p.write_text(_sim_board_text())
    return load_board_file(p)


def _fake_artifact(tmp_path: Path, payload: bytes) -> Path:
    """An artifact folder whose ELF has one loadable segment at the flash origin."""
    import struct

    art = tmp_path / "art"
    art.mkdir()
    ph_off, data_off = 52, 52 + 32
    hdr = b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, FLASH_BASE, ph_off, 0, 0x5000000,
                                                           52, 32, 1, 40, 0, 0)
    ph = struct.pack("<IIIIIIII", 1, data_off, FLASH_BASE, FLASH_BASE, len(payload), len(payload), 5, 4)
    (art / "model.elf").write_bytes(hdr + ph + payload)
    (art / "manifest.json").write_text(json.dumps({"board": "sim-f405", "main": "protocol", "model_hash": "ab" * 32,
                                                   "files": {"elf": "model.elf"}}))
    assert flash_image(art / "model.elf") == (FLASH_BASE, payload)
    return art


# ------------------------------------------------------------------------------------------------ end to end


class QemuBehindBootloader:
    """on_go of the simulator: boot the flashed image (raw, from the simulated flash) on QEMU netduinoplus2 and
    bridge its UART to the pty, so the firmware's banner and protocol reach the host through the same port."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.q = tmp, None
        self._stop = threading.Event()

    def __call__(self, addr: int, sim: An3155Sim):
        from edgefmr.device.qemu import QemuBoard

        end = len(sim.flash.rstrip(b"\xff"))
        img = self.tmp / "flash.bin"
        img.write_bytes(bytes(sim.flash[:end]))
        self.q = QemuBoard("qemu-netduinoplus2", img, banner=None, semihosting=False).start()
        t = self.q.transport

        def pump() -> None:
            while not self._stop.is_set():
                try:
                    data = t.read(4096, 0.05)
                except Exception:  # noqa: BLE001 - QEMU stopped
                    return
                if data:
                    sim.send(data)

        threading.Thread(target=pump, daemon=True).start()
        return t.write

    def stop(self) -> None:
        self._stop.set()
        if self.q is not None:
            self.q.stop()


@pytest.mark.emulator
def test_edgefmr_flash_serial_bootloader_boots_the_firmware(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`edgefmr flash ART --port PTY` (the board file's default method, serial-bootloader) with protocol firmware
    for an STM32F405: erase, write, verify, Go; the image written through the bootloader then boots (QEMU behind the
    simulated bootloader, from the simulated flash) and its banner and INFO confirm the model hash; `edgefmr profile
    --port PTY` then runs on it bit-exact."""
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    from click.testing import CliRunner

    from edgefmr.commands.flash import flash as flash_cmd
    from edgefmr.commands.profile import profile as profile_cmd
    from edgefmr.firmware.build import build

    _board_file(tmp_path)
    monkeypatch.setenv("EDGEFMR_BOARD_PATH", str(tmp_path / "boards"))
    fixture = FIXTURES / "cnn_digits_int8.tflite"
    m = build(fixture, "sim-f405", tmp_path / "art")
    boot = QemuBehindBootloader(tmp_path)
    monkeypatch.setenv("EDGEFMR_CALIBRATION_DIR", str(tmp_path / "cal"))
    with An3155Sim(on_go=boot) as sim:
        try:
            r = CliRunner().invoke(flash_cmd, [str(tmp_path / "art"), "--port", sim.port, "--parity", "N", "--json"])
            assert r.exit_code == 0, r.output + repr(r.exception)
            out = json.loads(r.output)
            # the board now runs the firmware it was given: profile it over the same port
            r = CliRunner().invoke(profile_cmd, [str(tmp_path / "art"), "--port", sim.port, "--count", "12",
                                                 "--runs", "2", "--out", str(tmp_path / "rep.json"), "--json"])
            assert r.exit_code == 0, r.output + repr(r.exception)
            rep = json.loads(r.output)
        finally:
            boot.stop()
    assert rep["agreement"]["bit_exact"] == rep["agreement"]["total"] == 12
    assert rep["counter"]["kind"] == "QEMU_INSTRUCTIONS" and rep["model_hash"] == m["model_hash"]
    base, img = flash_image(tmp_path / "art" / "model.elf")
    assert bytes(sim.flash[:len(img)]) == img
    assert out["method"] == "serial-bootloader" and out["board"] == "sim-f405" and out["address"] == FLASH_BASE
    assert out["image_bytes"] == len(img) and out["verified_bytes"] == len(img)
    assert out["sectors"] == F405.sectors_for(0, len(img)) == sim.erased
    assert out["banner"] == f"EFM-PROTO 1 sim-f405 {m['model_hash']}" and out["model_hash"] == m["model_hash"]
    assert out["erase_command"] == "extended" and out["device"] == "STM32F405/407/415/417, bootloader v3.1"
    assert os.path.exists(tmp_path / "flash.bin")


def test_an3155_sim_command_serves_stm32flash(tmp_path: Path) -> None:
    """`edgefmr an3155-sim --json` prints its pty; stm32flash writes and verifies an image there; on SIGTERM the
    simulator stops and dumps the flash it was given."""
    import signal
    import sys

    if shutil.which("stm32flash") is None:
        pytest.skip("needs Debian's stm32flash")
    image = bytes(range(256)) * 40
    (tmp_path / "fw.bin").write_bytes(image)
    proc = subprocess.Popen([sys.executable, "-m", "edgefmr.cli", "an3155-sim", "--json", "--link",
                             str(tmp_path / "tty"), "--dump", str(tmp_path / "flash.bin")],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = json.loads(proc.stdout.readline())["port"]
        assert (tmp_path / "tty").resolve() == Path(port).resolve()
        r = subprocess.run(["stm32flash", "-m", "8n1", "-b", "115200", "-w", str(tmp_path / "fw.bin"), "-v",
                            str(tmp_path / "tty")], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert json.loads(out.strip().splitlines()[-1])["erased_sectors"] == [0]
    assert (tmp_path / "flash.bin").read_bytes()[:len(image)] == image
    assert not (tmp_path / "tty").exists()
