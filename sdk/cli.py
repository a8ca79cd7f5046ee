"""The `edgefmr` command line."""

from __future__ import annotations

import sys

import click

from edgefmr import __version__
from edgefmr.errors import EdgefmrError


@click.group()
@click.version_option(__version__, prog_name="edgefmr")
def cli() -> None:
    """edgefmr: search, quantize, build, flash and profile transformer models on MCUs and FPGAs."""


def _register() -> None:
    from edgefmr.commands import boards, model, plan, train

    for module in (model, train, plan):
        for cmd in module.COMMANDS:
            cli.add_command(cmd)
    cli.add_command(boards.boards)


_register()


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except EdgefmrError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
