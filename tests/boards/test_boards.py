"""Board registry: bundled boards, schema errors through the real CLI, user boards, and QEMU memory maps."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgefmr.boards import bundled_dir, list_boards, load_board, load_board_file
from edgefmr.errors import EdgefmrError

EDGEFMR = Path(sys.executable).with_name("edgefmr")
REQUIRED = [
    "qemu-netduinoplus2", "qemu-mps2-an386", "qemu-mps2-an500", "stm32f746g-disco", "nucleo-f411re",
    "nucleo-f446re", "nucleo-l4r5zi", "nucleo-h743zi", "stm32f429i-disco", "pynq-z2", "ultra96-v2", "zcu102",
    "kv260",
]


def cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EDGEFMR_BOARD_PATH"}
    env.update(env_extra or {})
    return subprocess.run([str(EDGEFMR), *args], capture_output=True, text=True, env=env, timeout=60)


def main_in_process(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                    ) -> tuple[int, str, str]:
    """Run the console entry point `edgefmr.cli.main` in this process; (exit code, stdout, stderr).

    Any exception other than SystemExit escapes and fails the test: that would be a traceback for a user."""
    from edgefmr.cli import main

    monkeypatch.setattr(sys, "argv", ["edgefmr", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _no_user_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEFMR_BOARD_PATH", raising=False)


# ------------------------------------------------------------------------------------------ bundled boards

def test_all_required_boards_load_and_list() -> None:
    names = [b.name for b in list_boards()]
    assert set(REQUIRED) <= set(names)
    r = cli("boards", "list")
    assert r.returncode == 0, r.stderr
    for n in REQUIRED:
        assert n in r.stdout
    data = json.loads(cli("boards", "list", "--json").stdout)
    assert {d["name"] for d in data} >= set(REQUIRED)


def test_datasheet_figures() -> None:
    nd = load_board("qemu-netduinoplus2")
    assert (nd.core, nd.clock_hz, nd.fpu, nd.dsp) == ("cortex-m4", 168_000_000, "fpv4-sp-d16", True)
    assert nd.flash_region().origin == 0x0800_0000 and nd.flash_bytes == 1 << 20
    assert nd.sram_bytes == 192 * 1024
    assert {r.name: (r.origin, r.size) for r in nd.sram_regions()} == {
        "SRAM": (0x2000_0000, 128 * 1024), "CCM": (0x1000_0000, 64 * 1024)}
    assert nd.serial.base == 0x4001_1000 and nd.qemu.machine == "netduinoplus2"
    assert sum(s for _, s in nd.flash_region().sector_table()) == 1 << 20
    f746 = load_board("stm32f746g-disco")
    assert (f746.clock_hz, f746.sram_bytes, f746.flash_bytes) == (216_000_000, 320 * 1024, 1 << 20)
    assert [r.name for r in f746.external_ram_regions()] == ["SDRAM"] and f746.region("QSPI").kind == "qspi"
    assert load_board("stm32f429i-disco").sram_bytes == 256 * 1024
    assert load_board("nucleo-l4r5zi").sram_bytes == 640 * 1024
    assert load_board("nucleo-f411re").sram_bytes == 128 * 1024
    for name, machine, core in (("qemu-mps2-an386", "mps2-an386", "cortex-m4"),
                                ("qemu-mps2-an500", "mps2-an500", "cortex-m7")):
        b = load_board(name)
        assert (b.qemu.machine, b.core, b.serial.base, b.serial.type) == (
            machine, core, 0x4000_4000, "cmsdk-apb-uart")
        assert b.flash_region().origin == 0 and b.arena_region().origin == 0x2000_0000
    k = load_board("kv260").fpga
    assert (k.lut, k.ff, k.dsp, k.bram36, k.uram) == (117_120, 234_240, 1_248, 144, 64)
    z = load_board("pynq-z2").fpga
    assert (z.part, z.lut, z.dsp, z.bram36, z.uram) == ("xc7z020clg400-1", 53_200, 220, 140, 0)


def test_helpers() -> None:
    b = load_board("stm32f429i-disco")
    # bank 2 starts at 0x08100000 with sector 12
    assert b.flash_region().sector_table()[12] == (0x0810_0000, 16 * 1024)
    assert b.flash_region().sectors_for(0, 0x4001) == [0, 1]
    assert b.flash_method().method == "openocd" and b.flash_method("serial-bootloader").via_vcp is True
    mem = b.linker_memory()
    assert "FLASH (rx) : ORIGIN = 0x08000000, LENGTH = 2048K" in mem
    assert "CCM (rw) : ORIGIN = 0x10000000, LENGTH = 64K" in mem
    with pytest.raises(EdgefmrError, match="no memory region 'SRAM9'; valid: CCM, FLASH, SRAM, SDRAM"):
        b.region("SRAM9")
    with pytest.raises(EdgefmrError, match="no flash method 'pyocdx'"):
        b.flash_method("pyocdx")
    with pytest.raises(EdgefmrError, match="FPGA board"):
        load_board("zcu102").region("SRAM")
    assert load_board().name == "qemu-netduinoplus2"


def test_show_text_and_json() -> None:
    r = cli("boards", "show", "nucleo-h743zi")
    assert r.returncode == 0, r.stderr
    assert "0x24000000" in r.stdout and "USART3" in r.stdout and "openocd (default)" in r.stdout
    d = json.loads(cli("boards", "show", "qemu-mps2-an500", "--json").stdout)
    assert d["qemu"]["machine"] == "mps2-an500" and d["fpu"] == "fpv5-d16"
    assert d["memory"][0] == {"name": "SSRAM1", "kind": "ssram", "origin": 0, "size": 4 << 20, "access": "rwx",
                              "note": d["memory"][0]["note"]}


def test_unknown_board_lists_known_names() -> None:
    r = cli("boards", "show", "nucleo-f999")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "unknown board 'nucleo-f999'" in r.stderr and "nucleo-f411re" in r.stderr


# ------------------------------------------------------------------------------------------ invalid files

GOOD = (bundled_dir() / "nucleo-f411re.toml").read_text()
GOOD_FPGA = (bundled_dir() / "pynq-z2.toml").read_text()


def _sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


BAD_CASES = [
    # (id, file text, key named in the message, further text the message must contain)
    ("unknown-top-key", "clock_mhz = 100\n" + GOOD, "clock_mhz", "unknown key; valid keys: name, kind"),
    ("unknown-region-key", _sub(GOOD, 'kind = "sram"', 'kind = "sram"\nbank = 1'), "memory[1].bank",
     "valid keys in memory[1]: name, kind, origin, size"),
    ("missing-core", _sub(GOOD, 'core = "cortex-m4"\n', ""), "core", "missing required key"),
    ("wrong-type", _sub(GOOD, "clock_hz = 100_000_000", 'clock_hz = "100 MHz"'), "clock_hz",
     "must be an integer, got string '100 MHz'"),
    ("size-zero", _sub(GOOD, "size = 0x2_0000  # 128 KiB", "size = 0"), "memory[1].size", "must be > 0"),
    ("overlap", _sub(GOOD, "origin = 0x2000_0000", "origin = 0x0807_0000"), "memory[1].origin",
     "overlaps region FLASH"),
    ("clock-negative", _sub(GOOD, "clock_hz = 100_000_000", "clock_hz = -1"), "clock_hz", "must be > 0"),
    ("unknown-core", _sub(GOOD, 'core = "cortex-m4"', 'core = "cortex-m5"'), "core",
     "valid: cortex-m0, cortex-m0plus"),
    ("fpu-core", _sub(GOOD, 'fpu = "fpv4-sp-d16"', 'fpu = "fpv5-d16"'), "fpu", "cortex-m4 cannot have FPU"),
    ("cflags-mcpu", _sub(GOOD, '"-mcpu=cortex-m4"', '"-mcpu=cortex-m7"'), "cflags", "-mcpu=cortex-m4"),
    ("unknown-flash-method", GOOD + "\n[flash.jtag]\ntarget = 'x'\n", "flash.jtag",
     "valid: qemu, serial-bootloader, pyocd, openocd"),
    ("flash-default", _sub(GOOD, 'default = "openocd"', 'default = "stlink"'), "flash.default",
     "valid: openocd, pyocd, serial-bootloader"),
    ("default-region", _sub(GOOD, 'arena = "SRAM"', 'arena = "SRAM2"'), "defaults.arena",
     "no memory region named 'SRAM2'; valid: FLASH, SRAM"),
    ("stack-in-flash", _sub(GOOD, 'stack = "SRAM"', 'stack = "FLASH"'), "defaults.stack", "is not writable"),
    ("sectors-sum", _sub(GOOD, "{ count = 3, size = 0x2_0000 }", "{ count = 2, size = 0x2_0000 }"),
     "memory[0].sectors", "add up to 393216 bytes but the region size is 524288"),
    ("baud-too-fast", _sub(GOOD, "baud = 115200\nclock_hz = 50_000_000", "baud = 4_000_000\nclock_hz = 50_000_000"),
     "serial.baud", "needs a UART clock of at least"),
    ("bootloader-baud", _sub(GOOD, 'rx_pin = "PA10"\nbaud = 115200', 'rx_pin = "PA10"\nbaud = 921600'),
     "flash.serial-bootloader.baud", "valid: 1200..115200"),
    ("bad-pin", _sub(GOOD, 'tx_pin = "PA2"', 'tx_pin = "A2"'), "serial.tx_pin", "not a GPIO pin name"),
    ("bool-as-int", _sub(GOOD, "dsp = true", "dsp = 1"), "dsp", "must be a boolean"),
    ("name-mismatch", 'name = "other-board"\n' + GOOD, "name", "differs from the file name"),
    ("region-past-4g", _sub(GOOD, "origin = 0x2000_0000", "origin = 0xFFFF_0000"), "memory[1].size",
     "past the 32-bit address space"),
    ("qemu-method-without-qemu", GOOD + "\n[flash.qemu]\n", "flash.qemu", "needs a [qemu] table"),
    ("fpga-ff-lt-lut", _sub(GOOD_FPGA, "ff = 106_400", "ff = 10_640"), "ff", "fewer than the 53200 LUTs"),
    ("fpga-missing-part", _sub(GOOD_FPGA, 'part = "xc7z020clg400-1"\n', ""), "part", "missing required key"),
    ("fpga-mcu-key", GOOD_FPGA + 'core = "cortex-m4"\n', "core", "unknown key; valid keys: name, kind"),
    ("unknown-kind", _sub(GOOD_FPGA, 'kind = "fpga"', 'kind = "asic"'), "kind", "valid: mcu, fpga"),
]


@pytest.mark.parametrize("text,key,expect", [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_invalid_board_file_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str], text: str, key: str, expect: str) -> None:
    f = tmp_path / "my-board.toml"
    f.write_text(text)
    code, out, err = main_in_process(["boards", "show", "my-board", "--board-file", str(f)], monkeypatch, capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {f}: {key}: "), lines[0]
    assert expect in lines[0], lines[0]


@pytest.mark.parametrize("case", ["unknown-region-key", "overlap", "fpga-ff-lt-lut"])
def test_invalid_board_file_subprocess(tmp_path: Path, case: str) -> None:
    """A few of the cases through the installed `edgefmr` executable: one line, exit 2, no traceback."""
    text, key, expect = next(c[1:] for c in BAD_CASES if c[0] == case)
    f = tmp_path / "my-board.toml"
    f.write_text(text)
    r = cli("boards", "show", "my-board", "--board-file", str(f))
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == ""
    assert r.stderr.startswith(f"error: {f}: {key}: ") and r.stderr.count("\n") == 1, r.stderr
    assert expect in r.stderr


def test_invalid_toml_syntax(tmp_path: Path) -> None:
    f = tmp_path / "broken.toml"
    f.write_text(GOOD.replace('kind = "mcu"', 'kind = "mcu'))
    r = cli("boards", "show", "broken", "--board-file", str(f))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert re.fullmatch(rf"error: {re.escape(str(f))}: invalid TOML: .*line \d+.*\n", r.stderr), r.stderr


def test_missing_and_non_toml_board_file(tmp_path: Path) -> None:
    r = cli("boards", "show", "x", "--board-file", str(tmp_path / "x.toml"))
    assert r.returncode == 2 and "board file not found" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "x.txt").write_text(GOOD)
    r = cli("boards", "show", "x", "--board-file", str(tmp_path / "x.txt"))
    assert r.returncode == 2 and ".toml extension" in r.stderr


def test_every_bad_case_fails_in_process(tmp_path: Path) -> None:
    """The same cases through the library: EdgefmrError, and the good file itself loads."""
    f = tmp_path / "my-board.toml"
    f.write_text(GOOD)
    assert load_board_file(f).name == "my-board"
    for _, text, key, _ in BAD_CASES:
        f.write_text(text)
        with pytest.raises(EdgefmrError, match=re.escape(f"{f}: {key}: ")):
            load_board_file(f)


# ------------------------------------------------------------------------------------------ user boards

def test_board_file_option_and_name_mismatch(tmp_path: Path) -> None:
    f = tmp_path / "my-f411.toml"
    f.write_text(GOOD.replace("clock_hz = 100_000_000", "clock_hz = 84_000_000"))
    b = load_board(None, str(f))
    assert (b.name, b.clock_hz, b.overrides) == ("my-f411", 84_000_000, None)
    assert load_board(str(f)).name == "my-f411"  # a path works as the name too
    with pytest.raises(EdgefmrError, match="defines board 'my-f411'"):
        load_board("nucleo-f411re", str(f))
    r = cli("boards", "show", "my-f411", "--board-file", str(f), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["clock_hz"] == 84_000_000


def test_board_path_env_adds_and_overrides(tmp_path: Path) -> None:
    d1, d2 = tmp_path / "a", tmp_path / "b"
    d1.mkdir()
    d2.mkdir()
    (d1 / "lab-board.toml").write_text(GOOD)
    (d2 / "lab-board.toml").write_text(GOOD.replace("clock_hz = 100_000_000", "clock_hz = 64_000_000"))
    (d2 / "nucleo-f411re.toml").write_text(GOOD.replace("clock_hz = 100_000_000", "clock_hz = 96_000_000"))
    env = {"EDGEFMR_BOARD_PATH": os.pathsep.join([str(d1), str(d2)])}
    data = {d["name"]: d for d in json.loads(cli("boards", "list", "--json", env_extra=env).stdout)}
    assert data["lab-board"]["clock_hz"] == 100_000_000  # the first directory wins
    assert data["nucleo-f411re"]["clock_hz"] == 96_000_000
    assert data["nucleo-f411re"]["overrides"] == str(bundled_dir() / "nucleo-f411re.toml")
    assert "overrides" not in data["nucleo-f446re"]
    r = cli("boards", "show", "nucleo-f411re", env_extra=env)
    assert r.returncode == 0 and "overrides the bundled board file" in r.stdout
    listing = cli("boards", "list", env_extra=env).stdout
    row = next(ln for ln in listing.splitlines() if ln.split()[:1] == ["nucleo-f411re"])
    assert row.split()[-1] == "user*" and "user*: a user file that overrides a bundled board" in " ".join(
        listing.split())


def test_board_path_env_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("bogus = 1\n" + GOOD)
    r = cli("boards", "list", env_extra={"EDGEFMR_BOARD_PATH": str(tmp_path)})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == f"error: {tmp_path / 'bad.toml'}: bogus: unknown key; valid keys: " \
        f"{r.stderr.split('valid keys: ', 1)[1]}"
    r = cli("boards", "list", env_extra={"EDGEFMR_BOARD_PATH": str(tmp_path / "nope")})
    assert r.returncode == 2 and "is not a directory" in r.stderr


# ------------------------------------------------------------------------------------------ QEMU memory maps

_PROBE_C = r"""
#include <stdint.h>
#define REG32(a) (*(volatile uint32_t *)(a))
static void uart_init(void) {
#if UART_CMSDK
  REG32(UART_BASE + 0x10) = UART_CLK / BAUD;   /* BAUDDIV */
  REG32(UART_BASE + 0x08) = 1;                 /* CTRL: TX enable */
#else
  REG32(UART_BASE + 0x08) = UART_CLK / BAUD;   /* BRR */
  REG32(UART_BASE + 0x0C) = (1u << 13) | (1u << 3);  /* CR1: UE | TE */
#endif
}
static void put(char c) {
#if UART_CMSDK
  while (REG32(UART_BASE + 0x04) & 1u) {}
  REG32(UART_BASE + 0x00) = (uint8_t)c;
#else
  while (!(REG32(UART_BASE + 0x00) & (1u << 7))) {}
  REG32(UART_BASE + 0x04) = (uint8_t)c;
#endif
}
static void puts_(const char *s) { while (*s) put(*s++); }
static void sh_exit(void) {
  register uint32_t r0 __asm__("r0") = 0x18, r1 __asm__("r1") = 0x20026;
  __asm__ volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
  for (;;) {}
}
static int probe(uint32_t a) {
  uint32_t old = REG32(a); int ok;
  REG32(a) = 0xA5A55A5Au; ok = REG32(a) == 0xA5A55A5Au;
  REG32(a) = 0x5A5AA5A5u; ok = ok && REG32(a) == 0x5A5AA5A5u;
  REG32(a) = old; return ok;
}
void fault(void) { puts_("FAULT\n"); sh_exit(); }
void reset(void) {
  uart_init();
  PROBES
  puts_("DONE\n");
  sh_exit();
}
__attribute__((section(".vectors"), used)) const void *vectors[4] = {(void *)STACK_TOP, reset, fault, fault};
"""


def _qemu_version() -> tuple[int, int]:
    out = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\d+)\.(\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


@pytest.mark.emulator
@pytest.mark.parametrize("name", ["qemu-netduinoplus2", "qemu-mps2-an386", "qemu-mps2-an500"])
def test_qemu_board_memory_map_and_uart(tmp_path: Path, name: str) -> None:
    """Build a probe with the board's cflags and MEMORY map; under QEMU it writes every writable region
    through the board's UART on the board's -serial index."""
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    b = load_board(name)
    qv = _qemu_version()
    probes, expect = [], []
    for r in b.memory:
        if not r.writable or r.kind in ("sdram",):
            continue
        if r.requires_qemu and qv < tuple(int(x) for x in r.requires_qemu.split(".")):
            continue
        probes.append(f'puts_("{r.name} "); puts_(probe({r.origin:#x}u) && probe({r.end - 4:#x}u) ? '
                      f'"ok\\n" : "BAD\\n");')
        expect.append(f"{r.name} ok")
    src = tmp_path / "probe.c"
    src.write_text(_PROBE_C.replace("PROBES", "\n  ".join(probes)))
    code = b.flash_region().name
    (tmp_path / "probe.ld").write_text(
        b.linker_memory() + f"SECTIONS {{ .text : {{ KEEP(*(.vectors)) *(.text*) *(.rodata*) }} > {code} }}\n")
    s = b.serial
    elf = tmp_path / "probe.elf"
    subprocess.run(["arm-none-eabi-gcc", *b.cflags, "-Os", "-ffreestanding", "-nostdlib", "-nostartfiles",
                    f"-DUART_BASE={s.base:#x}u", f"-DUART_CLK={s.clock_hz}u", f"-DBAUD={s.baud}u",
                    f"-DUART_CMSDK={int(s.type == 'cmsdk-apb-uart')}", f"-DSTACK_TOP={b.stack_region().end:#x}u",
                    "-T", str(tmp_path / "probe.ld"), "-o", str(elf), str(src)], check=True)
    cmd = ["qemu-system-arm", "-M", b.qemu.machine, "-display", "none", "-monitor", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
    if b.qemu.cpu:
        cmd += ["-cpu", b.qemu.cpu]
    cmd += ["-serial", "null"] * b.qemu.serial_index + ["-serial", "stdio"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.stdout.split() == " ".join(expect + ["DONE"]).split(), (r.stdout, r.stderr)
    assert r.returncode == 0
