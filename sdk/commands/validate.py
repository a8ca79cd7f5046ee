"""`edgefmr validate`: the integer model against the user's float reference, layer by layer (docs/validate.md)."""

from __future__ import annotations

import json

import click
import numpy as np

from edgefmr.commands._term import console, drop_scope, progress, room, short_name, table, two_lines
from edgefmr.errors import EdgefmrError


@click.command()
@click.argument("model", type=click.Path())
@click.option("--reference", required=True, type=click.Path(dir_okay=False),
              help="The float model: a float .tflite (LiteRT), an .onnx (onnxruntime) or an edgefmr .pt checkpoint.")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="Inputs .npy [N, ...]: float (fed to the reference as is, quantized for MODEL) or MODEL's integer "
                   "dtype (dequantized for the reference).")
@click.option("--board", default=None,
              help="Run MODEL on this board (built here; a QEMU board is started here; `host`: the native C build) "
                   "instead of the reference interpreter: each layer's output is read back.")
@click.option("--port", default=None, help="Serial port of a real board that runs MODEL's firmware.")
@click.option("--all", "show_all", is_flag=True, help="List every mapped tensor (default: the layers' outputs that "
              "lose the most, and the outputs).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (nothing else).")
def validate(model: str, reference: str, input_path: str, board: str | None, port: str | None, show_all: bool,
             as_json: bool) -> None:
    """Compare MODEL (.efm, .tflite or an artifact folder) with a float REFERENCE on the same inputs: cosine, l2r
    (relative L2 error), max |error| and top-1 agreement for every tensor mapped between the two, and at the
    outputs."""
    from edgefmr.profiling.validate import validate as run_validate

    try:
        x = np.load(input_path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise EdgefmrError(f"{input_path}: cannot read as .npy ({e})") from None
    with progress("validate on " + (board or ""), len(x), "inputs", enabled=bool(board) and not as_json) as bar:
        rep = run_validate(model, reference, x, board=board, port=port, where=input_path, progress=lambda d, n: bar(d))
    if as_json:
        click.echo(json.dumps(rep, indent=2))
        return
    con = console()
    con.print(f"[bold]{model}[/bold] ({rep['backend']}) vs float {reference}: {rep['inputs']} inputs, "
              f"{rep['mapped']} of {rep['compared']} tensors mapped")
    rows = rep["tensors"]
    if not show_all and len(rows) > 24:
        keep = {id(r) for r in sorted(rows, key=lambda r: -r["l2r"])[:16]} | {id(r) for r in rep["outputs"]}
        shown = [r for r in rows if id(r) in keep]
        note = f"{len(shown)} of {len(rows)} tensors: the 16 with the largest l2r and the outputs (--all: every one)"
    else:
        shown, note = rows, ""
    names = drop_scope([r["tensor"] for r in shown])
    w = room(44, 20)
    cells = [(two_lines(r["op"], n, w) + (" [bold](output)[/bold]" if r["output"]
                                                                             else ""),
              f"{r['cosine']:.4f}", f"{r['l2r']:.4f}", f"{r['max_abs_error']:.4g}",
              "—" if r["top1_agreement"] is None else f"{100 * r['top1_agreement']:.1f}%")
             for r, n in zip(shown, names, strict=True)]
    con.print(table(("op / tensor", "cosine", "l2r", "max |err|", "top-1"), cells))
    if note:
        con.print(note)
    for o in rep["outputs"]:
        top = "—" if o["top1_agreement"] is None else f"{100 * o['top1_agreement']:.1f}%"
        con.print(f"output {o['tensor']}: cosine {o['cosine']:.5f}, l2r {o['l2r']:.4f}, max |err| "
                  f"{o['max_abs_error']:.4g}, top-1 agreement {top}")
    if rep["unmapped"]:
        con.print(f"not mapped to the reference ({len(rep['unmapped'])}): "
                  + ", ".join(short_name(t, 40) for t in rep["unmapped"][:6]) + (" …" if len(rep["unmapped"]) > 6
                                                                                  else ""))
    con.print("l2r = ||int - float|| / ||float|| over all inputs; top-1: argmax over the last axis agrees "
              "(docs/validate.md)")


COMMANDS = [validate]
