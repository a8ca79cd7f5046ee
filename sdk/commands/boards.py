"""`edgefmr boards list` and `edgefmr boards show`: the board registry from the command line."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from edgefmr.boards import Board, bundled_dir, list_boards, load_board

if TYPE_CHECKING:
    from rich.console import Console


def fmt_bytes(n: int) -> str:
    """Bytes as KiB/MiB/GiB when exact, else as a plain count."""
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


def fmt_hz(hz: int) -> str:
    """A frequency in MHz (or kHz/Hz when smaller)."""
    if hz >= 1_000_000:
        mhz = hz / 1e6
        return f"{mhz:g} MHz"
    if hz >= 1000:
        return f"{hz / 1e3:g} kHz"
    return f"{hz} Hz"


def _console() -> Console:
    from edgefmr.commands._term import console

    return console()


@click.group()
def boards() -> None:
    """List the known boards and show what a board file states."""


@boards.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print all boards as a JSON array (nothing else).")
def list_cmd(as_json: bool) -> None:
    """Every board: the bundled ones and those in EDGEFMR_BOARD_PATH directories."""
    found = list_boards()
    if as_json:
        click.echo(json.dumps([b.to_dict() for b in found], indent=2))
        return
    from edgefmr.commands._term import table

    rows = []
    for b in found:
        src = "user*" if b.overrides else ("user" if not _is_bundled(b) else "bundled")
        if b.kind == "mcu":
            assert b.defaults is not None
            rows.append((b.name, b.core, fmt_hz(b.clock_hz), fmt_bytes(b.sram_bytes),
                         fmt_bytes(b.region(b.defaults.arena).size), fmt_bytes(b.flash_bytes), src))
        else:
            assert b.fpga is not None
            rows.append((b.name, b.fpga.part, fmt_hz(b.clock_hz), f"{b.fpga.lut:,}", f"{b.fpga.bram36:,}",
                         f"{b.fpga.dsp:,}", src))
    heads = ("name", "core / part", "clock", "SRAM/LUT", "arena/BRAM", "flash/DSP", "source")
    if all(r[-1] == "bundled" for r in rows):
        heads, rows = heads[:-1], [r[:-1] for r in rows]
    con = _console()
    con.print(table(heads, rows, keep=("name",)))
    con.print("MCU: SRAM, the largest arena a model can use (the arena region; `boards show` lists every region) "
              "and flash; FPGA: LUTs, BRAM36 blocks and DSP slices" + ("; user*: a user file that overrides a "
                                                                       "bundled board" if len(heads) == 7 else ""))


def _is_bundled(b: Board) -> bool:
    return b.path.resolve().parent == bundled_dir()


@boards.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the board as JSON (nothing else).")
@click.option("--board-file", type=click.Path(dir_okay=False),
              help="Read the board from this TOML file instead of searching by name.")
def show_cmd(name: str, as_json: bool, board_file: str | None) -> None:
    """Everything a board file states: core, clocks, memory map, serial, QEMU and flash methods."""
    b = load_board(name, board_file)
    if as_json:
        click.echo(json.dumps(b.to_dict(), indent=2))
        return
    from edgefmr.commands._term import table

    con = _console()
    con.print(f"[bold]{b.name}[/bold]  ({b.kind})  {b.description}")
    con.print(f"file: {b.path}")
    if b.overrides is not None:
        con.print(f"[yellow]this user file overrides the bundled board file {b.overrides}[/yellow]")
    if b.kind == "fpga":
        f = b.fpga
        assert f is not None
        con.print(f"device {b.device} ({f.family}), Vitis HLS part {f.part}")
        con.print(f"LUT {f.lut:,}  FF {f.ff:,}  DSP {f.dsp:,}  BRAM36 {f.bram36:,}  URAM {f.uram:,}")
        con.print(f"clock {fmt_hz(b.clock_hz)}" + (f", DDR {fmt_bytes(f.ddr_bytes)}" if f.ddr_bytes else ""))
        return
    assert b.defaults is not None and b.serial is not None
    con.print(f"device {b.device}, {b.core}, FPU {b.fpu}, DSP extension {'yes' if b.dsp else 'no'}")
    clocks = f"clock {fmt_hz(b.clock_hz)}"
    if b.reset_clock_hz:
        clocks += f", after reset {fmt_hz(b.reset_clock_hz)}"
    if b.hse_hz:
        clocks += f", HSE {fmt_hz(b.hse_hz)}"
    if b.icache_bytes or b.dcache_bytes:
        clocks += f"; caches I {fmt_bytes(b.icache_bytes)} / D {fmt_bytes(b.dcache_bytes)}"
    con.print(clocks)
    con.print(f"SRAM {fmt_bytes(b.sram_bytes)}, flash {fmt_bytes(b.flash_bytes)}")
    roles: dict[str, list[str]] = {}
    for role in ("code", "data", "arena", "stack"):
        roles.setdefault(getattr(b.defaults, role), []).append(role)
    rows, notes = [], []
    for r in b.memory:
        sectors = " + ".join(f"{g.count}×{fmt_bytes(g.size)}" for g in r.sectors)
        rows.append((r.name, r.kind, f"0x{r.origin:08X}", f"0x{r.end - 1:08X}", fmt_bytes(r.size), r.access,
                     ", ".join(roles.get(r.name, [])), sectors))
        if r.requires_qemu:
            notes.append(f"  {r.name}: needs QEMU >= {r.requires_qemu}: the arena cannot use it on an older QEMU")
        if r.note:
            notes.append(f"  {r.name}: {r.note}")
    con.print(table(("region", "kind", "origin", "end", "size", "access", "default for", "erase sectors"), rows,
                    keep=("region",)))
    con.print(f"a model can use for its arena: region {b.defaults.arena}, {fmt_bytes(b.region(b.defaults.arena).size)}"
              f" (the stack and static data in {b.defaults.stack}/{b.defaults.data})")
    for line in notes:
        con.print(line)
    s = b.serial
    pins = f" TX {s.tx_pin} RX {s.rx_pin} AF{s.pin_af}" if s.tx_pin else ""
    con.print(f"serial: {s.uart} ({s.type}) at 0x{s.base:08X}, {s.baud} baud, UART clock {fmt_hz(s.clock_hz)}, "
              f"via {s.connection}{pins}" + (f" — {s.note}" if s.note else ""))
    if b.qemu:
        con.print(f"qemu: -M {b.qemu.machine}" + (f" -cpu {b.qemu.cpu}" if b.qemu.cpu else "") +
                  f", UART on -serial #{b.qemu.serial_index}")
    for m in b.flash_methods:
        d = m.to_dict()
        d.pop("method")
        note = d.pop("note", "")
        settings = ", ".join(f"{k}={' '.join(v) if isinstance(v, list) else v}" for k, v in d.items())
        mark = " (default)" if m.method == b.default_flash_method else ""
        text = "; ".join(x for x in (settings, note) if x)
        con.print(f"flash {m.method}{mark}: {text}")
    con.print("cflags: " + " ".join(b.cflags) + ("  defines: " + " ".join(b.defines) if b.defines else ""))


COMMANDS = [boards]
