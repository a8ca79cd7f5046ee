"""`edgefmr plan`: the static memory plan of a model (per-step live memory, arena per region, fit on a board)."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--board", default=None, help="Board name or board .toml file; without it the fit is not checked.")
@click.option("--no-tricks", is_flag=True,
              help="Plan without MCUFormer's fusion and token overwriting (one step per node, as the plain C "
                   "backend runs it).")
@click.option("--block-rows", type=click.IntRange(min=1), default=None,
              help="Tokens per block of fused row groups and attention query blocks (default 4).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole plan as JSON (nothing else).")
def plan(model: str, board: str | None, no_tricks: bool, block_rows: int | None, as_json: bool) -> None:
    """Show MODEL's per-step live memory and the arena it needs (.efm or .tflite): the plan `edgefmr build` makes for
    the board (its kernels' scratch included; MCUFormer's tricks only where they do not make the arena larger)."""
    from edgefmr.errors import EdgefmrError
    from edgefmr.firmware.cost import build_arm_kernels, make_plan
    from edgefmr.firmware.schedule import DEFAULT_BLOCK_ROWS
    from edgefmr.ir.model_io import load_model

    source = load_model(model)
    b = None
    if board is not None:
        from edgefmr.boards import load_board

        b = load_board(board)
        if b.kind != "mcu":
            raise EdgefmrError(f"board {b.name} is an FPGA board; `plan` sizes MCU arenas (use an MCU board)")
    rows = block_rows or DEFAULT_BLOCK_ROWS
    arm = build_arm_kernels(b)  # the plan `edgefmr build` makes: the kernels' scratch included
    p = make_plan(source, b, not no_tricks, arm, block_rows=rows)
    other = make_plan(source, b, not p.tricks, arm, block_rows=rows, choose=False)
    g = p.graph  # the graph the build generates code for (IR passes applied)
    fits, why = None, ""
    if b is not None:
        try:
            p.check_fits(b)
            fits = True
        except EdgefmrError as e:
            fits, why = False, str(e)
    if as_json:
        from edgefmr.ir import graph_hash

        d = {"model": model, "model_hash": graph_hash(source), **p.to_dict(), "fits": fits,
             "compare": {"tricks": other.tricks, "arena_bytes": other.arena_bytes, "peak_bytes": other.peak_bytes}}
        if b is not None:
            d["available"] = {p.region: b.region(p.region).size}
        click.echo(json.dumps(d, indent=2))
        return
    from edgefmr.commands._term import console, drop_scope, room, short_name, table, two_lines

    con = console()
    mode = f"with MCUFormer tricks (block rows {rows})" if p.tricks else "without tricks"
    con.print(f"[bold]{model}[/bold]  {len(g.nodes)} nodes, {len(p.schedule.steps)} steps, {mode}")
    names = drop_scope([layer.name for layer in p.layers])
    w = room(40, 20)
    rows = []
    for layer, name in zip(p.layers, names, strict=True):
        ops = ", ".join(layer.ops) if len(layer.ops) <= 3 else f"{', '.join(layer.ops[:3])} … ({len(layer.ops)})"
        rows.append((layer.step, layer.kind, two_lines(ops, name, w),
                     f"{layer.live_bytes:,}", f"{layer.extent:,}"))
    con.print(table(("step", "kind", "ops / name", "live B", "extent B"), rows))
    con.print("live B: bytes of the tensors and scratch live during the step; extent B: the highest arena byte "
              "they reach (docs/planner.md)")
    peak = max(p.layers, key=lambda la: la.live_bytes) if p.layers else None
    where = f" (step {peak.step}: {short_name(peak.name, 40)})" if peak else ""
    con.print(f"arena {p.region}: {p.arena_size:,} B; peak live {p.peak_bytes:,} B{where}; "
              f"constants in flash {g.weight_bytes():,} B")
    con.print(f"{'with' if other.tricks else 'without'} tricks: arena {other.arena_size:,} B, peak live "
              f"{other.peak_bytes:,} B" + (" (larger: the build plans without them)" if not no_tricks and not p.tricks
                                           else ""))
    if p.state:
        con.print(f"streaming step program: persistent state {p.state_bytes:,} B in its own region (not the arena; "
                  f"{sum(1 for a in p.state.values() if not a.view_of)} states, kept between steps: docs/streaming.md)")
    if p.requires_fused_codegen:
        con.print("this plan needs the fused loops of docs/planner.md (requires_fused_codegen)")
    if b is not None:
        avail = b.region(p.region).size
        con.print(f"board {b.name}: region {p.region} {avail:,} B -> "
                  + ("fits" if fits else f"[red]does not fit[/red]: {why}"))


COMMANDS = [plan]
