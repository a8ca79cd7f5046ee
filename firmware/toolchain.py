"""Toolchain drivers: arm-none-eabi-gcc for boards, the host C compiler for `--board host`.

Everything board-specific that the C runtime needs comes from the board file: compiler flags (`cflags`),
the generated `efm_board.h` (clocks, UART type and base, FPU, virtual or real) and the generated linker script
(the board's memory map, code/data/stack regions, one arena section per arena region, the stack at the top of the
stack region).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from edgefmr.boards import Board
from edgefmr.errors import EdgefmrError

#: Folder of the C backend sources (runtime, kernels).
C_DIR = Path(__file__).resolve().parent / "c"
RUNTIME_DIR = C_DIR / "runtime"
KERNEL_DIR = C_DIR / "kernels"

#: Flags of every build: C99, warnings are errors, sections per function/object for --gc-sections.
COMMON_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections",
                 "-fno-common")
#: Target-only flags: per-function stack usage and the call graph, for the stack estimate (firmware/elfsize.py).
ARM_CFLAGS = ("-fstack-usage", "-fcallgraph-info=su", "-fno-builtin-printf")
ARM_LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,--print-memory-usage")

#: UART driver source per board `serial.type`.
UART_DRIVERS = {"stm32-usart-v1": "uart_stm32_usart_v1.c", "stm32-usart-v2": "uart_stm32_usart_v2.c",
                "cmsdk-apb-uart": "uart_cmsdk_apb_uart.c"}

#: Clock-tree set-up source per device family of real boards (QEMU boards skip it: QEMU has no RCC model).
CLOCK_SOURCES = {"stm32f4": "clock_stm32f4f7.c", "stm32f7": "clock_stm32f4f7.c"}
#: Bus limits (APB1, APB2 max Hz) and over-drive threshold (Hz, None: no over-drive) per device line.
_F4F7_LINES = (
    ("STM32F401", 42_000_000, 84_000_000, None), ("STM32F405", 42_000_000, 84_000_000, None),
    ("STM32F407", 42_000_000, 84_000_000, None), ("STM32F415", 42_000_000, 84_000_000, None),
    ("STM32F417", 42_000_000, 84_000_000, None), ("STM32F41", 50_000_000, 100_000_000, None),
    ("STM32F42", 45_000_000, 90_000_000, 168_000_000), ("STM32F43", 45_000_000, 90_000_000, 168_000_000),
    ("STM32F446", 45_000_000, 90_000_000, 168_000_000), ("STM32F469", 45_000_000, 90_000_000, 168_000_000),
    ("STM32F479", 45_000_000, 90_000_000, 168_000_000), ("STM32F7", 54_000_000, 108_000_000, 180_000_000),
)
#: USART/UART peripheral -> (APB bus, enable bit in RCC_APBxENR) on STM32F4/F7.
_F4F7_UARTS = {"USART1": (2, 4), "USART6": (2, 5), "USART2": (1, 17), "USART3": (1, 18), "UART4": (1, 19),
               "UART5": (1, 20), "UART7": (1, 30), "UART8": (1, 31)}
_HSI_HZ = 16_000_000

#: Default stack size of target builds (bytes); the build checks the stack estimate against it.
DEFAULT_STACK_BYTES = 8192


@dataclass(frozen=True)
class Toolchain:
    """The programs and flags of one build target (`board is None` for the host)."""

    board: Board | None
    cc: str
    objcopy: str | None
    size: str | None
    nm: str | None
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]

    @property
    def is_host(self) -> bool:
        return self.board is None


def find_tool(name: str, hint: str) -> str:
    """The path of program `name`; EdgefmrError with an install hint when it is missing."""
    path = shutil.which(name)
    if path is None:
        raise EdgefmrError(f"{name} not found on PATH; {hint}")
    return path


_ARM_HINT = "install the Debian packages gcc-arm-none-eabi and libnewlib-arm-none-eabi (scripts/setup.sh does)"


def toolchain(board: Board | None) -> Toolchain:
    """The toolchain for `board` (an MCU board), or the host C compiler when `board` is None."""
    if board is None:
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise EdgefmrError("no host C compiler (cc or gcc) on PATH; install build-essential")
        return Toolchain(None, cc, None, None, None, COMMON_CFLAGS, ())
    if board.kind != "mcu":
        raise EdgefmrError(f"board {board.name} is an FPGA board; the C firmware backend builds for MCU boards "
                           f"(or --board host)")
    return Toolchain(
        board=board,
        cc=find_tool("arm-none-eabi-gcc", _ARM_HINT),
        objcopy=find_tool("arm-none-eabi-objcopy", _ARM_HINT),
        size=find_tool("arm-none-eabi-size", _ARM_HINT),
        nm=find_tool("arm-none-eabi-nm", _ARM_HINT),
        cflags=(*board.cflags, *(f"-D{d}" for d in board.defines), *COMMON_CFLAGS, *ARM_CFLAGS),
        ldflags=ARM_LDFLAGS,
    )


def uart_driver(board: Board) -> str:
    """The runtime source file of the board's UART; EdgefmrError when edgefmr has no driver for its type."""
    assert board.serial is not None
    try:
        return UART_DRIVERS[board.serial.type]
    except KeyError:
        raise EdgefmrError(f"{board.path}: serial.type {board.serial.type!r} has no UART driver in edgefmr yet; "
                           f"drivers exist for: {', '.join(UART_DRIVERS)}") from None


def device_family(board: Board) -> str:
    """"stm32f4", "stm32f7", ... from the board's device name (lower case, 7 characters), or "" when unknown."""
    d = board.device.upper()
    return d[:7].lower() if d.startswith("STM32") else ""


def clock_config(board: Board) -> dict[str, int]:
    """PLL, flash wait states, APB prescalers and UART wiring of a real STM32F4/F7 board, from its board file:
    the PLL runs from the 16 MHz HSI (no assumption about the board's crystal or ST-LINK clock), VCO input 2 MHz,
    SYSCLK = VCO / 2. EdgefmrError when the board's clock or UART bus clock cannot be produced exactly."""
    fam = device_family(board)
    if board.is_virtual:
        return {}
    if fam not in CLOCK_SOURCES:
        raise EdgefmrError(f"{board.path}: device {board.device} has no clock-tree set-up in edgefmr (supported "
                           f"families: STM32F4, STM32F7); real boards must run at their board file's clock_hz")
    line = next((x for x in _F4F7_LINES if board.device.upper().startswith(x[0])), None)
    if line is None:
        raise EdgefmrError(f"{board.path}: device {board.device}: unknown STM32F4/F7 line for the bus limits")
    _, apb1_max, apb2_max, od_above = line
    hz = board.clock_hz
    m, p = 8, 2
    vco = hz * p
    n = vco // (_HSI_HZ // m)
    if vco % (_HSI_HZ // m) or not 50 <= n <= 432 or not 100_000_000 <= vco <= 432_000_000:
        raise EdgefmrError(f"{board.path}: clock_hz = {hz} cannot be made exactly from the 16 MHz HSI "
                           f"(PLL: 2 MHz x N / 2 with N in 50..432)")
    q = min(15, max(2, -(-vco // 48_000_000)))
    ppre = {1: 0, 2: 4, 4: 5, 8: 6, 16: 7}

    def div(limit: int) -> int:
        d = 1
        while hz // d > limit:
            d *= 2
        return d

    d1, d2 = div(apb1_max), div(apb2_max)
    assert board.serial is not None
    if board.serial.uart not in _F4F7_UARTS:
        raise EdgefmrError(f"{board.path}: serial.uart {board.serial.uart!r} is not a USART/UART edgefmr can clock; "
                           f"valid: {', '.join(_F4F7_UARTS)}")
    bus, bit = _F4F7_UARTS[board.serial.uart]
    bus_hz = hz // (d1 if bus == 1 else d2)
    if bus_hz != board.serial.clock_hz:
        raise EdgefmrError(f"{board.path}: serial.clock_hz = {board.serial.clock_hz}, but {board.serial.uart} sits on "
                           f"APB{bus} at {bus_hz} Hz with the core at {hz} Hz")
    pins = []
    for key in ("tx_pin", "rx_pin"):
        pin = getattr(board.serial, key)
        if pin is None or board.serial.pin_af is None:
            raise EdgefmrError(f"{board.path}: serial.{key} and serial.pin_af are needed on a real board")
        pins += [ord(pin[1]) - ord("A"), int(pin[2:])]
    latency = -(-hz // 30_000_000) - 1  # 2.7-3.6 V
    acr = latency | (0x300 if fam == "stm32f7" else 0x700)  # prefetch + ART (F7) / caches (F4)
    return {"EFM_PLL_M": m, "EFM_PLL_N": n, "EFM_PLL_P": p, "EFM_PLL_Q": q, "EFM_PPRE1": ppre[d1],
            "EFM_PPRE2": ppre[d2], "EFM_FLASH_ACR": acr, "EFM_OVERDRIVE": int(od_above is not None and hz > od_above),
            "EFM_UART_APB": bus, "EFM_UART_ENABLE_BIT": bit, "EFM_UART_TX_PORT": pins[0], "EFM_UART_TX_PIN": pins[1],
            "EFM_UART_RX_PORT": pins[2], "EFM_UART_RX_PIN": pins[3], "EFM_UART_AF": board.serial.pin_af}


def board_header(board: Board, semihosting: bool) -> str:
    """The generated `efm_board.h`: the board facts the runtime C code is compiled with."""
    assert board.serial is not None
    core = board.core.replace("-", "_").upper() if board.core else "UNKNOWN"
    lines = [
        f"/* Generated by edgefmr from {board.path.name}; do not edit. */",
        "#ifndef EFM_BOARD_H",
        "#define EFM_BOARD_H",
        f'#define EFM_BOARD_NAME "{board.name}"',
        f"#define EFM_CORE_{core} 1",
        f"#define EFM_CORE_CLOCK_HZ {board.clock_hz}u",
        f"#define EFM_VIRTUAL_BOARD {1 if board.is_virtual else 0}",
        f"#define EFM_HAS_FPU {0 if (board.fpu or 'none') == 'none' else 1}",
        f"#define EFM_UART_TYPE_{board.serial.type.replace('-', '_').upper()} 1",
        f"#define EFM_UART_BASE 0x{board.serial.base:08X}u",
        f"#define EFM_UART_BAUD {board.serial.baud}u",
        f"#define EFM_UART_CLOCK_HZ {board.serial.clock_hz}u",
        f"#define EFM_SEMIHOSTING {1 if semihosting else 0}",
        *(f"#define {k} {v}u" for k, v in clock_config(board).items()),
        "#endif",
        "",
    ]
    return "\n".join(lines)


def arena_section(region: str) -> str:
    """The input section name of the arena placed in memory region `region`."""
    return f".bss.efm_arena.{region}"


def linker_script(board: Board, arena_regions: list[str], stack_bytes: int = DEFAULT_STACK_BYTES) -> str:
    """A GNU ld script for `board`: its memory map, code/rodata in defaults.code, .data/.bss in defaults.data, one
    NOLOAD arena section per region of `arena_regions`, and the stack at the top of defaults.stack."""
    assert board.defaults is not None
    code, data, stack = board.defaults.code, board.defaults.data, board.defaults.stack
    for name in {code, data, stack, *arena_regions}:
        board.region(name)  # EdgefmrError for a region the board does not have
    if stack_bytes % 8 or stack_bytes <= 0:
        raise EdgefmrError(f"stack size {stack_bytes} must be a positive multiple of 8 bytes")
    if stack_bytes > board.region(stack).size:
        raise EdgefmrError(f"stack of {stack_bytes} bytes does not fit region {stack} "
                           f"({board.region(stack).size} bytes) of board {board.name}")
    arenas = "".join(
        f"  .efm_arena_{r} (NOLOAD) :\n  {{\n    . = ALIGN(16);\n    KEEP(*({arena_section(r)}))\n"
        f"    . = ALIGN(16);\n  }} > {r}\n\n" for r in arena_regions)
    return f"""/* Generated by edgefmr from {board.path.name}; do not edit. */
{board.linker_memory()}
ENTRY(Reset_Handler)
__efm_stack_bytes = {stack_bytes};

SECTIONS
{{
  .isr_vector :
  {{
    . = ALIGN(4);
    KEEP(*(.isr_vector))
  }} > {code}

  .text :
  {{
    . = ALIGN(4);
    *(.text .text.*)
    *(.glue_7) *(.glue_7t) *(.vfp11_veneer) *(.v4_bx)
    KEEP(*(.init)) KEEP(*(.fini))
  }} > {code}

  .rodata :
  {{
    . = ALIGN(4);
    *(.rodata .rodata.*)
    . = ALIGN(4);
  }} > {code}

  .ARM.extab : {{ *(.ARM.extab* .gnu.linkonce.armextab.*) }} > {code}
  .ARM.exidx :
  {{
    __exidx_start = .;
    *(.ARM.exidx* .gnu.linkonce.armexidx.*)
    __exidx_end = .;
  }} > {code}

  .data :
  {{
    . = ALIGN(4);
    _sdata = .;
    *(.data .data.*)
    . = ALIGN(4);
    _edata = .;
  }} > {data} AT> {code}
  _sidata = LOADADDR(.data);

{arenas}  .bss (NOLOAD) :
  {{
    . = ALIGN(4);
    _sbss = .;
    *(.bss .bss.*)
    *(COMMON)
    . = ALIGN(4);
    _ebss = .;
  }} > {data}
  end = _ebss;

  .stack ORIGIN({stack}) + LENGTH({stack}) - __efm_stack_bytes (NOLOAD) :
  {{
    _sstack = .;
    . = . + __efm_stack_bytes;
    _estack = .;
  }} > {stack}

  /DISCARD/ : {{ *(.note.GNU-stack) *(.gnu_debuglink) }}
}}
"""


def runtime_sources(board: Board | None, main: str) -> list[Path]:
    """The runtime C files of a build with main `main` ("host", "semihost" or "protocol")."""
    mains = {"host": "main_host.c", "semihost": "main_semihost.c", "protocol": "main_protocol.c"}
    if main not in mains:
        raise EdgefmrError(f"unknown firmware main {main!r}; valid: {', '.join(mains)}")
    if board is None:
        if main != "host":
            raise EdgefmrError(f"--board host builds the host main, not {main!r}")
        return [RUNTIME_DIR / "main_host.c"]
    if main == "host":
        raise EdgefmrError(f"the host main runs on the build machine; board {board.name} needs 'semihost' or "
                           f"'protocol'")
    files = ["startup.c", "semihost.c", "format.c", "counter.c", uart_driver(board), mains[main]]
    if not board.is_virtual:
        clock_config(board)  # EdgefmrError for a family without clock set-up
        files.append(CLOCK_SOURCES[device_family(board)])
    if main == "protocol":
        files += ["protocol.c", "protocol.h", "mlperf.c", "mlperf.h"]
    out = [RUNTIME_DIR / f for f in files]
    missing = [p for p in out if not p.is_file()]
    if missing:
        raise EdgefmrError(f"runtime source {missing[0].name} is missing from {RUNTIME_DIR}")
    return out


def runtime_headers(board: Board | None) -> list[Path]:
    """Runtime headers copied beside the sources."""
    return [] if board is None else [RUNTIME_DIR / "efm_runtime.h", RUNTIME_DIR / "protocol.h",
                                     RUNTIME_DIR / "mlperf.h"]
