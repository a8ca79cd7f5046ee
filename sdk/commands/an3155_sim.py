"""`edgefmr an3155-sim`: a simulated STM32 ROM bootloader (ST AN3155) on a pseudo-terminal, to test flashing
scripts and CI without a board."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import click


@click.command("an3155-sim")
@click.option("--pty", "use_pty", is_flag=True, default=True, show_default=True,
              help="Serve on a pseudo-terminal (the only transport; its path is printed, clients open it 8N1).")
@click.option("--link", "link", type=click.Path(dir_okay=False), default=None,
              help="Also make a symlink at this path to the pty (a stable name for scripts).")
@click.option("--standard-erase", is_flag=True,
              help="Offer the standard Erase command (0x43) instead of Extended Erase (0x44), as older bootloaders.")
@click.option("--read-protected", is_flag=True, help="Start with read-out protection on (Read/Write/Go refused).")
@click.option("--product-id", type=click.IntRange(0, 0xFFFF), default=0x413, show_default=True,
              help="Product ID that Get ID reports (0x413: STM32F405/407).")
@click.option("--image", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A raw binary already in flash at 0x08000000 at start.")
@click.option("--dump", type=click.Path(dir_okay=False), default=None,
              help="On exit, write the flash contents (1 MiB) to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the port (and, on exit, the commands seen) as JSON lines.")
def an3155_sim(use_pty: bool, link: str | None, standard_erase: bool, read_protected: bool, product_id: int,
               image: str | None, dump: str | None, as_json: bool) -> None:
    """Run a simulated AN3155 USART bootloader (STM32F405 memory: 1 MiB flash with the F4 sector layout, 128 KiB
    SRAM) until interrupted. `edgefmr flash --method serial-bootloader --parity N --port PTY` and
    `stm32flash -m 8n1 PTY` work against it (a pty carries no parity bit). See docs/flash.md."""
    from edgefmr.device.an3155_sim import FLASH_BASE, FLASH_SIZE, An3155Sim
    from edgefmr.errors import EdgefmrError

    data = b""
    if image is not None:
        data = Path(image).read_bytes()
        if len(data) > FLASH_SIZE:
            raise EdgefmrError(f"{image}: {len(data):,} bytes do not fit the simulated 1 MiB flash")
    stop = threading.Event()
    old = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with An3155Sim(extended_erase=not standard_erase, product_id=product_id, read_protected=read_protected) as sim:
        sim.flash[:len(data)] = data
        if link is not None:
            lp = Path(link)
            if lp.is_symlink() or lp.exists():
                lp.unlink()
            os.symlink(sim.port, lp)
        if as_json:
            click.echo(json.dumps({"port": sim.port, "link": link, "flash_base": FLASH_BASE}), nl=True)
        else:
            click.echo(f"AN3155 bootloader simulator on {sim.port}" + (f" (link {link})" if link else "")
                       + f"; flash at 0x{FLASH_BASE:08X}. Ctrl-C to stop.")
        try:
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, old)
            if link is not None and Path(link).is_symlink():
                Path(link).unlink()
            if dump is not None:
                Path(dump).write_bytes(bytes(sim.flash))
        summary = {"commands": sim.log[-20:], "erased_sectors": sim.erased, "started_at": sim.started_at}
        click.echo(json.dumps(summary) if as_json else f"stopped; erased sectors {sim.erased}, "
                   f"{len(sim.log)} commands" + (f", flash written to {dump}" if dump else ""))


COMMANDS = [an3155_sim]
