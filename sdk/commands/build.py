"""`edgefmr build`: generate and compile the firmware of a model for a board (or the host)."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--board", required=True,
              help="Board name or board .toml file (an MCU or FPGA board), or `host` for a native executable.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Artifact folder to write (sources, Makefile, ELF/bin or executable, manifest.json).")
@click.option("--no-tricks", is_flag=True,
              help="Plan without MCUFormer's fusion and token overwriting (every tensor stored whole).")
@click.option("--reference-kernels", is_flag=True,
              help="Use only the portable C kernels, not the Cortex-M DSP variants.")
@click.option("--stack", "stack_bytes", type=click.IntRange(min=256), default=None,
              help="Stack bytes reserved at the top of the stack region (default 8192).")
@click.option("--mlperf-model", metavar="NAME", default=None,
              help="The name the firmware's MLPerf Tiny `profile%` reports (m-model-[NAME]), so the official runner "
                   "finds its test script: kws01, ic01, vww01 or ad01; default: from the model file (its metadata "
                   "`mlperf_model`, or a file named like one of these or like a reference model), else the graph hash.")
@click.option("--streaming", is_flag=True,
              help="MODEL is a step program (edgefmr quantize --stream-out): keep its state on the device in a "
                   "persistent region; efm_model_step() runs one frame (docs/streaming.md).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON (nothing else).")
def build(model: str, board: str, out_dir: str, no_tricks: bool, reference_kernels: bool, stack_bytes: int | None,
          mlperf_model: str | None, streaming: bool, as_json: bool) -> None:
    """Build MODEL (.efm or .tflite) into the artifact folder OUT for BOARD; fails with the bytes needed and
    available per memory region when the model does not fit."""
    from edgefmr.firmware import toolchain
    from edgefmr.firmware.build import build as build_firmware

    if board != "host" and _is_fpga(board):
        from edgefmr.firmware.hls import build as build_hls

        m = build_hls(model, board, out_dir, streaming=streaming)
        click.echo(json.dumps(m, indent=2, default=str) if as_json else
                   f"{model} -> {out_dir}: Vitis HLS project for {m.get('board', board)}, {m['design']} design "
                   f"(C simulation built and "
                   f"checked bit for bit; run_hls.tcl for the vendor tools); see {out_dir}/manifest.json"
                   + (f"\nstreaming top {m['streaming']['top']}: {len(m['streaming']['states'])} states "
                      f"({m['streaming']['state_bytes']:,} B) kept in the design; {m['streaming']['csim']['report']}"
                      if "streaming" in m else ""))
        return
    m = build_firmware(model, None if board == "host" else board, out_dir, tricks=not no_tricks,
                       optimized=not reference_kernels, stack_bytes=stack_bytes or toolchain.DEFAULT_STACK_BYTES,
                       mlperf_model=mlperf_model, streaming=streaming)
    if as_json:
        click.echo(json.dumps(m, indent=2))
        return
    from edgefmr.commands._term import console, table

    con = console()
    pred = m["predicted"]
    tricks = ("with MCUFormer tricks" if m.get("tricks") else "without tricks" if no_tricks else
              "without tricks (they would make the arena larger)")
    con.print(f"[bold]{model}[/bold] -> {out_dir}  board {m['board']}, model {m['model_hash'][:16]}, {tricks}, "
              f"{m['build_seconds']:.1f} s")
    if "streaming" in m:
        st = m["streaming"]
        measured = m.get("measured", {}).get("state_symbol")
        con.print(f"streaming: {len(st['states'])} states in a persistent region of {st['state_bytes']:,} B "
                  f"(apart from the arena" + (f"; {measured:,} B in the ELF" if measured is not None else "")
                  + f"); frame {st['frame'][0]['dtype']}{st['frame'][0]['shape']}, output "
                  f"{st['output'][0]['dtype']}{st['output'][0]['shape']} per step")
    if m["board"] == "host":
        con.print(f"arena {pred['arena_total']:,} B; executable {out_dir}/model (stdin: input bytes, stdout: "
                  f"output bytes)")
        return
    rows = [(r, f"{v['needed']:,}", f"{v['available']:,}",
             *(f"{v[k]:,}" if k in v else "" for k in ("arena", "stack", "static", "flash")))
            for r, v in m.get("fit", {}).items()]
    con.print(table(("region", "needed B", "available B", "arena B", "stack B", "static B", "flash B"), rows))
    arena = ", ".join(f"{r} {n:,} B" for r, n in m["measured"]["arena_symbols"].items())
    con.print(f"in the ELF: arena {arena}, flash image {m['measured']['flash']:,} B (predicted {pred['flash']:,} B)")
    con.print(f"stack: {pred['stack']:,} B estimated (deepest chain {' > '.join(pred['stack_chain'][:4])} …), "
              f"{pred['stack_reserved']:,} B reserved; kernels: {', '.join(m['kernels'])}"
              + (f"; Cortex-M DSP variants: {', '.join(m['arm_kernels'])}" if m["arm_kernels"] else ""))
    from edgefmr.errors import EdgefmrError
    from edgefmr.ir.model_io import load_model
    from edgefmr.profiling.calibration import estimate_ms, load_calibration

    try:  # a note only: a damaged calibration table does not fail the build
        est = estimate_ms(load_model(model), load_calibration(m["board"]))
        con.print(f"estimated latency {est['total_ms']:.3f} ms ({est['basis']}; per layer: edgefmr analyze)")
    except EdgefmrError as e:
        con.print(f"no latency estimate: {e}")
    con.print(f"files: {out_dir}/model.elf, model.bin, Makefile, manifest.json")


def _is_fpga(board: str) -> bool:
    from edgefmr.boards import load_board

    return load_board(board).kind == "fpga"


COMMANDS = [build]
