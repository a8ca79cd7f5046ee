"""`edgefmr report`: one self-contained HTML report from a search/build/profile folder."""

from __future__ import annotations

import click


@click.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the HTML page (default FOLDER/report.html).")
@click.option("--png", "png_dir", type=click.Path(file_okay=False), default=None,
              help="Also write each plot as PNG and SVG files into this folder.")
def report(folder: str, out: str | None, png_dir: str | None) -> None:
    """Write the report of FOLDER: search Pareto front, memory plan, per-layer latency, accuracy, board budgets.

    FOLDER and its direct sub-folders are scanned for manifest.json (build), the profile report, the quantization
    report, `edgefmr plan --json` output and search.json; each section appears when its data exists.
    """
    from edgefmr.report import write_report

    res = write_report(folder, out, png_dir)
    for n in res["notes"]:
        click.echo(f"note: {n}")
    click.echo(f"sections: {', '.join(res['sections'])}")
    if res["static"]:
        click.echo(f"static plots: {len(res['static'])} files in {png_dir}")
    click.echo(f"report: {res['html']}")


COMMANDS = [report]
