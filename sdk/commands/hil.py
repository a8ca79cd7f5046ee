"""`edgefmr hil run`: run a pytest HIL suite on every board of an inventory at once and print one table."""

from __future__ import annotations

import json
import sys
import time

import click


@click.group()
def hil() -> None:
    """Hardware-in-the-loop testing on a board farm (see docs/hil.md)."""


@hil.command("run")
@click.argument("suite", type=click.Path(exists=True))
@click.option("--inventory", required=True, type=click.Path(dir_okay=False),
              help="Board inventory TOML ([[board]] name, port, method, banner_timeout).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for each board's JUnit XML and log (default: a new temp folder).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (nothing else).")
def run(suite: str, inventory: str, out_dir: str | None, as_json: bool) -> None:
    """Run SUITE (a pytest file or folder using the edgefmr_board fixture) on every board of the inventory in
    parallel, one pytest worker per board; exit 1 when any board has a failure."""
    from edgefmr.hil.runner import load_inventory, run_suite

    specs = load_inventory(inventory)
    t0 = time.monotonic()
    results = run_suite(suite, specs, out_dir)
    wall = round(time.monotonic() - t0, 2)
    ok = all(r.ok for r in results)
    if as_json:
        click.echo(json.dumps({"suite": suite, "wall_seconds": wall, "ok": ok,
                               "boards": [r.to_dict() for r in results]}, indent=2))
    else:
        from edgefmr.commands._term import console, table

        rows = [(r.board, "ok" if r.ok else "FAIL", r.passed, r.failed, r.errors, r.skipped, f"{r.seconds:g}",
                 r.junit) for r in results]
        con = console()
        con.print(table(("board", "result", "passed", "failed", "errors", "skipped", "seconds", "junit"), rows,
                        title=f"edgefmr hil run {suite} ({len(specs)} boards, {wall:g} s wall)", keep=("board",)))
        for r in results:
            for f in r.failures:
                # one line per failure, never wrapped: CI logs are searched for "board: test id"
                con.print(f"[red]{r.board}[/]: {f}", markup=True, highlight=False, soft_wrap=True)
    sys.exit(0 if ok else 1)


COMMANDS = [hil]
