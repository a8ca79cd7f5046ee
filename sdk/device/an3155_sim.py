"""A simulated STM32 ROM bootloader (ST AN3155, USART) on a pseudo-terminal: test flashing scripts and CI without a
board (`edgefmr an3155-sim`, docs/flash.md) and edgefmr's own serial-bootloader method.

`An3155Sim()` opens a pty; clients (edgefmr's `serial-bootloader` method, Debian's `stm32flash`) open `sim.port`.
It holds an STM32F405-like memory: 1 MiB flash at 0x08000000 with the F4 sector layout (4 x 16 KiB, 64 KiB,
7 x 128 KiB; from the board file), 128 KiB SRAM at 0x20000000, product ID 0x413, bootloader v3.1 with Extended
Erase (or standard Erase with `extended_erase=False`). Flash bits only go from 1 to 0 when written (NOR flash);
erase sets a sector to 0xFF. Read-out protection refuses Read/Write/Go/Erase; Readout Unprotect mass-erases.

Faults for tests (`faults`): "nack_write" NACKs the k-th Write Memory after its data (nothing written),
"drop_write_ack" programs the k-th Write Memory but loses its final ACK, "lose_byte_write" loses one byte of the k-th
Write Memory's data on the way in (the device then waits for one more byte), "mute" ignores everything (a board not
in bootloader mode). `on_go(address, sim)` runs after Go (the application starts; e.g. a QEMU board booted from the
flash image and bridged to the pty) and may return a function that receives the bytes arriving afterwards.

A pty carries no parity bit and Linux refuses PARENB on it (EINVAL): clients open it 8N1 (`stm32flash -m 8n1`,
`edgefmr flash --parity N`); everything else about the protocol is unchanged.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

ACK, NACK = 0x79, 0x1F
FLASH_BASE, FLASH_SIZE = 0x0800_0000, 0x10_0000
SRAM_BASE, SRAM_SIZE = 0x2000_0000, 0x2_0000
F4_SECTORS = [0x4000] * 4 + [0x1_0000] + [0x2_0000] * 7


class _Stop(Exception):
    pass


@dataclass
class An3155Sim:
    extended_erase: bool = True
    product_id: int = 0x413
    version: int = 0x31
    sectors: list[int] = field(default_factory=lambda: list(F4_SECTORS))
    read_protected: bool = False
    faults: dict[str, int] = field(default_factory=dict)
    on_go: Callable[[int, An3155Sim], Callable[[bytes], None] | None] | None = None

    def __post_init__(self) -> None:
        assert sum(self.sectors) == FLASH_SIZE
        self.flash = bytearray(b"\xff" * FLASH_SIZE)
        self.sram = bytearray(SRAM_SIZE)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.log: list[str] = []            # commands executed, for tests
        self.erased: list[int] = []         # sector numbers erased, in order
        self.counts: dict[int, int] = {}    # per command code
        self.started_at: int | None = None  # Go address
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="an3155-sim", daemon=True)
        self._thread.start()

    # -- link --------------------------------------------------------------------------------------------------
    def _byte(self) -> int:
        while True:
            if self._stop.is_set():
                raise _Stop
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    b = os.read(self.master, 1)
                except OSError:
                    continue   # no client has the slave open yet (EIO); keep waiting
                if b:
                    return b[0]

    def _bytes(self, n: int) -> bytes:
        return bytes(self._byte() for _ in range(n))

    def send(self, data: bytes) -> None:
        os.write(self.master, bytes(data))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> An3155Sim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- memory ------------------------------------------------------------------------------------------------
    def _mem(self, addr: int, n: int) -> tuple[bytearray, int] | None:
        for base, buf in ((FLASH_BASE, self.flash), (SRAM_BASE, self.sram)):
            if base <= addr and addr + n <= base + len(buf):
                return buf, addr - base
        return None

    def sector_range(self, k: int) -> tuple[int, int]:
        start = sum(self.sectors[:k])
        return start, start + self.sectors[k]

    def _erase_sector(self, k: int) -> None:
        a, b = self.sector_range(k)
        self.flash[a:b] = b"\xff" * (b - a)
        self.erased.append(k)

    # -- bootloader ----------------------------------------------------------------------------------------------
    def _fault(self, name: str, k: int) -> bool:
        return self.faults.get(name) == k

    def _run(self) -> None:
        try:
            while True:
                self._bootloader()
        except _Stop:
            return

    def _bootloader(self) -> None:
        """From reset: autobaud on 0x7F, then commands until Go or a reset."""
        while self._byte() != 0x7F:      # anything before the sync byte is line noise to the autobaud logic
            pass
        if self.faults.get("mute"):
            while True:
                self._byte()
        self.send(bytes((ACK,)))
        handlers = {0x00: self._get, 0x01: self._get_version, 0x02: self._get_id, 0x11: self._read,
                    0x21: self._go, 0x31: self._write, 0x43: self._erase, 0x44: self._extended_erase,
                    0x63: self._write_protect, 0x73: self._write_unprotect, 0x82: self._readout_protect,
                    0x92: self._readout_unprotect}
        while True:
            cmd, comp = self._byte(), self._byte()
            supported = self._commands()
            if cmd ^ comp != 0xFF or cmd not in supported:
                self.send(bytes((NACK,)))
                continue
            if self.read_protected and cmd in (0x11, 0x21, 0x31, 0x43, 0x44, 0x63):
                self.send(bytes((NACK,)))
                continue
            self.counts[cmd] = self.counts.get(cmd, 0) + 1
            if handlers[cmd]() == "reset":
                return

    def _commands(self) -> list[int]:
        return [0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x44 if self.extended_erase else 0x43, 0x63, 0x73, 0x82, 0x92]

    def _address(self) -> int | None:
        a = self._bytes(5)
        if a[0] ^ a[1] ^ a[2] ^ a[3] != a[4]:
            self.send(bytes((NACK,)))
            return None
        return int.from_bytes(a[:4], "big")

    def _get(self) -> None:
        cmds = self._commands()
        self.send(bytes((ACK, len(cmds), self.version, *cmds, ACK)))
        self.log.append("get")

    def _get_version(self) -> None:
        self.send(bytes((ACK, self.version, 0, 0, ACK)))
        self.log.append("get_version")

    def _get_id(self) -> None:
        self.send(bytes((ACK, 1, self.product_id >> 8, self.product_id & 0xFF, ACK)))
        self.log.append("get_id")

    def _read(self) -> None:
        self.send(bytes((ACK,)))
        addr = self._address()
        if addr is None:
            return
        self.send(bytes((ACK,)))
        n, c = self._byte(), self._byte()
        m = self._mem(addr, n + 1)
        if n ^ c != 0xFF or m is None:
            self.send(bytes((NACK,)))
            return
        buf, off = m
        self.send(bytes((ACK,)) + bytes(buf[off:off + n + 1]))
        self.log.append(f"read {addr:#x} {n + 1}")

    def _write(self) -> None:
        k = self.counts[0x31]
        self.send(bytes((ACK,)))
        addr = self._address()
        if addr is None:
            return
        self.send(bytes((ACK,)))
        n = self._byte()
        data = self._bytes(n + 1)
        if self._fault("lose_byte_write", k):
            data = data[1:] + bytes((self._byte(),))   # one byte lost on the wire: the next byte fills in
        csum = self._byte()
        x = n
        for b in data:
            x ^= b
        m = self._mem(addr, n + 1)
        if x != csum or m is None or addr % 4 or (n + 1) % 4:
            self.send(bytes((NACK,)))
            return
        if self._fault("nack_write", k):
            self.send(bytes((NACK,)))
            return
        buf, off = m
        if buf is self.flash:
            for i, b in enumerate(data):
                buf[off + i] &= b
        else:
            buf[off:off + n + 1] = data
        self.log.append(f"write {addr:#x} {n + 1}")
        if not self._fault("drop_write_ack", k):
            self.send(bytes((ACK,)))

    def _erase(self) -> None:
        self.send(bytes((ACK,)))
        n = self._byte()
        if n == 0xFF:
            c = self._byte()
            if c != 0x00:
                self.send(bytes((NACK,)))
                return
            for k in range(len(self.sectors)):
                self._erase_sector(k)
            self.log.append("erase all")
            self.send(bytes((ACK,)))
            return
        pages = self._bytes(n + 1)
        c = self._byte()
        x = n
        for p in pages:
            x ^= p
        if x != c or any(p >= len(self.sectors) for p in pages):
            self.send(bytes((NACK,)))
            return
        for p in pages:
            self._erase_sector(p)
        self.log.append(f"erase {list(pages)}")
        self.send(bytes((ACK,)))

    def _extended_erase(self) -> None:
        self.send(bytes((ACK,)))
        nb = self._bytes(2)
        n = int.from_bytes(nb, "big")
        if n >= 0xFFF0:
            c = self._byte()
            if c != nb[0] ^ nb[1] or n not in (0xFFFF, 0xFFFE, 0xFFFD):
                self.send(bytes((NACK,)))
                return
            for k in range(len(self.sectors)):
                self._erase_sector(k)
            self.log.append("extended erase all")
            self.send(bytes((ACK,)))
            return
        raw = self._bytes(2 * (n + 1))
        c = self._byte()
        x = nb[0] ^ nb[1]
        for b in raw:
            x ^= b
        pages = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
        if x != c or any(p >= len(self.sectors) for p in pages):
            self.send(bytes((NACK,)))
            return
        for p in pages:
            self._erase_sector(p)
        self.log.append(f"extended erase {pages}")
        self.send(bytes((ACK,)))

    def _go(self) -> str | None:
        self.send(bytes((ACK,)))
        addr = self._address()
        if addr is None:
            return None
        if self._mem(addr, 8) is None:
            self.send(bytes((NACK,)))
            return None
        self.log.append(f"go {addr:#x}")
        self.started_at = addr
        self.send(bytes((ACK,)))
        feed = self.on_go(addr, self) if self.on_go is not None else None
        while True:   # the application runs: bytes go to it (if simulated), no longer to the bootloader
            b = self._byte()
            if feed is not None:
                feed(bytes((b,)))

    def _write_protect(self) -> str:
        self.send(bytes((ACK,)))
        n = self._byte()
        self._bytes(n + 2)
        self.send(bytes((ACK,)))
        self.log.append("write protect")
        return "reset"

    def _write_unprotect(self) -> str:
        self.send(bytes((ACK, ACK)))
        self.log.append("write unprotect")
        return "reset"

    def _readout_protect(self) -> str:
        self.read_protected = True
        self.send(bytes((ACK, ACK)))
        self.log.append("readout protect")
        return "reset"

    def _readout_unprotect(self) -> str:
        self.send(bytes((ACK,)))
        for k in range(len(self.sectors)):
            self._erase_sector(k)
        self.read_protected = False
        self.send(bytes((ACK,)))
        self.log.append("readout unprotect")
        return "reset"
