"""`edgefmr inspect` and `edgefmr run`: look at a model and run it on the reference interpreter."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from edgefmr.errors import EdgefmrError


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect(model: str, as_json: bool) -> None:
    """Show a model's ops, tensors, parameters, MACs and weight bytes (.efm or .tflite)."""
    from edgefmr.ir.model_io import load_model
    from edgefmr.ir.summary import summarize

    s = summarize(load_model(model))
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    from edgefmr.commands._term import console, drop_scope, room, table, two_lines

    con = console()
    con.print(f"[bold]{model}[/bold]  hash {s['model_hash'][:16]}")
    for kind in ("inputs", "outputs"):
        for t in s[kind]:
            q = f" scale={t['scale']} zp={t['zero_point']}" if "scale" in t else ""
            con.print(f"  {kind[:-1]:6} {t['name']}: {t['dtype']}{t['shape']}{q}")
    names = drop_scope([r["name"] for r in s["layers"]])
    w = room(50, 20)
    rows = [(r["index"], two_lines(r["op"], n, w),
             f"{r['output_dtype']}{r['output_shape']}", f"{r['macs']:,}", f"{r['weight_bytes']:,}")
            for r, n in zip(s["layers"], names, strict=True)]
    con.print(table(("#", "op / node", "output", "MACs", "weight B"), rows))
    ops = ", ".join(f"{k}×{v}" for k, v in sorted(s["ops"].items()))
    con.print(f"ops: {ops}")
    con.print(f"nodes {s['nodes']}, tensors {s['tensors']}, parameters {s['parameters']:,}, "
              f"weight bytes {s['weight_bytes']:,}, MACs {s['macs']:,}")


@click.command()
@click.argument("model", type=click.Path())
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="Input .npy: the model input's integer dtype, or float32 (quantized with the input's scale/zero "
                   "point); a leading extra axis [N, ...] runs N inputs.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the output .npy ([N, ...] for a batch).")
@click.option("--board", default=None,
              help="Run on a board instead of the reference interpreter: 'host' (native C build), a QEMU board "
                   "(started and stopped here) or a real board (with --port).")
@click.option("--port", default=None, help="Serial port of a real board (/dev/ttyACM0, socket://..., rfc2217://...).")
@click.option("--no-tricks", is_flag=True, help="Plan memory without MCUFormer's tricks when MODEL is built here.")
@click.option("--top1", is_flag=True, help="Also print the top-1 class (argmax of the output) of each input.")
@click.option("--stream", is_flag=True,
              help="MODEL is a step program (or a --streaming build): --input holds frames [steps, *frame shape], "
                   "streamed from a reset state; --output gets the output of every step (docs/streaming.md).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of text.")
def run(model: str, input_path: str, output_path: str, board: str | None, port: str | None, no_tricks: bool,
        top1: bool, stream: bool, as_json: bool) -> None:
    """Run MODEL (.efm, .tflite, or a build artifact folder, which runs on the board it was built for) on the
    reference interpreter or a board."""
    if stream:
        from edgefmr.commands.streaming import run_stream

        y, note, summary = run_stream(model, input_path, board, port, not no_tricks)
        Path(output_path).parent.mkdir(parents=True, exist_ok=True)
        np.save(output_path, y)
        if as_json:
            click.echo(json.dumps({"model": model, "board": board, "steps": len(y), "output": output_path,
                                   "output_shape": list(y.shape), "output_dtype": str(y.dtype), **summary}))
        else:
            click.echo(f"streamed {len(y)} frame(s) {note} -> {output_path} {y.dtype}{list(y.shape)} (one output "
                       f"per step)" + (f"\n{summary['description']}" if "description" in summary else ""))
        return
    from edgefmr.device.connection import target_graph
    from edgefmr.ir.model_io import load_input_file, prepare_input

    g = target_graph(model)
    from edgefmr.ir.streaming import is_streaming

    if is_streaming(g):
        raise EdgefmrError(f"{model} is a streaming step program (its states are marked): run it with --stream "
                           f"(--input: frames [steps, ...])")
    if len(g.outputs) != 1:
        raise EdgefmrError(f"{model}: the model has {len(g.outputs)} outputs; `run` writes models with one output")
    x = load_input_file(input_path)
    xq, batch = prepare_input(g, x, input_path)
    items = xq if batch else xq[None]
    note = "on the reference interpreter"
    if board is None and Path(model).is_dir():
        board = _artifact_board(model)
    if board is None:
        from edgefmr.commands._term import progress
        from edgefmr.ir import run as run_graph

        ys = []
        with progress("run", len(items), "inputs", enabled=len(items) >= 50 and not as_json) as bar:
            for k, xi in enumerate(items):
                ys.append(run_graph(g, [xi])[g.outputs[0]])
                bar(k + 1)
        summary: dict = {}
    else:
        ys, note, summary = _run_on_board(model, g, board, port, [[xi] for xi in items], not no_tricks)
    y = np.stack(ys) if batch else ys[0]
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    np.save(output_path, y)
    if top1:
        summary["top1"] = [int(v.reshape(-1).argmax()) for v in ys]
    if as_json:
        click.echo(json.dumps({"model": model, "board": board, "inputs": len(items), "output": output_path,
                               "output_shape": list(y.shape), "output_dtype": str(y.dtype), **summary}))
    else:
        click.echo(f"ran {len(items)} input(s) {note} -> {output_path} {y.dtype}{list(y.shape)}")
        if "description" in summary:
            click.echo(summary["description"])
        if top1:
            click.echo("top-1 class: " + " ".join(str(c) for c in summary["top1"]))


def _artifact_board(folder: str) -> str | None:
    m = Path(folder) / "manifest.json"
    return json.loads(m.read_text()).get("board") if m.is_file() else None


def _run_on_board(model: str, g, board: str, port: str | None, records: list, tricks: bool):
    """Outputs, a description and JSON fields of running `records` on `board` (building MODEL first if needed)."""
    import tempfile

    from edgefmr.firmware.build import build, run_host

    with tempfile.TemporaryDirectory(prefix="edgefmr-run-") as tmp:
        art = Path(model)
        from edgefmr.boards import load_board

        if board != "host" and load_board(board).kind == "fpga":
            from edgefmr.firmware.hls import build as build_hls
            from edgefmr.firmware.hls import run_csim

            if not art.is_dir():
                build_hls(model, board, tmp)
                art = Path(tmp)
            return [o[0] for o in run_csim(art, g, records)], f"on the {board} HLS C simulation", {}
        if not art.is_dir():
            build(model, None if board == "host" else board, tmp, tricks=tricks)
            art = Path(tmp)
        if board == "host":
            outs = run_host(art, g, records)
            return [o[0] for o in outs], "on the host C build", {}
        from edgefmr.device.connection import run_on_board

        res = run_on_board(art, board, records, port=port, graph=g)
        return ([o[0] for o in res.outputs], f"on {board}",
                {"counts": res.counts, "counter": res.counter.name, "counter_quantum": res.quantum,
                 "description": res.describe(), "link": res.link})


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
def convert(model: str, out: str) -> None:
    """Convert MODEL between .tflite and .efm (by OUT's suffix); .tflite output needs TFLite builtin ops only."""
    from edgefmr.ir import save
    from edgefmr.ir.model_io import load_model
    from edgefmr.tflite import save_tflite

    g = load_model(model)
    suffix = Path(out).suffix
    if suffix == ".efm":
        save(g, out)
    elif suffix == ".tflite":
        save_tflite(g, out)
    else:
        raise EdgefmrError(f"{out}: unknown output format {suffix!r}; use .efm or .tflite")
    click.echo(f"wrote {out} ({len(g.nodes)} nodes)")



@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="Inputs .npy ([N, ...] or one input), integer or float32 as for `run`.")
@click.option("--labels", type=click.Path(dir_okay=False), help="Optional labels .npy [N] to report accuracy.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(model: str, input_path: str, labels: str | None, as_json: bool) -> None:
    """Check the reference interpreter against LiteRT's reference kernels, bit for bit, on given inputs."""
    from edgefmr.ir.model_io import load_input_file, load_model, prepare_input
    from edgefmr.tflite.litert import compare_with_litert

    g = load_model(model)
    x, batch = prepare_input(g, load_input_file(input_path), input_path)
    res = compare_with_litert(g, x if batch else x[None])
    outputs = res.pop("outputs")
    if labels:
        y = np.load(labels, allow_pickle=False)
        pred = outputs.reshape(len(outputs), -1).argmax(axis=1)
        res["accuracy"] = float((pred == y[: len(pred)]).mean())
    if as_json:
        click.echo(json.dumps(res))
    else:
        acc = f", accuracy {res['accuracy']:.4f}" if "accuracy" in res else ""
        click.echo(f"{res['bit_exact']}/{res['inputs']} outputs bit-exact with LiteRT (max |diff| "
                   f"{res['max_abs_diff']} LSB){acc}")
    if res["bit_exact"] != res["inputs"]:
        raise SystemExit(1)


COMMANDS = [inspect, run, convert, verify]
