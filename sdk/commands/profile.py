"""`edgefmr profile`: a board profiling session with bit-exact checks, latency, per-layer counts, memory and the
board's calibration table."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgefmr.errors import EdgefmrError


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
              help="Float original (an edgefmr .pt, a float .tflite or an .onnx): report l2r, cosine and top-1 "
                   "agreement of the outputs against it (per layer: edgefmr validate).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write report.json.")
@click.option("--calibrate", is_flag=True,
              help="Fit this profile into the board's calibration table (~/.config/edgefmr/calibration/<board>.json, "
                   "merged with the models profiled before), which the search's latency model reads.")
@click.option("--labels", type=click.Path(dir_okay=False), default=None,
              help="Labels .npy [N] (integer classes) of --inputs: report the board's top-1 accuracy.")
@click.option("--stream", is_flag=True,
              help="ARTIFACT is a --streaming build: stream --inputs (frames [steps, ...]) or --count random frames "
                   "from a reset state; report instructions/cycles per step (mean/min/max) and the persistent-state "
                   "bytes (docs/streaming.md).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (nothing else).")
def profile(artifact: str, board: str | None, port: str | None, inputs: str | None, count: int, runs: int,
            float_model: str | None, out: str, calibrate: bool, labels: str | None, stream: bool,
            as_json: bool) -> None:
    """Profile ARTIFACT on its board: outputs vs the reference interpreter (bit-exact count), latency per
    inference (counts and ms at the board clock), per-layer counts, kernels and bytes, counts per MAC, stack
    high-water mark and arena; writes report.json (and, with --calibrate, the board's calibration table); with
    --stream, the counts per step of a --streaming build."""
    if stream:
        from edgefmr.commands.streaming import print_stream_profile, profile_stream

        rep = profile_stream(artifact, board, port, inputs, count)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(rep, indent=2) + "\n")
        click.echo(json.dumps(rep, indent=2) if as_json else print_stream_profile(rep, out))
        return
    from edgefmr.commands._term import progress
    from edgefmr.profiling.profile import profile_artifact

    man = Path(artifact) / "manifest.json"
    if man.is_file() and "streaming" in json.loads(man.read_text()):
        raise EdgefmrError(f"{artifact} is a streaming build (edgefmr build --streaming): profile it with --stream")

    with progress("profile", count, "inputs", enabled=not as_json) as bar:
        rep = profile_artifact(artifact, board, port=port, inputs=inputs, count=count, runs=runs,
                               float_model=float_model, write_calibration=calibrate, labels=labels,
                               progress=lambda done, total: bar(done, total))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(rep, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(rep, indent=2))
        return
    print_report(rep, out)


def _n(v: float | None, digits: int = 0) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def print_report(rep: dict, out: str) -> None:
    """The summary of a profile report (80 columns when piped: edgefmr.commands._term)."""
    from edgefmr.commands._term import console, drop_scope, room, table, two_lines

    con = console()
    unit = rep["counter"]["unit"]
    ag = rep["agreement"]
    con.print(f"[bold]{rep['artifact']}[/bold] on {rep['board']} ({rep['core']}, {rep['core_clock_hz'] / 1e6:g} MHz), "
              f"model {rep['model_hash'][:16]}, firmware {rep['firmware_version']}")
    con.print(f"inputs: {rep['inputs']['source']}")
    ok = ag["bit_exact"] == ag["total"]
    con.print(f"bit-exact with the reference interpreter: [{'green' if ok else 'red'}]{ag['bit_exact']} / "
              f"{ag['total']}[/]" + ("" if ok else f" (first mismatches: {ag['mismatched_inputs'][:5]}, max |diff| "
                                                  f"{ag['max_abs_diff']})"))
    if "accuracy" in rep:
        a = rep["accuracy"]
        con.print(f"accuracy on the board: {a['correct']} / {a['total']} = {100 * a['accuracy']:.2f}% (top-1 vs "
                  f"{a['labels']})")
    if "float" in rep:
        f = rep["float"]
        con.print(f"vs float {f['model']}: l2r {f['l2r_mean']:.4f} (max {f['l2r_max']:.4f}), cosine "
                  f"{f['cosine_mean']:.5f} (min {f['cosine_min']:.5f}), top-1 agreement {f['top1_agreement']:.1%} "
                  "(docs/validate.md)")
    lat = rep["latency"]
    con.print(f"counter: {rep['counter']['label']}"
              + ("" if rep["counter"]["quantum"] == 1 else f", resolution {rep['counter']['quantum']}"))
    if lat["mean"] is not None:
        ms = f" = {lat['ms_mean']:.3f} ms" if lat.get("ms_mean") is not None else ""
        con.print(f"latency per inference: mean {_n(lat['mean'])} {unit}{ms}, min {_n(lat['min'])}, max "
                  f"{_n(lat['max'])} (layer by layer)")
        if lat.get("ms_basis"):
            con.print(f"ms: {lat['ms_basis']}")
        if lat["whole_run"]:
            w = lat["whole_run"]
            con.print(f"whole-model RUN x{w['runs']}: mean {_n(w['mean'])}, min {_n(w['min'])}, max {_n(w['max'])} "
                      f"{unit}")
        con.print(f"MACs {rep['macs']:,}: {_n(rep['per_mac'], 2)} {unit} per MAC")
    names = drop_scope([r["name"] for r in rep["layers"]])
    w = room(58, 16)
    short = {"instructions": "instr", "cycles": "cycles"}.get(unit, unit)
    rows = [(r["index"], two_lines(r["op"], n, w), r.get("kernel", ""),
             _n(r["count_mean"]), _n(r.get("ms"), 3), _n(r["per_mac"], 2),
             _n(r.get("flash_bytes")), _n(r.get("activation_bytes")))
            for r, n in zip(rep["layers"], names, strict=True)]
    con.print(table(("#", "op / layer", "kernel", short, "ms", f"{short}/MAC", "flash B", "act B"), rows))
    con.print(f"{short}: {unit} per layer (mean); flash B: the layer's constants; act B: the arena bytes it reads "
              "and writes (each layer's share is in the JSON report)")
    mem = rep["memory"]
    con.print(f"arena {mem['arena_bytes']:,} B (predicted {_n(mem['arena_predicted'])}); stack high-water "
              f"{mem['stack_used']:,} of {mem['stack_bytes']:,} B (estimated {_n(mem['stack_predicted'])})")
    link = rep["link"]
    con.print(f"link: {link['requests']} requests, {link['retries']} retries, {link['timeouts']} timeouts, "
              f"{link['naks']} NAKs")
    if "calibration_path" in rep:
        from edgefmr.profiling.calibration import cost_terms

        cal = rep["calibration"]
        con.print(f"calibration table ({cal['unit']}, {len(cal.get('profiles', []))} model(s)) written: "
                  f"{rep['calibration_path']}")
        for line in cost_terms(cal, 6):
            con.print(f"  {line}")
    con.print(f"report: {out}")


COMMANDS = [profile]
