"""Client of the STM32 system-memory (ROM) bootloader's USART protocol, ST application note AN3155.

The line is 8 data bits, even parity, 1 stop bit (8E1) at 1200–115200 baud. The host sends 0x7F once so the
bootloader measures the baud rate; it answers ACK (0x79). Every command is its code and the code's complement; each
stage is acknowledged with ACK or refused with NACK (0x1F). Addresses are 4 bytes MSB first followed by their XOR;
lengths are sent as N − 1.

| command | code | used for |
|---|---|---|
| Get | 0x00 | bootloader version and the commands it supports (Erase 0x43 or Extended Erase 0x44) |
| Get Version | 0x01 | version and option bytes |
| Get ID | 0x02 | product ID (0x413 = STM32F405/407, 0x421 = STM32F446, …) |
| Read Memory | 0x11 | read-back verify, ≤ 256 bytes per command |
| Go | 0x21 | start the application (the vector table at the address) |
| Write Memory | 0x31 | ≤ 256 bytes per command, 4-byte aligned |
| Erase | 0x43 | standard erase: 1-byte page/sector numbers |
| Extended Erase | 0x44 | 2-byte page/sector numbers |

With read-out protection active, Read Memory, Write Memory, Go and Erase are refused (NACK right after the command
byte); Get, Get Version and Get ID still answer.

Faults are bounded: a NACK repeats the command, a missing answer resynchronizes the link (see `resync`) and repeats
it, at most `retries` times per command; a block whose read-back differs is erased and written again once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgefmr.device.transport import Transport
from edgefmr.errors import EdgefmrError

ACK = 0x79
NACK = 0x1F
SYNC = 0x7F

GET, GET_VERSION, GET_ID = 0x00, 0x01, 0x02
READ_MEMORY, GO, WRITE_MEMORY = 0x11, 0x21, 0x31
ERASE, EXTENDED_ERASE = 0x43, 0x44
WRITE_PROTECT, WRITE_UNPROTECT, READOUT_PROTECT, READOUT_UNPROTECT = 0x63, 0x73, 0x82, 0x92

MAX_BLOCK = 256

#: Product IDs (Get ID) of common parts; used only to name the device in messages.
PRODUCT_IDS = {
    0x410: "STM32F10x medium-density", 0x411: "STM32F2xx", 0x413: "STM32F405/407/415/417", 0x419: "STM32F42x/43x",
    0x421: "STM32F446", 0x423: "STM32F401xB/C", 0x431: "STM32F411", 0x433: "STM32F401xD/E",
    0x449: "STM32F74x/75x", 0x450: "STM32H74x/75x", 0x451: "STM32F76x/77x", 0x470: "STM32L4Rx/4Sx",
}


class BootloaderError(EdgefmrError):
    """The bootloader refused a command, did not answer, or the written data did not read back."""


class NoAnswer(BootloaderError):
    """No byte arrived in time."""


class Nacked(BootloaderError):
    """The bootloader answered NACK."""


@dataclass
class BootloaderStats:
    """What a session needed: retries per cause (reported by `edgefmr flash`)."""

    commands: int = 0
    nacks: int = 0
    timeouts: int = 0
    resyncs: int = 0
    rewrites: int = 0
    bytes_written: int = 0
    bytes_verified: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DeviceInfo:
    """What Get, Get Version and Get ID said."""

    version: int                 # bootloader version, e.g. 0x31 = 3.1
    commands: tuple[int, ...]    # supported command codes
    option_bytes: tuple[int, int]
    product_id: int

    @property
    def extended_erase(self) -> bool:
        return EXTENDED_ERASE in self.commands

    @property
    def part(self) -> str:
        return PRODUCT_IDS.get(self.product_id, f"product ID 0x{self.product_id:03X}")

    @property
    def version_text(self) -> str:
        return f"{self.version >> 4}.{self.version & 15}"


def _xor(data: bytes) -> int:
    c = 0
    for b in data:
        c ^= b
    return c


@dataclass
class Bootloader:
    """An AN3155 session over `transport` (opened 8E1 by the caller).

    `timeout` bounds the wait for each answer; erase waits `erase_timeout` per sector. `retries` bounds the
    repetitions of one command after a NACK or a timeout.
    """

    transport: Transport
    timeout: float = 1.0
    erase_timeout: float = 10.0
    retries: int = 4
    stats: BootloaderStats = field(default_factory=BootloaderStats)
    info: DeviceInfo | None = None

    # -- bytes -----------------------------------------------------------------------------------------------------
    def _read(self, n: int, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        out = b""
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NoAnswer(f"no answer from {self.transport.name} within "
                               f"{self.timeout if timeout is None else timeout:g} s (got {len(out)} of {n} bytes)")
            out += self.transport.read(n - len(out), left)
        return out

    def _ack(self, what: str, timeout: float | None = None) -> None:
        b = self._read(1, timeout)[0]
        if b == ACK:
            return
        if b == NACK:
            raise Nacked(f"the bootloader refused {what} (NACK)")
        raise BootloaderError(f"unexpected byte 0x{b:02X} instead of ACK after {what}")

    def _send_command(self, code: int, name: str) -> None:
        self.transport.write(bytes((code, code ^ 0xFF)))
        try:
            self._ack(name)
        except Nacked:
            raise Nacked(f"the bootloader refused the {name} command (NACK): read-out protection may be active "
                         "(remove it with Readout Unprotect, which mass-erases the flash)") from None

    # -- session ---------------------------------------------------------------------------------------------------
    def connect(self, attempts: int = 5) -> DeviceInfo:
        """Synchronize (0x7F) and read Get, Get Version and Get ID."""
        self.transport.reset_input()
        for _ in range(attempts):
            self.transport.write(bytes((SYNC,)))
            try:
                b = self._read(1, self.timeout)[0]
            except NoAnswer:
                continue
            if b in (ACK, NACK):  # NACK: already synchronized (0x7F taken as a command byte pair's half)
                time.sleep(0.01)
                self.transport.reset_input()
                break
        else:
            raise NoAnswer(f"no answer to the bootloader sync byte 0x7F on {self.transport.name} after {attempts} "
                           f"tries: set BOOT0 high (BOOT0 jumper or button) and reset the board, check that TX/RX "
                           f"go to the bootloader's USART pins and that the line is 8E1")
        self.info = self._with_retries("identify", self._identify)
        return self.info

    def _identify(self) -> DeviceInfo:
        self._send_command(GET, "Get")
        n = self._read(1)[0]
        body = self._read(n + 1)
        self._ack("Get")
        self._send_command(GET_VERSION, "Get Version")
        ver, opt1, opt2 = self._read(3)
        self._ack("Get Version")
        self._send_command(GET_ID, "Get ID")
        n = self._read(1)[0]
        pid = self._read(n + 1)
        self._ack("Get ID")
        del ver  # Get's version is the one the commands belong to
        return DeviceInfo(body[0], tuple(body[1:]), (opt1, opt2), int.from_bytes(pid[-2:], "big"))

    def resync(self, max_bytes: int = 2048) -> None:
        """Bring a bootloader in an unknown state back to waiting for a command: send Get ID (0x02 0xFD) until it is
        answered. Inside an unfinished stage these bytes end the stage (with NACK: an address or a Write Memory
        frame of 02 FD … never has a valid XOR); a NACK may leave the device one byte out of step with the pairs,
        so after a NACK one filler byte (0x00) is sent before the next probe. Bounded by `max_bytes`."""
        self.stats.resyncs += 1
        sent, filler = 0, False
        while sent < max_bytes:
            self.transport.reset_input()
            if filler:
                self.transport.write(b"\x00")
                sent += 1
                self.transport.read(16, 0.05)   # a NACK for the completed pair, if it was one
                self.transport.reset_input()
            self.transport.write(bytes((GET_ID, GET_ID ^ 0xFF)))
            sent += 2
            try:
                got = self._read(1, min(self.timeout, 0.2))
            except NoAnswer:
                filler = False           # inside a stage that wants more bytes: keep feeding it probes
                continue
            if got[0] != ACK:
                filler = True
                continue
            filler = False
            try:
                n = self._read(1)[0]
                self._read(n + 1)
                self._ack("Get ID")
                return
            except BootloaderError:
                continue
        raise NoAnswer(f"the bootloader on {self.transport.name} does not answer any more (resync failed after "
                       f"{sent} bytes): reset the board with BOOT0 high and flash again")

    def _with_retries(self, what: str, fn: Callable[[], object]) -> object:
        last: BootloaderError | None = None
        for _ in range(self.retries + 1):
            self.stats.commands += 1
            try:
                return fn()
            except Nacked as e:
                self.stats.nacks += 1
                last = e
                self.transport.reset_input()
            except NoAnswer as e:
                self.stats.timeouts += 1
                last = e
                self.resync()
        raise BootloaderError(f"{what} failed {self.retries + 1} times: {last}")

    # -- memory ----------------------------------------------------------------------------------------------------
    def _address(self, addr: int, what: str) -> None:
        a = addr.to_bytes(4, "big")
        self.transport.write(a + bytes((_xor(a),)))
        self._ack(f"the address 0x{addr:08X} of {what}")

    def read_memory(self, addr: int, n: int) -> bytes:
        """n (1..256) bytes at addr."""
        if not 1 <= n <= MAX_BLOCK:
            raise ValueError(f"read length {n} outside 1..{MAX_BLOCK}")

        def one() -> bytes:
            self._send_command(READ_MEMORY, "Read Memory")
            self._address(addr, "Read Memory")
            self.transport.write(bytes((n - 1, (n - 1) ^ 0xFF)))
            self._ack("the length of Read Memory")
            return self._read(n)

        return self._with_retries(f"Read Memory at 0x{addr:08X}", one)  # type: ignore[return-value]

    def write_memory(self, addr: int, data: bytes) -> None:
        """Up to 256 bytes at a 4-byte aligned address (padded with 0xFF to a multiple of 4)."""
        if addr % 4:
            raise ValueError(f"write address 0x{addr:08X} is not 4-byte aligned")
        if len(data) % 4:
            data = data + b"\xff" * (4 - len(data) % 4)
        if not 1 <= len(data) <= MAX_BLOCK:
            raise ValueError(f"write length {len(data)} outside 1..{MAX_BLOCK}")
        frame = bytes((len(data) - 1,)) + data
        frame += bytes((_xor(frame),))

        def one() -> None:
            self._send_command(WRITE_MEMORY, "Write Memory")
            self._address(addr, "Write Memory")
            self.transport.write(frame)
            self._ack(f"the {len(data)} bytes written at 0x{addr:08X}", timeout=self.timeout + 0.5)

        self._with_retries(f"Write Memory at 0x{addr:08X}", one)
        self.stats.bytes_written += len(data)

    def erase(self, sectors: list[int]) -> None:
        """Erase these sectors (pages), with Extended Erase when the device's Get lists it, else standard Erase."""
        if not sectors:
            return
        info = self.info or self.connect()
        wait = self.erase_timeout * len(sectors)
        if info.extended_erase:
            body = (len(sectors) - 1).to_bytes(2, "big") + b"".join(s.to_bytes(2, "big") for s in sectors)
            code, name = EXTENDED_ERASE, "Extended Erase"
        elif ERASE in info.commands:
            if len(sectors) > 255 or max(sectors) > 255:
                raise BootloaderError("standard Erase addresses at most 255 pages numbered below 256")
            body = bytes((len(sectors) - 1, *sectors))
            code, name = ERASE, "Erase"
        else:
            raise BootloaderError(f"the bootloader (v{info.version_text}) lists neither Erase (0x43) nor Extended "
                                  f"Erase (0x44)")
        body += bytes((_xor(body),))

        def one() -> None:
            self._send_command(code, name)
            self.transport.write(body)
            self._ack(f"{name} of sectors {sectors}", timeout=wait)

        self._with_retries(f"{name} of sectors {sectors}", one)

    def check_unprotected(self, addr: int) -> None:
        """BootloaderError with what to do when read-out protection refuses reading `addr`."""
        for _ in range(2):
            self.transport.write(bytes((READ_MEMORY, READ_MEMORY ^ 0xFF)))
            if self._read(1)[0] == ACK:
                self._address(addr, "Read Memory")
                self.transport.write(bytes((0, 0xFF)))
                self._ack("the length of Read Memory")
                self._read(1)
                return
            self.transport.reset_input()
        raise BootloaderError("read-out protection (RDP level 1) is active: the bootloader refuses to read, write and "
                              "erase the flash. Remove it with Readout Unprotect, which mass-erases the flash and "
                              "resets the chip (e.g. `stm32flash -k PORT`, then reset with BOOT0 high), and flash "
                              "again")

    def go(self, addr: int, switch: Callable[[], None] | None = None) -> bool:
        """Start the application whose vector table is at addr. `switch` runs right after the address is sent
        (e.g. to set the port to the application's line settings before it prints anything); True when the final
        ACK arrived (it may not be readable after a switch of baud rate)."""

        def start() -> None:
            self._send_command(GO, "Go")

        self._with_retries(f"Go 0x{addr:08X}", start)
        a = addr.to_bytes(4, "big")
        self.transport.write(a + bytes((_xor(a),)))
        if switch is not None:
            switch()
        try:
            b = self._read(1)[0]
        except NoAnswer:
            return False
        if b == NACK:
            raise Nacked(f"the bootloader refused Go to 0x{addr:08X} (NACK): no valid vector table there?")
        return b == ACK

    # -- image -----------------------------------------------------------------------------------------------------
    def write_image(self, base: int, image: bytes, sector_of: Callable[[int], int] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> None:
        """Write `image` at `base` in blocks of 256 bytes and read every block back; a block that reads back wrong
        has its sector erased and that sector written again, once (`sector_of` maps an address to its sector)."""
        rewritten: set[int] = set()
        off = 0
        while off < len(image):
            block = image[off:off + MAX_BLOCK]
            self.write_memory(base + off, block)
            back = self.read_memory(base + off, len(block))
            self.stats.bytes_verified += len(block)
            if back != block:
                sector = sector_of(base + off) if sector_of else None
                if sector is None or sector in rewritten:
                    bad = next(i for i, (a, b) in enumerate(zip(back, block, strict=True)) if a != b)
                    raise BootloaderError(f"verify failed at 0x{base + off + bad:08X}: wrote 0x{block[bad]:02X}, "
                                          f"read 0x{back[bad]:02X}; the flash may be write-protected (Write "
                                          f"Unprotect) or worn")
                rewritten.add(sector)
                self.stats.rewrites += 1
                self.erase([sector])
                # back to the first block of that sector inside the image
                start = 0
                while sector_of(base + start) != sector:  # type: ignore[misc]
                    start += MAX_BLOCK
                off = start
                continue
            off += len(block)
            if progress:
                progress(min(off, len(image)), len(image))

    def verify_image(self, base: int, image: bytes) -> None:
        """Read the whole image back (BootloaderError at the first difference)."""
        for off in range(0, len(image), MAX_BLOCK):
            block = image[off:off + MAX_BLOCK]
            back = self.read_memory(base + off, len(block))
            self.stats.bytes_verified += len(block)
            if back != block:
                bad = next(i for i, (a, b) in enumerate(zip(back, block, strict=True)) if a != b)
                raise BootloaderError(f"verify failed at 0x{base + off + bad:08X}: expected 0x{block[bad]:02X}, "
                                      f"read 0x{back[bad]:02X}")
