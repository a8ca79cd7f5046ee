"""`edgefmr report`: one self-contained HTML page per model from the JSON files a pipeline run leaves in a folder.

The folder (and its direct sub-folders) is scanned for JSON files, recognized by their content, not their name:

- a build manifest (``"format": "edgefmr-build"``, from ``edgefmr build``): board, fit, memory plan with tricks;
- a profiling report (``"format": "edgefmr-profile"``, from ``edgefmr profile --out``): per-layer counts;
- a quantization report (``float_accuracy`` and ``int_accuracy`` keys, from ``edgefmr quantize --report``);
- a memory plan (``tricks``, ``layers`` and ``arena_bytes`` keys, from ``edgefmr plan --json``);
- a search report (``"format": "edgefmr-search"``, ``search.json`` from ``edgefmr search --out``).

The plan of the other trick setting (with vs without MCUFormer's tricks) is computed with the planner when the
model file a plan or manifest names can be found. Each section is present only when its data exists. Plots are
matplotlib SVGs inlined in the page, so it opens with no network access.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgefmr.boards import Board, load_board
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.cost import build_arm_kernels, make_plan
from edgefmr.ir.model_io import load_model
from edgefmr.report import plots

SECTIONS = ("board", "pareto", "memory", "latency", "accuracy")
TITLES = {"board": "Board and budgets at a glance", "pareto": "Search: Pareto front",
          "memory": "Memory plan timeline", "latency": "Per-layer latency (profiling session)",
          "accuracy": "Accuracy: float vs integer, bit-exact agreement, outliers"}


@dataclass
class ReportData:
    """What was found in a report folder (None when absent) and where it came from."""

    folder: Path
    manifest: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    quant: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    search: dict[str, Any] | None = None
    plans: dict[bool, dict[str, Any]] = field(default_factory=dict)  # tricks -> plan dict with "layers"/"tensors"
    board: Board | None = None
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def sections(self) -> list[str]:
        """The sections that have data, in page order."""
        have = {"board": self.board is not None or self.manifest is not None or self.search is not None,
                "pareto": bool(self.search and self.search.get("rows")),
                "memory": bool(self.plans),
                "latency": bool(self.profile and self.profile.get("layers")),
                "accuracy": self.quant is not None or bool(self.profile and self.profile.get("agreement"))}
        return [s for s in SECTIONS if have[s]]


def _kind(d: Any) -> str | None:
    if not isinstance(d, dict):
        return None
    fmt = d.get("format")
    if fmt == "edgefmr-build":
        return "manifest"
    if fmt == "edgefmr-profile":
        return "profile"
    if fmt == "edgefmr-search":
        return "search"
    if "float_accuracy" in d and "int_accuracy" in d:
        return "quant"
    if {"tricks", "layers", "arena_bytes"} <= d.keys():
        return "plan"
    return None


def collect(folder: str | Path) -> ReportData:
    """Find the pipeline's JSON files in `folder` and its direct sub-folders; compute the missing trick plan."""
    root = Path(folder)
    if not root.is_dir():
        raise EdgefmrError(f"{root}: not a folder; give the folder of a search, build or profile run")
    data = ReportData(folder=root)
    files = sorted(root.glob("*.json")) + sorted(p for p in root.glob("*/*.json"))
    found: list[tuple[Path, str, dict[str, Any]]] = []
    for p in files:
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        k = _kind(d)
        if k is not None:
            found.append((p, k, d))
    check_one_model(found)
    for p, k, d in found:
        if getattr(data, k) is None:
            setattr(data, k, d)
            data.sources[k] = str(p)
    if not data.sources:
        raise EdgefmrError(f"{root}: no manifest.json, profile, quantization, plan or search JSON found here or in "
                           "its sub-folders (see docs/report.md for what `report` reads)")
    _load_board(data)
    _plans(data)
    return data


def model_hash_of(kind: str, d: dict[str, Any]) -> str | None:
    """The hash of the model a pipeline file describes (None when the file does not say: older files)."""
    if kind == "search":
        return (d.get("chosen") or {}).get("model_hash")
    h = d.get("model_hash")
    return str(h) if h else None


def check_one_model(found: list[tuple[Path, str, dict[str, Any]]]) -> None:
    """EdgefmrError naming the files when the pipeline files describe more than one model (by their model hash):
    a report never shows one model's numbers as another's."""
    by_hash: dict[str, list[str]] = {}
    for p, k, d in found:
        h = model_hash_of(k, d)
        if h:
            by_hash.setdefault(h, []).append(str(p))
    if len(by_hash) > 1:
        groups = "; ".join(f"model {h[:12]}: {', '.join(ps)}" for h, ps in by_hash.items())
        raise EdgefmrError(f"these files describe {len(by_hash)} different models ({groups}); a report covers one "
                           f"model: give the folder of one model's files, or move the others out")


def _load_board(data: ReportData) -> None:
    name = None
    for d in (data.manifest, data.profile, data.plan, data.search):
        if d and d.get("board"):
            name = d["board"]
            break
    if name is None:
        return

    try:
        data.board = load_board(str(name))
    except EdgefmrError as e:
        data.notes.append(f"board {name}: {e}")


def _find_model(data: ReportData, ref: str | None) -> Path | None:
    cands = []
    if ref:
        r = Path(ref)
        cands += [r, data.folder / r, data.folder / r.name, data.folder.parent / r]
    for c in cands:
        if c.is_file():
            return c
    return None


def _plans(data: ReportData) -> None:
    base = None
    if data.plan is not None:
        base = data.plan
    elif data.manifest is not None and isinstance(data.manifest.get("plan"), dict):
        base = data.manifest["plan"]
    if base is None or "layers" not in base:
        return
    tricks = bool(base.get("tricks"))
    data.plans[tricks] = base
    ref = (data.plan or {}).get("model") or (data.manifest or {}).get("model")
    model = _find_model(data, ref)
    if model is None:
        data.notes.append(f"the model file {ref!r} was not found, so the plan "
                          f"{'without' if tricks else 'with'} tricks is not drawn")
        return

    try:
        g = load_model(str(model))
        b = data.board if data.board is not None and data.board.kind == "mcu" else None
        data.plans[not tricks] = make_plan(g, b, not tricks, build_arm_kernels(b) if b is not None else frozenset(),
                                           choose=False).to_dict()
    except EdgefmrError as e:
        data.notes.append(f"{model}: {e}")


# ------------------------------------------------------------------------------------------------------------ html

def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table class='kv'>{body}</table>"


def _fmt_bytes(n: Any) -> str:
    return "—" if n is None else f"{int(n):,} B"


def _facts(data: ReportData, section: str) -> list[tuple[str, Any]]:
    m, p, q, s = data.manifest or {}, data.profile or {}, data.quant or {}, data.search or {}
    rows: list[tuple[str, Any]] = []
    if section == "board":
        b = data.board
        if b is not None:
            rows += [("board", f"{b.name} — {b.description}"), ("device", f"{b.vendor} {b.device}"),
                     ("clock", f"{b.clock_hz / 1e6:g} MHz")]
            if b.kind == "mcu":
                rows += [("core", f"{b.core}, FPU {b.fpu or 'none'}, DSP {'yes' if b.dsp else 'no'}")]
                rows += [(f"region {r.name}", f"{r.kind}, {r.size:,} B at 0x{r.origin:08x}") for r in b.memory]
        for reg, f in (m.get("fit") or {}).items():
            rows.append((f"{reg} needed / available", f"{f.get('needed', 0):,} / {f.get('available', 0):,} B"))
        pred = m.get("predicted") or {}
        if pred:
            rows += [("predicted arena", _fmt_bytes(pred.get("arena_total"))),
                     ("predicted stack", _fmt_bytes(pred.get("stack"))),
                     ("predicted flash", _fmt_bytes(pred.get("flash")))]
        for k, v in (s.get("budgets") or {}).items():
            if k != "latency_unit" and v is not None:
                unit = s["budgets"].get("latency_unit", "s") if k == "latency" else "B"
                rows.append((f"search budget {k}", f"{v:,} {unit}"))
        if m.get("model_hash"):
            rows.append(("model hash", m["model_hash"][:16]))
    elif section == "pareto":
        ch = s.get("chosen") or {}
        rows += [("task", s.get("task")), ("families", ", ".join(s.get("families") or [])),
                 ("trials / feasible", f"{s.get('trials')} / {s.get('feasible')}"),
                 ("latency source", s.get("latency_source")),
                 ("chosen", f"trial {ch.get('number')} ({ch.get('family')}): accuracy "
                            f"{100 * ch.get('accuracy', 0):.1f}%, latency {1e3 * ch.get('latency_s', 0):.3g} ms, "
                            f"SRAM {_fmt_bytes(ch.get('sram'))}")]
    elif section == "memory":
        for t, pl in sorted(data.plans.items(), reverse=True):
            rows.append((f"{'with' if t else 'without'} tricks",
                         f"arena {sum(pl.get('arena_bytes', {}).values()):,} B, peak live "
                         f"{pl.get('peak_bytes', 0):,} B, {len(pl['layers'])} steps"))
    elif section == "latency":
        c = p.get("counter") or {}
        lat = p.get("latency") or {}
        ms = (f" = {lat['ms_mean']:.3f} ms ({lat.get('ms_basis')})" if lat.get("ms_mean") is not None else "")
        rows += [("counter", c.get("label")),
                 ("per inference", f"{lat.get('mean') or 0:,.0f} {lat.get('unit', '')}{ms}"),
                 ("per MAC", f"{p.get('per_mac', 0):.2f} {lat.get('unit', '')} per MAC over {p.get('macs', 0):,} MACs"),
                 ("stack used / predicted",
                  f"{(p.get('memory') or {}).get('stack_used')} / {(p.get('memory') or {}).get('stack_predicted')} B"),
                 ("arena measured / predicted",
                  f"{(p.get('memory') or {}).get('arena_bytes')} / {(p.get('memory') or {}).get('arena_predicted')} B")]
    elif section == "accuracy":
        if q:
            rows += [("float accuracy", f"{100 * q['float_accuracy']:.2f}% on {q.get('test_samples')} test samples"),
                     ("integer accuracy", f"{100 * q['int_accuracy']:.2f}%"
                                         + (f" ({q['int_accuracy_measured_on']})"
                                            if q.get("int_accuracy_measured_on") else "")),
                     ("method", q.get("method")), ("max |activation|", q.get("max_abs_activation")),
                     ("max kurtosis", q.get("kurtosis"))]
            att = q.get("attention_ops") or {}
            if att:
                rows.append(("attention mults / adds", f"{att.get('mults', 0):,} / {att.get('adds', 0):,}"))
        ag = p.get("agreement") or {}
        if ag:
            rows.append(("board == interpreter", f"{ag.get('bit_exact')}/{ag.get('total')} inputs bit for bit, "
                                                  f"max |diff| {ag.get('max_abs_diff')}"))
        acc = p.get("accuracy") or {}
        if acc:
            rows.append(("accuracy on the board", f"{acc.get('correct')}/{acc.get('total')} = "
                                                   f"{100 * acc.get('accuracy', 0):.2f}% (labels {acc.get('labels')})"))
        fl = p.get("float") or {}
        if fl:
            rows.append(("board vs float model", f"cosine mean {fl.get('cosine_mean', 0):.4f}, l2r mean "
                                                  f"{fl.get('l2r_mean', 0):.4f}, top-1 agreement "
                                                  f"{100 * fl.get('top1_agreement', 0):.1f}%"))
    return [(k, v) for k, v in rows if v is not None]


_CSS = """body{font-family:sans-serif;margin:24px;max-width:1300px;color:#222}
h1{margin-bottom:4px}section{border-top:2px solid #ddd;padding-top:8px;margin-top:18px}
table.kv{border-collapse:collapse;font-size:14px;margin:8px 0}table.kv th{text-align:left;padding:2px 12px 2px 0;
color:#555;font-weight:normal}table.kv td{padding:2px 0}
table.layers{border-collapse:collapse;font-size:12px}table.layers td,table.layers th{padding:1px 8px;text-align:right}
table.layers td:nth-child(2){text-align:left;max-width:420px;overflow-wrap:anywhere}
.plot svg{max-width:100%;height:auto}.note{color:#a60}"""


def layer_table(profile: dict[str, Any]) -> str:
    """Per layer of a profile: the kernel it ran, its count and ms at the board clock, its flash and activation
    bytes (why a layer is slow)."""
    unit = (profile.get("counter") or {}).get("unit", "")

    def num(v: Any, digits: int = 0) -> str:
        return "—" if v is None else f"{v:,.{digits}f}"

    head = ("#", "layer", "op", "kernel", unit, "ms", "share", f"{unit}/MAC", "flash B", "activation B")
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            r.get("index"), r.get("name"), r.get("op"), r.get("kernel", ""), num(r.get("count_mean")),
            num(r.get("ms"), 3), f"{100 * (r.get('share') or 0):.1f}%", num(r.get("per_mac"), 2),
            num(r.get("flash_bytes")), num(r.get("activation_bytes")))) + "</tr>"
        for r in profile.get("layers", []))
    return ("<table class='layers'><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + f"</tr>{rows}"
            "</table>")


def render_html(data: ReportData) -> str:
    """The whole report page (self-contained: inline CSS and SVG, no scripts, no external resources)."""

    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>edgefmr report — {html.escape(str(data.folder))}"
             f"</title><style>{_CSS}</style></head><body>",
             f"<h1>edgefmr report</h1><p>{html.escape(str(data.folder))}</p>",
             _table([(k, v) for k, v in sorted(data.sources.items())])]
    for sec in data.sections():
        parts.append(f"<section id='{sec}' class='report-section'><h2>{TITLES[sec]}</h2>")
        parts.append(_table(_facts(data, sec)))
        for fig in plots.figures(data, sec):
            parts.append(f"<div class='plot'>{plots.to_svg(fig)}</div>")
        if sec == "latency":
            parts.append(layer_table(data.profile or {}))
        parts.append("</section>")
    for n in data.notes:
        parts.append(f"<p class='note'>{html.escape(n)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(folder: str | Path, out: str | Path | None = None,
                 png_dir: str | Path | None = None) -> dict[str, Any]:
    """Collect `folder`, write the HTML page (default `folder`/report.html) and, with `png_dir`, PNG and SVG plots."""
    data = collect(folder)
    out_path = Path(out) if out is not None else data.folder / "report.html"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render_html(data), encoding="utf-8")
    written: list[str] = []
    if png_dir is not None:

        written = plots.write_static(data, Path(png_dir))
    return {"html": str(out_path), "sections": data.sections(), "static": written, "notes": data.notes,
            "sources": data.sources}
