"""Board file schema: typed, frozen board records and the validator that builds them from TOML data.

Every error names the file and the dotted key and says what is valid; see docs/boards.md for the format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgefmr.errors import EdgefmrError

# --------------------------------------------------------------------------------------------- vocabularies

CORES = ("cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55",
         "cortex-m85")
# FPU options each core can implement (gcc -mfpu names); "none" means soft float.
CORE_FPUS: dict[str, tuple[str, ...]] = {
    "cortex-m0": ("none",),
    "cortex-m0plus": ("none",),
    "cortex-m3": ("none",),
    "cortex-m4": ("none", "fpv4-sp-d16"),
    "cortex-m7": ("none", "fpv5-sp-d16", "fpv5-d16"),
    "cortex-m33": ("none", "fpv5-sp-d16"),
    "cortex-m55": ("none", "fpv5-d16"),
    "cortex-m85": ("none", "fpv5-d16"),
}
FPUS = ("none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16")
# DSP extension: always present on M4/M7, never on M0/M0+/M3, optional on M33, always on M55/M85 (Helium).
CORE_DSP: dict[str, tuple[bool, ...]] = {
    "cortex-m0": (False,), "cortex-m0plus": (False,), "cortex-m3": (False,),
    "cortex-m4": (True,), "cortex-m7": (True,), "cortex-m33": (False, True),
    "cortex-m55": (True,), "cortex-m85": (True,),
}
CACHE_CORES = ("cortex-m7", "cortex-m55", "cortex-m85")

# Memory region kinds: (executable, writable at run time, counted as on-chip/board SRAM for the planner).
REGION_KINDS: dict[str, tuple[bool, bool, bool]] = {
    "flash": (True, False, False),   # on-chip non-volatile program memory
    "qspi": (True, False, False),    # external memory-mapped (Q)SPI NOR flash
    "sram": (True, True, True),      # on-chip SRAM
    "ccm": (False, True, True),      # core-coupled data RAM (no instruction fetch, no DMA on STM32F4)
    "dtcm": (False, True, True),     # data tightly-coupled memory (Cortex-M7)
    "itcm": (True, True, False),     # instruction tightly-coupled memory (Cortex-M7)
    "ssram": (True, True, True),     # board-level static RAM (Arm MPS2 ZBT SSRAM)
    "sdram": (True, True, False),    # external SDRAM on the memory controller (needs init by firmware)
    "psram": (True, True, False),    # external pseudo-static RAM
}
ACCESS_MODES = ("r", "rx", "rw", "rwx")

UART_TYPES = ("stm32-usart-v1", "stm32-usart-v2", "stm32-lpuart", "cmsdk-apb-uart")
# Smallest clock/baud ratio each UART type accepts (16x oversampling; LPUART needs fck >= 3 x baud).
UART_MIN_RATIO = {"stm32-usart-v1": 16, "stm32-usart-v2": 16, "stm32-lpuart": 3, "cmsdk-apb-uart": 16}
SERIAL_CONNECTIONS = ("qemu", "st-link-vcp", "usb-uart")

FLASH_METHODS = ("qemu", "serial-bootloader", "pyocd", "openocd")
KINDS = ("mcu", "fpga")
FPGA_FAMILIES = ("zynq-7000", "zynq-ultrascale+", "kria", "artix-7", "kintex-7", "virtex-7",
                 "kintex-ultrascale", "virtex-ultrascale+", "versal")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_REGION_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PIN_RE = re.compile(r"^P[A-K](1[0-5]|[0-9])$")
_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+$")
_PART_RE = re.compile(r"^x[a-z0-9]+-[a-z0-9]+(-[a-z0-9]+)*$", re.IGNORECASE)
_MACHINE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
ADDRESS_LIMIT = 1 << 32
#: where the ARMv7-M memory map puts peripherals (Peripheral region; external Device region): a UART lives there
PERIPHERAL_REGIONS = ((0x4000_0000, 0x5FFF_FFFF), (0xA000_0000, 0xDFFF_FFFF))


# --------------------------------------------------------------------------------------------- records

@dataclass(frozen=True)
class SectorGroup:
    """`count` consecutive erase sectors (or pages) of `size` bytes each."""

    count: int
    size: int


@dataclass(frozen=True)
class MemoryRegion:
    """One address range of the board's memory map."""

    name: str
    kind: str
    origin: int
    size: int
    access: str
    sectors: tuple[SectorGroup, ...] = ()
    requires_qemu: str | None = None
    note: str = ""

    @property
    def end(self) -> int:
        """First address past the region."""
        return self.origin + self.size

    @property
    def writable(self) -> bool:
        return "w" in self.access

    @property
    def executable(self) -> bool:
        return "x" in self.access

    def sector_table(self) -> list[tuple[int, int]]:
        """Every erase sector as (address, size), in address order."""
        out, addr = [], self.origin
        for g in self.sectors:
            for _ in range(g.count):
                out.append((addr, g.size))
                addr += g.size
        return out

    def sectors_for(self, offset: int, length: int) -> list[int]:
        """Indices of the sectors that an image of `length` bytes at `offset` from the origin touches."""
        if not self.sectors:
            raise EdgefmrError(f"memory region {self.name} has no sector layout")
        if offset < 0 or length < 0 or offset + length > self.size:
            raise EdgefmrError(f"image of {length} bytes at offset {_hex(offset)} does not fit region "
                               f"{self.name} ({self.size} bytes)")
        lo, hi = self.origin + offset, self.origin + offset + length
        return [i for i, (a, s) in enumerate(self.sector_table()) if a < hi and a + s > lo]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "origin": self.origin, "size": self.size,
                             "access": self.access}
        if self.sectors:
            d["sectors"] = [{"count": g.count, "size": g.size} for g in self.sectors]
        if self.requires_qemu:
            d["requires_qemu"] = self.requires_qemu
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class MemoryDefaults:
    """Which region holds code (.text/.rodata, weights), data (.data/.bss), the tensor arena and the stack."""

    code: str
    data: str
    arena: str
    stack: str


@dataclass(frozen=True)
class SerialConfig:
    """The UART the firmware talks on and how the host reaches it."""

    uart: str
    type: str
    base: int
    baud: int
    clock_hz: int
    connection: str
    tx_pin: str | None = None
    rx_pin: str | None = None
    pin_af: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"uart": self.uart, "type": self.type, "base": self.base, "baud": self.baud,
                             "clock_hz": self.clock_hz, "connection": self.connection}
        for k in ("tx_pin", "rx_pin", "pin_af"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class QemuConfig:
    """How QEMU runs a virtual board: `qemu-system-arm -M machine [-cpu cpu]`, UART on `-serial` #serial_index."""

    machine: str
    cpu: str | None = None
    serial_index: int = 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"machine": self.machine, "serial_index": self.serial_index}
        if self.cpu:
            d["cpu"] = self.cpu
        return d


@dataclass(frozen=True)
class FlashMethod:
    """One way to put an image on the board, with its settings (keys depend on `method`, see docs)."""

    method: str
    # serial-bootloader (AN3155 ROM bootloader)
    usart: str | None = None
    tx_pin: str | None = None
    rx_pin: str | None = None
    baud: int | None = None
    via_vcp: bool | None = None
    # pyocd
    target: str | None = None
    pack: bool | None = None
    # openocd
    configs: tuple[str, ...] = ()
    adapter_khz: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method}
        for k in ("usart", "tx_pin", "rx_pin", "baud", "via_vcp", "target", "pack", "adapter_khz"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.configs:
            d["configs"] = list(self.configs)
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class FpgaResources:
    """Programmable-logic resources of an FPGA board's device and the Vitis HLS part string."""

    part: str
    family: str
    lut: int
    ff: int
    dsp: int
    bram36: int
    uram: int
    ddr_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"part": self.part, "family": self.family, "lut": self.lut, "ff": self.ff,
                             "dsp": self.dsp, "bram36": self.bram36, "uram": self.uram}
        if self.ddr_bytes is not None:
            d["ddr_bytes"] = self.ddr_bytes
        return d


@dataclass(frozen=True)
class Board:
    """A validated board file. MCU fields are empty/None on FPGA boards and vice versa."""

    name: str
    path: Path
    kind: str
    description: str
    vendor: str
    device: str
    clock_hz: int
    # MCU
    core: str | None = None
    fpu: str | None = None
    dsp: bool = False
    reset_clock_hz: int | None = None
    hse_hz: int | None = None
    icache_bytes: int = 0
    dcache_bytes: int = 0
    cflags: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()
    memory: tuple[MemoryRegion, ...] = ()
    defaults: MemoryDefaults | None = None
    serial: SerialConfig | None = None
    qemu: QemuConfig | None = None
    flash_methods: tuple[FlashMethod, ...] = ()
    default_flash_method: str | None = None
    # FPGA
    fpga: FpgaResources | None = None
    # set by the loader: the bundled file this user file shadows
    overrides: Path | None = field(default=None, compare=False)

    # -- memory helpers (MCU boards) --
    def _need_mcu(self, what: str) -> None:
        if self.kind != "mcu":
            raise EdgefmrError(f"board {self.name} is an FPGA board; it has no {what}")

    def region(self, name: str) -> MemoryRegion:
        """The memory region called `name` (EdgefmrError listing the valid names if there is none)."""
        self._need_mcu("memory regions")
        for r in self.memory:
            if r.name == name:
                return r
        raise EdgefmrError(f"board {self.name} has no memory region {name!r}; valid: "
                           f"{', '.join(r.name for r in self.memory)}")

    def flash_region(self) -> MemoryRegion:
        """The region that holds the program image (defaults.code)."""
        self._need_mcu("flash region")
        assert self.defaults is not None
        return self.region(self.defaults.code)

    def arena_region(self) -> MemoryRegion:
        self._need_mcu("arena region")
        assert self.defaults is not None
        return self.region(self.defaults.arena)

    def stack_region(self) -> MemoryRegion:
        self._need_mcu("stack region")
        assert self.defaults is not None
        return self.region(self.defaults.stack)

    def data_region(self) -> MemoryRegion:
        self._need_mcu("data region")
        assert self.defaults is not None
        return self.region(self.defaults.data)

    def sram_regions(self) -> list[MemoryRegion]:
        """On-chip (or, on MPS2, board) SRAM regions usable for data, excluding the code region."""
        if self.kind != "mcu":
            return []
        code = self.defaults.code if self.defaults else None
        return [r for r in self.memory if REGION_KINDS[r.kind][2] and r.name != code]

    def external_ram_regions(self) -> list[MemoryRegion]:
        """SDRAM/PSRAM regions (need controller set-up by the firmware before use)."""
        return [r for r in self.memory if r.kind in ("sdram", "psram")]

    @property
    def sram_bytes(self) -> int:
        return sum(r.size for r in self.sram_regions())

    @property
    def flash_bytes(self) -> int:
        return self.flash_region().size if self.kind == "mcu" else 0

    @property
    def is_virtual(self) -> bool:
        """True for boards run under QEMU."""
        return self.qemu is not None

    def flash_method(self, method: str | None = None) -> FlashMethod:
        """The settings of flash method `method` (the board's default if None)."""
        self._need_mcu("flash methods")
        want = method or self.default_flash_method
        for m in self.flash_methods:
            if m.method == want:
                return m
        raise EdgefmrError(f"board {self.name} has no flash method {want!r}; valid: "
                           f"{', '.join(m.method for m in self.flash_methods)}")

    def linker_memory(self) -> str:
        """A GNU ld MEMORY block with every region of the board."""
        self._need_mcu("linker memory map")
        lines = ["MEMORY", "{"]
        for r in self.memory:
            length = f"{r.size // 1024}K" if r.size % 1024 == 0 else f"{_hex(r.size)}"
            lines.append(f"  {r.name} ({r.access}) : ORIGIN = 0x{r.origin:08X}, LENGTH = {length}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (all fields plus the derived sram_bytes/flash_bytes)."""
        d: dict[str, Any] = {"name": self.name, "path": str(self.path), "kind": self.kind,
                             "description": self.description, "vendor": self.vendor, "device": self.device,
                             "clock_hz": self.clock_hz}
        if self.overrides is not None:
            d["overrides"] = str(self.overrides)
        if self.kind == "fpga":
            assert self.fpga is not None
            d.update(self.fpga.to_dict())
            return d
        assert self.defaults is not None
        d.update({
            "core": self.core, "fpu": self.fpu, "dsp": self.dsp, "reset_clock_hz": self.reset_clock_hz,
            "hse_hz": self.hse_hz, "icache_bytes": self.icache_bytes, "dcache_bytes": self.dcache_bytes,
            "cflags": list(self.cflags), "defines": list(self.defines),
            "sram_bytes": self.sram_bytes, "flash_bytes": self.flash_bytes,
            "memory": [r.to_dict() for r in self.memory],
            "defaults": {"code": self.defaults.code, "data": self.defaults.data, "arena": self.defaults.arena,
                         "stack": self.defaults.stack},
            "serial": self.serial.to_dict() if self.serial else None,
            "qemu": self.qemu.to_dict() if self.qemu else None,
            "flash": {"default": self.default_flash_method,
                      "methods": [m.to_dict() for m in self.flash_methods]},
        })
        return d


# --------------------------------------------------------------------------------------------- validation

class _Checker:
    """Reads typed values out of TOML tables; every failure names the file and the dotted key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, msg: str) -> EdgefmrError:
        return EdgefmrError(f"{self.path}: {key}: {msg}" if key else f"{self.path}: {msg}")

    def keys(self, table: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for k in table:
            if k not in allowed:
                raise self.fail(_join(prefix, k), f"unknown key; valid keys{' in ' + prefix if prefix else ''}: "
                                f"{', '.join(allowed)}")

    def get(self, table: dict[str, Any], key: str, prefix: str, kind: str, required: bool = True,
            default: Any = None) -> Any:
        dotted = _join(prefix, key)
        if key not in table:
            if required:
                raise self.fail(dotted, f"missing required key ({kind})")
            return default
        v = table[key]
        ok = {
            "string": lambda x: isinstance(x, str),
            "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
            "boolean": lambda x: isinstance(x, bool),
            "table": lambda x: isinstance(x, dict),
            "array of tables": lambda x: isinstance(x, list) and all(isinstance(i, dict) for i in x),
            "array of strings": lambda x: isinstance(x, list) and all(isinstance(i, str) for i in x),
        }[kind](v)
        if not ok:
            raise self.fail(dotted, f"must be {_article(kind)} {kind}, got {_describe(v)}")
        if kind == "string" and not v.strip():
            raise self.fail(dotted, "must not be empty")
        return v

    def positive(self, table: dict[str, Any], key: str, prefix: str, required: bool = True,
                 default: int | None = None) -> int | None:
        v = self.get(table, key, prefix, "integer", required, default)
        if v is not None and v <= 0:
            raise self.fail(_join(prefix, key), f"must be > 0, got {v}")
        return v

    def choice(self, table: dict[str, Any], key: str, prefix: str, valid: tuple[str, ...],
               required: bool = True, default: str | None = None) -> str | None:
        v = self.get(table, key, prefix, "string", required, default)
        if v is not None and v not in valid:
            raise self.fail(_join(prefix, key), f"unknown value {v!r}; valid: {', '.join(valid)}")
        return v

    def pattern(self, table: dict[str, Any], key: str, prefix: str, rx: re.Pattern[str], what: str,
                required: bool = True) -> str | None:
        v = self.get(table, key, prefix, "string", required)
        if v is not None and not rx.match(v):
            raise self.fail(_join(prefix, key), f"{v!r} is not {what}")
        return v


def _hex(v: int) -> str:
    return f"0x{v:08X}" if v >= 0 else str(v)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def _describe(v: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}
    return f"{names.get(type(v), type(v).__name__)} {v!r}" if not isinstance(v, (list, dict)) else \
        names[type(v)]


_COMMON_KEYS = ("name", "kind", "description", "vendor", "device", "clock_hz")
_MCU_KEYS = _COMMON_KEYS + ("core", "fpu", "dsp", "reset_clock_hz", "hse_hz", "icache_bytes", "dcache_bytes",
                            "cflags", "defines", "memory", "defaults", "serial", "qemu", "flash")
_FPGA_KEYS = _COMMON_KEYS + ("part", "family", "lut", "ff", "dsp", "bram36", "uram", "ddr_bytes")
_REGION_KEYS = ("name", "kind", "origin", "size", "access", "sectors", "requires_qemu", "note")
_DEFAULT_KEYS = ("code", "data", "arena", "stack")
_SERIAL_KEYS = ("uart", "type", "base", "baud", "clock_hz", "connection", "tx_pin", "rx_pin", "pin_af", "note")
_QEMU_KEYS = ("machine", "cpu", "serial_index")
_METHOD_KEYS: dict[str, tuple[str, ...]] = {
    "qemu": ("note",),
    "serial-bootloader": ("usart", "tx_pin", "rx_pin", "baud", "via_vcp", "note"),
    "pyocd": ("target", "pack", "note"),
    "openocd": ("configs", "adapter_khz", "note"),
}
MAX_CLOCK_HZ = 5_000_000_000  # nothing in this registry runs near 5 GHz; larger values are typos


def parse_board(data: dict[str, Any], path: Path) -> Board:
    """Validate the parsed TOML of one board file and build its `Board`."""
    c = _Checker(path)
    stem = path.stem
    if not _NAME_RE.match(stem):
        raise c.fail("", f"board file name {path.name!r} is not a valid board name (lower-case letters, "
                     "digits, '.', '_' and '-', starting with a letter or digit)")
    name = c.get(data, "name", "", "string", required=False, default=stem)
    if name != stem:
        raise c.fail("name", f"{name!r} differs from the file name; a board named {name!r} must be in "
                     f"{name}.toml (or drop the key)")
    kind = c.choice(data, "kind", "", KINDS)
    c.keys(data, _MCU_KEYS if kind == "mcu" else _FPGA_KEYS, "")
    common = dict(
        name=name, path=path, kind=kind,
        description=c.get(data, "description", "", "string", False, ""),
        vendor=c.get(data, "vendor", "", "string", False, ""),
        device=c.get(data, "device", "", "string", False, ""),
        clock_hz=_clock(c, data, "clock_hz", ""),
    )
    if kind == "fpga":
        return Board(**common, fpga=_parse_fpga(c, data))
    return _parse_mcu(c, data, common)


def _clock(c: _Checker, t: dict[str, Any], key: str, prefix: str, required: bool = True) -> int | None:
    v = c.positive(t, key, prefix, required)
    if v is not None and v > MAX_CLOCK_HZ:
        raise c.fail(_join(prefix, key), f"{v} Hz is not a plausible clock (must be <= {MAX_CLOCK_HZ} Hz)")
    return v


def _parse_fpga(c: _Checker, d: dict[str, Any]) -> FpgaResources:
    part = c.pattern(d, "part", "", _PART_RE, "a Xilinx/AMD part string such as xc7z020clg400-1")
    fam = c.choice(d, "family", "", FPGA_FAMILIES)
    res = {k: c.positive(d, k, "") for k in ("lut", "ff", "dsp", "bram36")}
    uram = c.get(d, "uram", "", "integer")
    if uram < 0:
        raise c.fail("uram", f"must be >= 0, got {uram}")
    if res["ff"] < res["lut"]:  # every AMD/Xilinx CLB has at least as many flip-flops as LUTs
        raise c.fail("ff", f"{res['ff']} flip-flops is fewer than the {res['lut']} LUTs; check the datasheet")
    ddr = c.positive(d, "ddr_bytes", "", required=False)
    return FpgaResources(part=part, family=fam, uram=uram, ddr_bytes=ddr, **res)


def _parse_mcu(c: _Checker, d: dict[str, Any], common: dict[str, Any]) -> Board:
    core = c.choice(d, "core", "", CORES)
    fpu = c.choice(d, "fpu", "", FPUS)
    if fpu not in CORE_FPUS[core]:
        raise c.fail("fpu", f"{core} cannot have FPU {fpu!r}; valid for {core}: {', '.join(CORE_FPUS[core])}")
    dsp = c.get(d, "dsp", "", "boolean")
    if dsp not in CORE_DSP[core]:
        raise c.fail("dsp", f"{core} {'always has' if not dsp else 'has no'} the DSP extension; "
                     f"valid: {str(CORE_DSP[core][0]).lower()}")
    clock = common["clock_hz"]
    reset_clock = _clock(c, d, "reset_clock_hz", "", required=False)
    if reset_clock is not None and reset_clock > clock:
        raise c.fail("reset_clock_hz", f"{reset_clock} Hz exceeds clock_hz ({clock} Hz)")
    hse = _clock(c, d, "hse_hz", "", required=False)
    caches = {}
    for k in ("icache_bytes", "dcache_bytes"):
        v = c.get(d, k, "", "integer", False, 0)
        if v < 0:
            raise c.fail(k, f"must be >= 0, got {v}")
        if v and core not in CACHE_CORES:
            raise c.fail(k, f"{core} has no cache; valid only for {', '.join(CACHE_CORES)}")
        caches[k] = v
    cflags = tuple(c.get(d, "cflags", "", "array of strings"))
    _check_cflags(c, cflags, core, fpu)
    defines = tuple(c.get(d, "defines", "", "array of strings", False, []))

    memory = _parse_memory(c, d)
    defaults = _parse_defaults(c, d, memory)
    qemu = _parse_qemu(c, d)
    for i, r in enumerate(memory):
        if r.requires_qemu and qemu is None:
            raise c.fail(f"memory[{i}].requires_qemu", "only valid on a board with a [qemu] table")
    serial = _parse_serial(c, d, memory)
    methods, default_method = _parse_flash(c, d, qemu, memory, defaults)
    return Board(**common, core=core, fpu=fpu, dsp=dsp, reset_clock_hz=reset_clock, hse_hz=hse, **caches,
                 cflags=cflags, defines=defines, memory=memory, defaults=defaults, serial=serial, qemu=qemu,
                 flash_methods=methods, default_flash_method=default_method)


def _check_cflags(c: _Checker, cflags: tuple[str, ...], core: str, fpu: str) -> None:
    mcpu = [f.split("=", 1)[1] for f in cflags if f.startswith("-mcpu=")]
    if mcpu != [core]:
        raise c.fail("cflags", f"must contain exactly one -mcpu={core} (matching core), got "
                     f"{' '.join('-mcpu=' + m for m in mcpu) or 'none'}")
    if "-mthumb" not in cflags:
        raise c.fail("cflags", "must contain -mthumb (Cortex-M cores execute Thumb code only)")
    mfpu = [f.split("=", 1)[1] for f in cflags if f.startswith("-mfpu=")]
    abi = [f.split("=", 1)[1] for f in cflags if f.startswith("-mfloat-abi=")]
    if fpu == "none":
        if any(a in ("hard", "softfp") for a in abi) or any(m != "none" for m in mfpu):
            raise c.fail("cflags", "fpu is 'none' but cflags select an FPU (-mfpu/-mfloat-abi=hard|softfp)")
    else:
        if mfpu != [fpu]:
            raise c.fail("cflags", f"must contain exactly one -mfpu={fpu} (matching fpu), got "
                         f"{' '.join('-mfpu=' + m for m in mfpu) or 'none'}")
        if len(abi) != 1 or abi[0] not in ("hard", "softfp"):
            raise c.fail("cflags", "with an FPU, must contain one -mfloat-abi=hard (or softfp)")


def _parse_memory(c: _Checker, d: dict[str, Any]) -> tuple[MemoryRegion, ...]:
    tables = c.get(d, "memory", "", "array of tables")
    if not tables:
        raise c.fail("memory", "must list at least one region ([[memory]] tables)")
    regions: list[MemoryRegion] = []
    for i, t in enumerate(tables):
        p = f"memory[{i}]"
        c.keys(t, _REGION_KEYS, p)
        name = c.pattern(t, "name", p, _REGION_RE, "a linker-script identifier (letters, digits, _)")
        if any(r.name == name for r in regions):
            raise c.fail(f"{p}.name", f"duplicate region name {name!r}")
        kind = c.choice(t, "kind", p, tuple(REGION_KINDS))
        origin = c.get(t, "origin", p, "integer")
        if not 0 <= origin < ADDRESS_LIMIT:
            raise c.fail(f"{p}.origin", f"{_hex(origin)} is outside the 32-bit address space")
        size = c.positive(t, "size", p)
        if origin + size > ADDRESS_LIMIT:
            raise c.fail(f"{p}.size", f"region ends at {_hex(origin + size)}, past the 32-bit address space")
        exe, wr, _ = REGION_KINDS[kind]
        default_access = ("rw" if wr else "r") + ("x" if exe else "")
        access = c.choice(t, "access", p, ACCESS_MODES, required=False, default=default_access)
        sectors = _parse_sectors(c, t, p, kind, size)
        rq = c.pattern(t, "requires_qemu", p, _VERSION_RE, "a QEMU version such as 8.0", required=False)
        note = c.get(t, "note", p, "string", False, "")
        regions.append(MemoryRegion(name=name, kind=kind, origin=origin, size=size, access=access,
                                    sectors=sectors, requires_qemu=rq, note=note))
    ordered = sorted(enumerate(regions), key=lambda ir: ir[1].origin)
    for (_, a), (j, b) in zip(ordered, ordered[1:], strict=False):
        if b.origin < a.end:
            raise c.fail(f"memory[{j}].origin", f"region {b.name} ({_hex(b.origin)}..{_hex(b.end - 1)}) "
                         f"overlaps region {a.name} ({_hex(a.origin)}..{_hex(a.end - 1)})")
    return tuple(regions)


def _parse_sectors(c: _Checker, t: dict[str, Any], p: str, kind: str, size: int) -> tuple[SectorGroup, ...]:
    groups = c.get(t, "sectors", p, "array of tables", False, None)
    if groups is None:
        return ()
    if kind not in ("flash", "qspi"):
        raise c.fail(f"{p}.sectors", f"only flash and qspi regions have erase sectors, this one is {kind!r}")
    if not groups:
        raise c.fail(f"{p}.sectors", "must list at least one {count, size} group")
    out = []
    for k, g in enumerate(groups):
        gp = f"{p}.sectors[{k}]"
        c.keys(g, ("count", "size"), gp)
        out.append(SectorGroup(count=c.positive(g, "count", gp), size=c.positive(g, "size", gp)))
    total = sum(g.count * g.size for g in out)
    if total != size:
        raise c.fail(f"{p}.sectors", f"sectors add up to {total} bytes but the region size is {size} bytes")
    return tuple(out)


def _parse_defaults(c: _Checker, d: dict[str, Any], memory: tuple[MemoryRegion, ...]) -> MemoryDefaults:
    t = c.get(d, "defaults", "", "table")
    c.keys(t, _DEFAULT_KEYS, "defaults")
    names = [r.name for r in memory]
    vals = {}
    for k in _DEFAULT_KEYS:
        v = c.get(t, k, "defaults", "string")
        if v not in names:
            raise c.fail(f"defaults.{k}", f"no memory region named {v!r}; valid: {', '.join(names)}")
        r = memory[names.index(v)]
        if k == "code" and not r.executable:
            raise c.fail("defaults.code", f"region {v} ({r.kind}, access {r.access}) is not executable")
        if k != "code" and not r.writable:
            raise c.fail(f"defaults.{k}", f"region {v} ({r.kind}, access {r.access}) is not writable")
        vals[k] = v
    return MemoryDefaults(**vals)


def _parse_serial(c: _Checker, d: dict[str, Any], memory: tuple[MemoryRegion, ...]) -> SerialConfig:
    t = c.get(d, "serial", "", "table")
    p = "serial"
    c.keys(t, _SERIAL_KEYS, p)
    uart = c.get(t, "uart", p, "string")
    typ = c.choice(t, "type", p, UART_TYPES)
    base = c.get(t, "base", p, "integer")
    if not 0 <= base < ADDRESS_LIMIT:
        raise c.fail("serial.base", f"{_hex(base)} is outside the 32-bit address space")
    if not any(lo <= base <= hi for lo, hi in PERIPHERAL_REGIONS):
        raise c.fail("serial.base", f"{_hex(base)} is not in a Cortex-M peripheral or device region; valid: "
                     + " or ".join(f"{_hex(lo)}–{_hex(hi)}" for lo, hi in PERIPHERAL_REGIONS))
    for r in memory:
        if r.origin <= base < r.end:
            raise c.fail("serial.base", f"{_hex(base)} lies inside memory region {r.name}; a UART base is a "
                         "peripheral address")
    baud = c.positive(t, "baud", p)
    clk = _clock(c, t, "clock_hz", p)
    if clk < UART_MIN_RATIO[typ] * baud:
        raise c.fail("serial.baud", f"{baud} baud needs a UART clock of at least {UART_MIN_RATIO[typ] * baud} Hz "
                     f"for {typ}, serial.clock_hz is {clk}")
    conn = c.choice(t, "connection", p, SERIAL_CONNECTIONS)
    tx = c.pattern(t, "tx_pin", p, _PIN_RE, "a GPIO pin name such as PA2", required=False)
    rx = c.pattern(t, "rx_pin", p, _PIN_RE, "a GPIO pin name such as PA3", required=False)
    af = c.get(t, "pin_af", p, "integer", False, None)
    if af is not None and not 0 <= af <= 15:
        raise c.fail("serial.pin_af", f"alternate function {af} is out of range; valid: 0..15")
    if typ.startswith("stm32") and conn != "qemu" and (tx is None or rx is None or af is None):
        raise c.fail("serial", "a UART on a real STM32 board needs tx_pin, rx_pin and pin_af")
    note = c.get(t, "note", p, "string", False, "")
    return SerialConfig(uart=uart, type=typ, base=base, baud=baud, clock_hz=clk, connection=conn, tx_pin=tx,
                        rx_pin=rx, pin_af=af, note=note)


def _parse_qemu(c: _Checker, d: dict[str, Any]) -> QemuConfig | None:
    t = c.get(d, "qemu", "", "table", False, None)
    if t is None:
        return None
    c.keys(t, _QEMU_KEYS, "qemu")
    machine = c.pattern(t, "machine", "qemu", _MACHINE_RE, "a QEMU machine name (see qemu-system-arm -M help)")
    cpu = c.get(t, "cpu", "qemu", "string", False, None)
    idx = c.get(t, "serial_index", "qemu", "integer", False, 0)
    if not 0 <= idx <= 7:
        raise c.fail("qemu.serial_index", f"{idx} is out of range; valid: 0..7 (the n-th -serial option)")
    return QemuConfig(machine=machine, cpu=cpu, serial_index=idx)


def _parse_flash(c: _Checker, d: dict[str, Any], qemu: QemuConfig | None, memory: tuple[MemoryRegion, ...],
                 defaults: MemoryDefaults) -> tuple[tuple[FlashMethod, ...], str]:
    t = c.get(d, "flash", "", "table")
    methods: list[FlashMethod] = []
    for key, val in t.items():
        if key == "default":
            continue
        p = f"flash.{key}"
        if key not in FLASH_METHODS:
            raise c.fail(p, f"unknown flash method; valid: {', '.join(FLASH_METHODS)} (and 'default')")
        if not isinstance(val, dict):
            raise c.fail(p, f"must be a table ([flash.{key}]), got {_describe(val)}")
        c.keys(val, _METHOD_KEYS[key], p)
        methods.append(_PARSE_METHOD[key](c, val, p, qemu, memory, defaults))
    if not methods:
        raise c.fail("flash", f"must configure at least one flash method; valid: {', '.join(FLASH_METHODS)}")
    default = c.get(t, "default", "flash", "string")
    names = [m.method for m in methods]
    if default not in names:
        raise c.fail("flash.default", f"{default!r} is not a configured method; valid: {', '.join(names)}")
    return tuple(methods), default


def _m_qemu(c: _Checker, t: dict[str, Any], p: str, qemu: QemuConfig | None, memory: Any, defaults: Any
            ) -> FlashMethod:
    if qemu is None:
        raise c.fail(p, "the qemu method needs a [qemu] table with the machine")
    return FlashMethod(method="qemu", note=c.get(t, "note", p, "string", False, ""))


def _m_serial_bootloader(c: _Checker, t: dict[str, Any], p: str, qemu: Any, memory: tuple[MemoryRegion, ...],
                         defaults: MemoryDefaults) -> FlashMethod:
    code = next(r for r in memory if r.name == defaults.code)
    if not code.sectors:
        raise c.fail(p, f"the serial bootloader erases by sector: memory region {code.name} (defaults.code) "
                     "needs a sectors list")
    baud = c.positive(t, "baud", p)
    if not 1200 <= baud <= 115200:
        raise c.fail(f"{p}.baud", f"{baud} is outside the range the STM32 ROM bootloader detects; valid: "
                     "1200..115200")
    return FlashMethod(
        method="serial-bootloader", usart=c.get(t, "usart", p, "string"),
        tx_pin=c.pattern(t, "tx_pin", p, _PIN_RE, "a GPIO pin name such as PA9"),
        rx_pin=c.pattern(t, "rx_pin", p, _PIN_RE, "a GPIO pin name such as PA10"),
        baud=baud, via_vcp=c.get(t, "via_vcp", p, "boolean"), note=c.get(t, "note", p, "string", False, ""))


def _m_pyocd(c: _Checker, t: dict[str, Any], p: str, *_: Any) -> FlashMethod:
    return FlashMethod(method="pyocd", target=c.get(t, "target", p, "string"),
                       pack=c.get(t, "pack", p, "boolean", False, False),
                       note=c.get(t, "note", p, "string", False, ""))


def _m_openocd(c: _Checker, t: dict[str, Any], p: str, *_: Any) -> FlashMethod:
    configs = c.get(t, "configs", p, "array of strings")
    if not configs:
        raise c.fail(f"{p}.configs", "must name at least one OpenOCD config file (e.g. board/st_nucleo_f4.cfg)")
    for i, f in enumerate(configs):
        if not f.endswith(".cfg"):
            raise c.fail(f"{p}.configs[{i}]", f"{f!r} is not an OpenOCD .cfg script")
    return FlashMethod(method="openocd", configs=tuple(configs),
                       adapter_khz=c.positive(t, "adapter_khz", p, required=False),
                       note=c.get(t, "note", p, "string", False, ""))


_PARSE_METHOD: dict[str, Callable[..., FlashMethod]] = {
    "qemu": _m_qemu, "serial-bootloader": _m_serial_bootloader, "pyocd": _m_pyocd, "openocd": _m_openocd,
}
