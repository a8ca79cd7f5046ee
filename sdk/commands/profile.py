"""`edgefmr profile`: a board profiling session with bit-exact checks, latency, per-layer counts, memory and the
board's calibration table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command()
@click.argument("artifact", type=click.Path(file_okay=False))
@click.option("--board", default=None, help="Board name (default: the board the artifact was built for).")
@click.option("--port", default=None,
              help="Serial port of a real board running the artifact's firmware (after edgefmr flash); QEMU boards "
                   "are started here.")
@click.option("--inputs", "inputs", type=click.Path(dir_okay=False), default=None,
              help=".npy [N, ...] (single input; float32 is quantized) or .npz (one array per input, by name, or "
                   "'x'); default: --count random inputs.")
@click.option("--count", type=click.IntRange(min=1), default=100, show_default=True,
              help="Random inputs to run when --inputs is not given.")
@click.option("--runs", type=click.IntRange(min=0), default=10, show_default=True,
              help="Whole-model timed runs of the first input (after the per-input profile).")
@click.option("--float-model", type=click.Path(dir_okay=False), default=None,
              help="Float original (an edgefmr .pt checkpoint): report l2r, cosine and top-1 agreement against it.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write report.json.")
@click.option("--no-calibration", is_flag=True, help="Do not write the board's calibration table.")
@click.option("--stream", is_flag=True,
              help="ARTIFACT is a --streaming build: stream --inputs (frames [steps, ...]) or --count random frames "
                   "from a reset state; report instructions/cycles per step (mean/min/max) and the persistent-state "
                   "bytes (docs/streaming.md).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (nothing else).")
def profile(artifact: str, board: str | None, port: str | None, inputs: str | None, count: int, runs: int,
            float_model: str | None, out: str, no_calibration: bool, stream: bool, as_json: bool) -> None:
    """Profile ARTIFACT on its board: outputs vs the reference interpreter (bit-exact count), latency per
    inference, per-layer counts and shares, counts per MAC, stack high-water mark and arena; writes report.json and
    the board's calibration table."""
    if stream:
        from edgefmr.commands.streaming import print_stream_profile, profile_stream

        rep = profile_stream(artifact, board, port, inputs, count)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(rep, indent=2) + "\n")
        click.echo(json.dumps(rep, indent=2) if as_json else print_stream_profile(rep, out))
        return
    from edgefmr.profiling.profile import profile_artifact

    man = Path(artifact) / "manifest.json"
    if man.is_file() and "streaming" in json.loads(man.read_text()):
        from edgefmr.errors import EdgefmrError

        raise EdgefmrError(f"{artifact} is a streaming build (edgefmr build --streaming): profile it with --stream")

    bar = None
    if not as_json:
        from tqdm import tqdm

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="input", desc="profile", file=sys.stderr)
            bar.update(done - bar.n)
    else:
        progress = None  # type: ignore[assignment]
    try:
        rep = profile_artifact(artifact, board, port=port, inputs=inputs, count=count, runs=runs,
                               float_model=float_model, write_calibration=not no_calibration, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(rep, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(rep, indent=2))
        return
    print_report(rep, out)


def _n(v: float | None, digits: int = 0) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def print_report(rep: dict, out: str) -> None:
    """The rich summary of a profile report."""
    from rich.console import Console
    from rich.table import Table

    con = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 160)
    unit = rep["counter"]["unit"]
    ag = rep["agreement"]
    con.print(f"[bold]{rep['artifact']}[/bold] on {rep['board']} ({rep['core']}, {rep['core_clock_hz'] / 1e6:g} MHz), "
              f"model {rep['model_hash'][:16]}, firmware {rep['firmware_version']}")
    con.print(f"inputs: {rep['inputs']['source']}")
    ok = ag["bit_exact"] == ag["total"]
    con.print(f"bit-exact with the reference interpreter: [{'green' if ok else 'red'}]{ag['bit_exact']} / "
              f"{ag['total']}[/]" + ("" if ok else f" (first mismatches: {ag['mismatched_inputs'][:5]}, max |diff| "
                                                  f"{ag['max_abs_diff']})"))
    if "float" in rep:
        f = rep["float"]
        con.print(f"vs float {f['model']}: l2r {f['l2r_mean']:.4f} (max {f['l2r_max']:.4f}), cosine "
                  f"{f['cosine_mean']:.5f} (min {f['cosine_min']:.5f}), top-1 agreement {f['top1_agreement']:.1%}")
    lat = rep["latency"]
    con.print(f"counter: {rep['counter']['label']}"
              + ("" if rep["counter"]["quantum"] == 1 else f", resolution {rep['counter']['quantum']}"))
    if lat["mean"] is not None:
        secs = f" = {lat['seconds_mean'] * 1e3:.3f} ms" if lat["seconds_mean"] is not None else ""
        con.print(f"latency per inference: mean {_n(lat['mean'])} {unit}{secs}, min {_n(lat['min'])}, max "
                  f"{_n(lat['max'])} (layer by layer)")
        if lat["whole_run"]:
            w = lat["whole_run"]
            con.print(f"whole-model RUN x{w['runs']}: mean {_n(w['mean'])}, min {_n(w['min'])}, max {_n(w['max'])} "
                      f"{unit}")
        con.print(f"MACs {rep['macs']:,}: {_n(rep['per_mac'], 2)} {unit} per MAC")
    table = Table("#", "layer", "op", "kernel", f"{unit}", "share", "MACs", f"{unit}/MAC")
    for r in rep["layers"]:
        name = r["name"] if len(r["name"]) <= 48 else r["name"][:45] + "…"
        op = r["op"] if len(r["op"]) <= 32 else r["op"][:29] + "…"
        table.add_row(str(r["index"]), name, op, r.get("kernel", ""), _n(r["count_mean"]), f"{r['share']:.1%}",
                      f"{r['macs']:,}" if r["macs"] else "", _n(r["per_mac"], 2))
    con.print(table)
    mem = rep["memory"]
    con.print(f"arena {mem['arena_bytes']:,} B (predicted {_n(mem['arena_predicted'])}); stack high-water "
              f"{mem['stack_used']:,} of {mem['stack_bytes']:,} B (estimated {_n(mem['stack_predicted'])})")
    link = rep["link"]
    con.print(f"link: {link['requests']} requests, {link['retries']} retries, {link['timeouts']} timeouts, "
              f"{link['naks']} NAKs")
    if "calibration_path" in rep:
        cal = rep["calibration"]
        ops = ", ".join(f"{op} {v['cost']:.2f}/{v['unit']}" for op, v in list(cal["ops"].items())[:6])
        con.print(f"calibration ({cal['unit']}): {rep['calibration_path']}: {ops}"
                  + (" …" if len(cal["ops"]) > 6 else ""))
    con.print(f"report: {out}")


COMMANDS = [profile]
