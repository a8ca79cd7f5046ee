"""`edgefmr flash`: write a build artifact's firmware to a board, verify it and wait for its boot banner."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("artifact", type=click.Path(file_okay=False))
@click.option("--board", default=None,
              help="Board name or board .toml file (default: the board the artifact was built for).")
@click.option("--port", default=None,
              help="serial-bootloader: the port wired to the ROM bootloader's USART; pyocd/openocd: the firmware's "
                   "serial port (the banner is read there). /dev/ttyUSB0, socket://..., rfc2217://...")
@click.option("--method", type=click.Choice(["qemu", "serial-bootloader", "pyocd", "openocd"]), default=None,
              help="Flash method (default: the board file's [flash] default).")
@click.option("--baud", type=click.IntRange(1200, 115200), default=None,
              help="serial-bootloader line rate (default: the board file's; the line is 8E1).")
@click.option("--parity", type=click.Choice(["E", "N"]), default="E", show_default=True,
              help="serial-bootloader parity: E (the ROM bootloader's 8E1); N only for links without parity.")
@click.option("--console-port", default=None,
              help="serial-bootloader: the firmware's serial port when it is not the bootloader's (default: --port).")
@click.option("--banner-timeout", type=float, default=15.0, show_default=True,
              help="Seconds to wait for the firmware's boot banner after writing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (nothing else).")
def flash(artifact: str, board: str | None, port: str | None, method: str | None, baud: int | None, parity: str,
          console_port: str | None, banner_timeout: float, as_json: bool) -> None:
    """Flash ARTIFACT (an `edgefmr build` folder) to its board: write, read back, start, and confirm the banner
    and model hash."""
    from edgefmr.commands._term import progress
    from edgefmr.device.flash import flash as do_flash

    with progress("write+verify", 1, "bytes", enabled=not as_json) as bar:
        res = do_flash(artifact, board, port=port, method=method, baud=baud, parity=parity,
                       console_port=console_port, banner_timeout=banner_timeout,
                       progress=lambda done, total: bar(done, total))
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2))
        return
    where = f" at 0x{res.address:08X}" if res.address is not None else ""
    click.echo(f"flashed {res.artifact} to {res.board} with {res.method} ({res.device}): {res.image_bytes:,} bytes"
               f"{where}, {res.verified_bytes:,} verified, {res.seconds:.1f} s")
    if res.sectors:
        click.echo(f"erased sectors {res.sectors} ({res.erase_command} erase)")
    if res.stats and any(res.stats.get(k) for k in ("nacks", "timeouts", "rewrites")):
        click.echo(f"link: {res.stats['nacks']} NACKs, {res.stats['timeouts']} timeouts, {res.stats['resyncs']} "
                   f"resyncs, {res.stats['rewrites']} sectors rewritten")
    if res.method == "qemu":
        click.echo(f"the firmware started on QEMU (banner: {res.banner}); QEMU has stopped again: `edgefmr run` "
                   f"and `edgefmr profile` start it themselves")
    else:
        click.echo(f"running: {res.banner}")


COMMANDS = [flash]
