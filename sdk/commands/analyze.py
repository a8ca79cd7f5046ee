"""`edgefmr analyze`: one table with what each layer of a model costs on a board, as `edgefmr build` would build it
(like ST's `stedgeai analyze`): op, MACs, flash and RAM bytes, the kernel it runs and its estimated latency."""

from __future__ import annotations

import json
from typing import Any

import click

from edgefmr.commands._term import console, drop_scope, room, table, two_lines


def analyze_model(model: str, board: str, tricks: bool = True, optimized: bool = True,
                  stack_bytes: int | None = None) -> dict[str, Any]:
    """The analysis as a dict (what `--json` prints): per layer and totals per memory region against the board."""
    from edgefmr.boards import load_board
    from edgefmr.errors import EdgefmrError
    from edgefmr.firmware import toolchain
    from edgefmr.profiling.calibration import describe_table, estimate_ms, load_calibration, node_work

    b = load_board(board)
    if b.kind == "fpga":
        return _analyze_fpga(model, b)
    if b.kind != "mcu":
        raise EdgefmrError(f"board {b.name} is an {b.kind} board; analyze covers MCU and FPGA boards")
    from edgefmr.firmware.build import generate_firmware, region_needs

    fw = generate_firmware(model, b, tricks=tricks, optimized=optimized)
    work = node_work(fw.source)
    cal = load_calibration(b)
    est = estimate_ms(fw.source, cal)
    layers = []
    for row in fw.layers():
        nodes = row["nodes"]
        layers.append({"index": row["index"], "name": row["name"], "op": row["op"], "kernel": row["kernel"],
                       "nodes": nodes, "macs": sum(work[i][2] for i in nodes if work[i][1] == "mac"),
                       "flash_bytes": row["const_bytes"], "activation_bytes": row["activation_bytes"],
                       "scratch_bytes": row["scratch_bytes"], "live_bytes": row["live_bytes"],
                       "latency_ms": sum(est["per_node_ms"][i] for i in nodes)})
    stack = stack_bytes if stack_bytes is not None else toolchain.DEFAULT_STACK_BYTES
    # the regions as the build checks them (constants in place of the flash image, known after compiling)
    names = {"stack": "stack_reserve", "flash": "constants", "needed": "used"}
    use = {r: {names.get(k, k): v for k, v in row.items()}
           for r, row in region_needs(b, fw.generated.arena, stack, fw.generated.const_bytes).items()}
    return {
        "model": model, "model_hash": fw.generated.model_hash, "board": b.name, "core": b.core,
        "clock_hz": b.clock_hz, "tricks": fw.plan.tricks, "arm_kernels": sorted(fw.plan.arm_kernels),
        "layers": layers,
        "totals": {"macs": sum(r["macs"] for r in layers), "flash_bytes": fw.generated.const_bytes,
                   "arena_bytes": dict(fw.plan.arena_bytes), "peak_live_bytes": fw.plan.peak_bytes,
                   "latency_ms": est["total_ms"]},
        "regions": use,
        "fits": all(v["used"] <= v["available"] for v in use.values()),
        "latency": {"total_ms": est["total_ms"], "basis": est["basis"], "table": describe_table(cal),
                    "unit": est["unit"], "count": est["total"]},
        "notes": ["flash counts the model's constants; the code (kernels, runtime) is known after `edgefmr build`",
                  f"stack reserve: the build default {stack:,} B (edgefmr build --stack)"],
    }


def _analyze_fpga(model: str, b: Any) -> dict[str, Any]:
    from edgefmr.firmware.hls.estimator import estimate
    from edgefmr.ir.model_io import load_model
    from edgefmr.profiling.calibration import node_work

    g = load_model(model)
    est = estimate(g, b, check=False)
    work = node_work(g)
    by_name = {(n.name or n.outputs[0]): i for i, n in enumerate(g.nodes)}
    layers = []
    for k, row in enumerate(est["layers"]):
        i = by_name.get(row["name"])
        n = g.nodes[i] if i is not None else None
        layers.append({"index": k, "name": row["name"], "op": row["op"], "kernel": "hls",
                       "nodes": [i] if i is not None else [],
                       "macs": work[i][2] if i is not None and work[i][1] == "mac" else 0,
                       "flash_bytes": sum(g.tensor(t).nbytes for t in n.inputs if t and g.tensor(t).is_const)
                       if n is not None else 0,
                       "activation_bytes": sum(g.tensor(t).nbytes for t in n.outputs if t) if n is not None else 0,
                       "scratch_bytes": 0, "bram36": row["bram36"], "dsp": row["dsp"],
                       "latency_ms": row["cycles"] / b.clock_hz * 1e3})
    tot = est["total"]
    regions = {r.upper(): {"used": int(tot[r]), "available": int(est["available"][r])} for r in est["available"]}
    return {"model": model, "board": b.name, "clock_hz": b.clock_hz, "layers": layers,
            "totals": {"macs": sum(r["macs"] for r in layers), "latency_ms": tot["cycles"] / b.clock_hz * 1e3},
            "regions": regions, "fits": not est["over"],
            "latency": {"total_ms": tot["cycles"] / b.clock_hz * 1e3, "unit": "cycles", "count": tot["cycles"],
                        "basis": f"the FPGA estimator's critical path at {b.clock_hz / 1e6:g} MHz (no profile)"},
            "notes": ["a layer's latency is its own pipeline's; the total is the critical path through the dataflow"]}


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--board", required=True, help="Board name or board .toml file (MCU or FPGA).")
@click.option("--no-tricks", is_flag=True, help="Plan without MCUFormer's fusion and token overwriting.")
@click.option("--reference-kernels", is_flag=True, help="Use only the portable C kernels (as build does).")
@click.option("--stack", "stack_bytes", type=click.IntRange(min=256), default=None,
              help="Stack reserve counted in the stack region (default: the build's 8192).")
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON (nothing else).")
def analyze(model: str, board: str, no_tricks: bool, reference_kernels: bool, stack_bytes: int | None,
            as_json: bool) -> None:
    """What each layer of MODEL costs on BOARD, as `edgefmr build` would build it: op, MACs, flash bytes, RAM bytes
    (activations it reads and writes, kernel scratch), the kernel it runs (portable C, Cortex-M or HLS) and its
    estimated latency in ms at the board clock; totals per memory region against the board."""
    a = analyze_model(model, board, tricks=not no_tricks, optimized=not reference_kernels, stack_bytes=stack_bytes)
    if as_json:
        click.echo(json.dumps(a, indent=2))
        return
    con = console()
    head = f"[bold]{model}[/bold] on {a['board']}"
    if "model_hash" in a:
        head += f", model {a['model_hash'][:16]}, {'with' if a['tricks'] else 'without'} MCUFormer tricks"
    con.print(head)
    names = drop_scope([r["name"] for r in a["layers"]])
    w = room(58, 20)
    rows = [(r["index"], two_lines(r["op"], n, w), r["kernel"], f"{r['macs']:,}",
             f"{r['flash_bytes']:,}", f"{r['activation_bytes']:,}", f"{r['scratch_bytes']:,}",
             f"{r['latency_ms']:.3f}") for r, n in zip(a["layers"], names, strict=True)]
    t = a["totals"]
    rows.append(("", "total", "", f"{t['macs']:,}", f"{t.get('flash_bytes', 0):,}",
                 f"{t.get('peak_live_bytes', 0):,}", "", f"{t['latency_ms']:.3f}"))
    con.print(table(("#", "op / layer", "kernel", "MACs", "flash B", "act B", "scratch", "ms"), rows))
    con.print("act B: the arena bytes a layer reads and writes; total: the peak live bytes (arena "
              f"{sum(t.get('arena_bytes', {}).values()):,} B)" if "arena_bytes" in t else
              "act B: the bytes a layer writes")
    lat = a["latency"]
    con.print(f"latency {lat['total_ms']:.3f} ms estimated: {lat['basis']}")
    if "table" in lat:
        con.print(f"calibration table: {lat['table']}")
    regions = [(name, ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in r.items() if k not in ("used",
                                                                                                     "available")),
                f"{r['used']:,}", f"{r['available']:,}", f"{100 * r['used'] / r['available']:.1f}%")
               for name, r in a["regions"].items()]
    con.print(table(("region", "what", "used", "available", "use"), regions))
    con.print("fits the board" if a["fits"] else "[red]does NOT fit the board[/red]")
    for n in a["notes"]:
        con.print(f"note: {n}")


COMMANDS = [analyze]
