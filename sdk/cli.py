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
    """Add the commands of every module in edgefmr.commands (each lists them in COMMANDS; heavy imports are lazy)."""
    import importlib
    import pkgutil

    import edgefmr.commands as pkg

    for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"edgefmr.commands.{m.name}")
        for cmd in getattr(module, "COMMANDS", []):
            cli.add_command(cmd)


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
