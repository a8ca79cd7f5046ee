"""`edgefmr search`: hardware-aware architecture search for a task and a board (docs/search.md)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from edgefmr.errors import EdgefmrError


class _Bars:
    """rich progress bars on stderr, one per stage: ``(stage, done, total, info)``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Bars:
        if self.enabled:
            from edgefmr.commands._term import progress_bar

            self.bar = progress_bar(info=True)
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, stage: str, done: int, total: int, info: str) -> None:
        if self.bar is None:
            return
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total, info=info)
        self.bar.update(self.tasks[stage], completed=done, total=total, info=info)


def _families(text: str | None) -> tuple[str, ...]:
    from edgefmr.nas.models.families import FAMILY_NAMES

    if not text:
        return ()
    out = tuple(p.strip() for p in text.split(",") if p.strip())
    for f in out:
        if f not in FAMILY_NAMES:
            raise EdgefmrError(f"--family: unknown family '{f}'; valid: {', '.join(FAMILY_NAMES)}")
    if len(set(out)) != len(out):
        raise EdgefmrError(f"--family {text}: a family is listed twice")
    return out


def _kib(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:.1f}"


def latency_label(source: str | None, board: str) -> str:
    """What the search table's latency column ("est. ms") is based on."""
    if source == "fpga-estimator":
        return "est. ms: the FPGA estimator's critical path at the board clock"
    return ("est. ms: at the board clock, from " + (f"the calibration table profiled on {board}"
                                                    if source == "measured" else
                                                    "the core type's default calibration table (board not profiled)"))


_SHORT_KEYS = {"embed_dim": "embed", "mlp_ratio": "mlp", "attention": "attn", "patch_size": "patch",
               "rank_factor": "rank", "activation": "act", "hash_bits": "hbits", "hash_anchors": "anchors"}


def compact_arch(values: dict[str, Any], skip: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """An architecture as short key=value text ("patch=4 embed=32 depth=2 heads=2 mlp=2 attn=soft/clip"), without
    the keys in `skip`."""
    parts = []
    for k, v in values.items():
        if k in skip:
            continue
        key = _SHORT_KEYS.get(k, k)
        if isinstance(v, list | tuple):
            parts.append(f"{key}=" + "/".join(str(x)[:4] for x in v))
        else:
            parts.append(f"{key}={v:g}" if isinstance(v, float) else f"{key}={v}")
    return " ".join(parts)


def _print_table(report: dict[str, Any]) -> None:
    from edgefmr.commands._term import console, table

    fpga = any(r.get("resources") for r in report["pareto"])
    memory = ("BRAM36", "DSP", "LUT", "FF") if fpga else ("SRAM KiB", "flash KiB")
    chosen = report["chosen"]["number"]
    archs = [r["arch"] for r in report["pareto"]]
    same = ({k for k in archs[0] if all(k in a and a[k] == archs[0][k] for a in archs)}
            if len(archs) > 1 else set())
    rows = []
    for r in report["pareto"]:
        mark = "*" if r["number"] == chosen else ""
        res = r.get("resources") or {}
        mem = ([f"{res[k]:,}" for k in ("bram36", "dsp", "lut", "ff")] if fpga
               else [_kib(r["sram"]), _kib(r["flash"])])
        rows.append((f"{r['number']}{mark}", r["family"], compact_arch(r["arch"], same), f"{100 * r['accuracy']:.1f}",
                     f"{1e3 * r['latency_s']:.3f}", *mem, f"{(r['macs'] or 0) / 1e6:.2f}"))
    heads = ("trial", "family", "architecture", "acc %", "est. ms", *memory, "MMACs")
    con = console()
    con.print(table(heads, rows, text=("architecture",),
                    title=f"Pareto front: {report['feasible']} of {report['trials']} trials within the budgets "
                          f"({report['board']}); * chosen"))
    if same:
        con.print("every row: " + compact_arch({k: v for k, v in archs[0].items() if k in same}))
    con.print(latency_label(report.get("latency_source"), report["board"]))


def print_latency_model(board: str) -> None:
    """Which calibration table the search's latency model reads (path, date, models) and its cost terms."""
    from edgefmr.boards import load_board
    from edgefmr.commands._term import console
    from edgefmr.profiling.calibration import cost_terms, describe_table, load_calibration, table_info

    b = load_board(board)
    con = console(stderr=True)
    if b.kind != "mcu":
        con.print(f"latency model: the FPGA estimator of {b.name} (critical path at {b.clock_hz / 1e6:g} MHz)")
        return
    t = load_calibration(b)
    con.print(f"latency model: {describe_table(t)}")
    con.print(f"  {table_info(t)['basis']}; terms: " + "; ".join(cost_terms(t, 4)) + " …")


@click.command()
@click.option("--task", required=True,
              help="A built-in task (edgefmr tasks list) or an .npz file.")
@click.option("--board", required=True, help="Target board (name or .toml file); its memory and calibration table "
              "define the costs (an FPGA board: the FPGA estimator's DSP, BRAM, LUT, FF and latency).")
@click.option("--family", "family", default=None, metavar="FAMILIES",
              help="Comma-separated model families to search: vit, spiking, lmu (default: vit for image tasks, lmu "
                   "for sequence tasks).")
@click.option("--sram-budget", default=None, metavar="SIZE",
              help="Most SRAM the model may use: planner arena + stack reserve (e.g. 64KB; K = 1024); on an FPGA "
                   "board, the block RAM of the design (BRAM36 x 4.5 KiB).")
@click.option("--flash-budget", default=None, metavar="SIZE", help="Most flash the model's constants may use (e.g. "
              "512KB).")
@click.option("--latency-budget", default=None, metavar="TIME",
              help="Longest predicted inference (e.g. 20ms, 0.5s, 2e6cycles).")
@click.option("--trials", type=click.IntRange(min=1), default=40, show_default=True,
              help="Complete trials the study should hold (shared by every worker of the study).")
@click.option("--storage", default=None, metavar="URL",
              help="Study storage: sqlite:///PATH, postgresql://USER@HOST[:PORT]/DB (shared by many workers) or "
                   "journal:PATH (default: sqlite in --out).")
@click.option("--study", "study", default=None, metavar="NAME",
              help="Study name (default: from the task, board, families, seed and a hash of the settings).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampler and the supernets.")
@click.option("--sampler", default="tpe", show_default=True, help="Optuna sampler: tpe, nsga2 or random.")
@click.option("--space", "space_file", default=None, type=click.Path(dir_okay=False),
              help="JSON file restricting the search spaces, e.g. {\"vit\": {\"embed_dim\": [16, 32]}}.")
@click.option("--supernet-epochs", type=click.IntRange(min=1), default=None,
              help="Epochs of supernet training (default per family: vit 60, spiking 10, lmu 10).")
@click.option("--finetune-epochs", type=click.IntRange(min=0), default=15, show_default=True,
              help="Epochs of fine-tuning of the chosen model from its inherited weights (0: none).")
@click.option("--stack-bytes", type=click.IntRange(min=0), default=8192, show_default=True,
              help="Stack reserve counted in the SRAM (the edgefmr build default).")
@click.option("--eval-samples", type=click.IntRange(min=1), default=None,
              help="Evaluate the int8 model on the first N test samples only (default: all).")
@click.option("--no-export", is_flag=True, help="Search only: do not fine-tune, quantize and write the chosen model.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for the chosen model (model.efm, model.pt), search.json, pareto.png and the local study.")
@click.option("--json", "as_json", is_flag=True, help="No progress bars; print the report as JSON.")
def search(task: str, board: str, family: str | None, sram_budget: str | None, flash_budget: str | None,
           latency_budget: str | None, trials: int, storage: str | None, study: str | None, seed: int, sampler: str,
           space_file: str | None, supernet_epochs: int | None, finetune_epochs: int, stack_bytes: int,
           eval_samples: int | None, no_export: bool, out: str, as_json: bool) -> None:
    """Search the architecture of a model for TASK on BOARD within the budgets, then fine-tune, quantize and write
    the chosen one to --out as an integer IR model (model.efm) ready for `edgefmr build`.

    Accuracy is the validation accuracy of the subnet with weights inherited from a supernet trained once per
    family and task (cached); SRAM and flash come from the firmware planner on the lowered integer graph, latency
    from the board's calibration table. Re-running the same command resumes the study.
    """
    from edgefmr.nas.search.cost import Budgets, parse_latency, parse_size

    lat, unit = parse_latency(latency_budget) if latency_budget else (None, "s")
    budgets = Budgets(sram=parse_size(sram_budget, "--sram-budget") if sram_budget else None,
                      flash=parse_size(flash_budget, "--flash-budget") if flash_budget else None,
                      latency=lat, latency_unit=unit)
    _check_budgets_fit(board, budgets)   # before the heavy imports: a bad budget is refused at once
    import torch

    from edgefmr.nas.search.driver import Search, SearchSettings

    settings = SearchSettings(task=task, board=board, families=_families(family), budgets=budgets, trials=trials,
                              seed=seed, sampler=sampler, stack_bytes=stack_bytes, supernet_epochs=supernet_epochs,
                              space_file=space_file, finetune_epochs=finetune_epochs, eval_samples=eval_samples)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    if not as_json:
        print_latency_model(board)
    with _Bars(not as_json) as bars:
        s = Search(settings, out, storage=storage, study_name=study, progress=bars)
        try:
            report = s.run(export=not no_export)
        except KeyboardInterrupt:
            if bars.bar is not None:
                bars.bar.stop()
            click.echo(f"interrupted: the finished trials are kept in study {s.study_name}; run the same command "
                       "again to resume", err=True)
            raise
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    _print_table(report)
    c = report["chosen"]
    res = c.get("resources")
    mem = (", ".join(f"{k.upper()} {v}" for k, v in res.items()) if res else
           f"SRAM {_kib(c['sram'])} KiB, flash {_kib(c['flash'])} KiB")
    click.echo(f"chosen: trial {c['number']} ({c['family']}), validation accuracy {100 * c['accuracy']:.1f}% "
               f"(inherited weights), predicted {1e3 * c['latency_s']:.3f} ms, {mem}")
    if "test_accuracy_int" in c:
        click.echo(f"fine-tuned {c['finetune_epochs']} epochs: test accuracy {100 * c['test_accuracy_float']:.1f}% "
                   f"float, {100 * c['test_accuracy_int']:.1f}% int8 (IR interpreter); memory of the final graph "
                   f"{'equals' if c['prediction_matches_final'] else 'DIFFERS FROM'} the prediction")
        click.echo(f"next: {c['build_command']}")
    for k, v in report["files"].items():
        click.echo(f"{k}: {v}", file=sys.stdout)


def _check_budgets_fit(board: str, budgets) -> None:
    """Refuse an SRAM or flash budget larger than all of the board's RAM or program memory (it limits nothing)."""
    from edgefmr.boards import load_board
    from edgefmr.boards.schema import REGION_KINDS
    from edgefmr.errors import EdgefmrError
    from edgefmr.nas.search.cost import format_bytes

    b = load_board(board)
    if b.kind != "mcu":
        return
    for opt, want, regions in (("--sram-budget", budgets.sram, [r for r in b.memory if REGION_KINDS[r.kind][1]]),
                               ("--flash-budget", budgets.flash, [r for r in b.memory if r.kind in ("flash", "qspi")])):
        have = sum(r.size for r in regions)
        if want is not None and regions and want > have:
            raise EdgefmrError(f"{opt} {format_bytes(want)} is more than board {b.name} has "
                               f"({format_bytes(have)} in {', '.join(r.name for r in regions)}); valid: up to "
                               f"{format_bytes(have)}")


COMMANDS = [search]
