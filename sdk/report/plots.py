"""The report's matplotlib figures, one list per section; SVG for the HTML page, PNG and SVG files for `--png`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

if TYPE_CHECKING:
    from edgefmr.report import ReportData


def to_svg(fig: Figure) -> str:
    """`fig` as an inline <svg> element (no XML prolog, no metadata links); closes the figure."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def figures(data: ReportData, section: str) -> list[Figure]:
    """The figures of one section (empty when the section has no data)."""
    return {"board": _board, "pareto": _pareto, "memory": _memory, "latency": _latency,
            "accuracy": _accuracy}[section](data)


def write_static(data: ReportData, out: Path) -> list[str]:
    """Every section's figures as `<section>[-n].png` and `.svg` in `out`; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for sec in data.sections():
        for i, fig in enumerate(figures(data, sec)):
            stem = out / (sec if i == 0 else f"{sec}-{i + 1}")
            fig.savefig(stem.with_suffix(".png"), dpi=110)
            fig.savefig(stem.with_suffix(".svg"), metadata={"Date": None})
            plt.close(fig)
            paths += [str(stem.with_suffix(".png")), str(stem.with_suffix(".svg"))]
    return paths


# ---------------------------------------------------------------------------------------------------------- board

def _board(data: ReportData) -> list[Figure]:
    """Per region: what the model needs (arena, stack, static data / flash image) against the region's size."""
    fit = (data.manifest or {}).get("fit") or {}
    budgets = (data.search or {}).get("budgets") or {}
    regions: list[tuple[str, dict[str, int], int]] = []
    mcu = data.board is not None and data.board.kind == "mcu"
    for reg, f in fit.items():
        parts = {k: int(v) for k, v in f.items() if k not in ("needed", "available")}
        regions.append((reg, parts, int(f["available"])))
    if not regions and mcu:
        arena = (data.plans.get(True) or data.plans.get(False) or {}).get("arena_bytes") or {}
        regions = [(r.name, {"arena": int(arena[r.name])} if r.name in arena else {}, r.size)
                   for r in data.board.memory]
    if not regions:
        return []
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.7 * len(regions)), dpi=100)
    colors = {"arena": "tab:blue", "stack": "tab:orange", "static": "tab:green", "flash": "tab:purple"}
    for i, (reg, parts, avail) in enumerate(regions):
        left = 0.0
        for k, v in parts.items():
            ax.barh(i, 100 * v / avail, left=left, color=colors.get(k, "tab:gray"),
                    label=k if k not in ax.get_legend_handles_labels()[1] else None)
            left += 100 * v / avail
        ax.text(min(left, 100) + 1, i, f"{sum(parts.values()):,} / {avail:,} B", va="center", fontsize=9)
        key = None
        if mcu:
            key = {data.board.arena_region().name: "sram", data.board.flash_region().name: "flash"}.get(reg)
        if key and budgets.get(key):
            x = 100 * budgets[key] / avail
            ax.plot([x, x], [i - 0.4, i + 0.4], "r--", lw=1.5, label="search budget"
                    if "search budget" not in ax.get_legend_handles_labels()[1] else None)
    ax.axvline(100, color="k", lw=1.5, label="board limit")
    ax.set_yticks(range(len(regions)), [r[0] for r in regions])
    ax.set_xlim(0, 125)
    ax.set_xlabel("% of the board's region")
    ax.legend(fontsize=8, loc="lower right", ncol=3)
    ax.set_title("memory use per region")
    fig.tight_layout()
    return [fig]


# ---------------------------------------------------------------------------------------------------------- pareto

def _pareto(data: ReportData) -> list[Figure]:
    s = data.search or {}
    rows = s.get("rows") or []
    if not rows:
        return []
    front, chosen, budgets = s.get("pareto") or [], s.get("chosen") or {}, s.get("budgets") or {}
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    bad = [r for r in rows if not r.get("feasible")]
    ok = [r for r in rows if r.get("feasible")]
    if bad:
        ax.scatter([1e3 * r["latency_s"] for r in bad], [100 * r["accuracy"] for r in bad], marker="x", c="0.65",
                   label="over budget (not evaluated)")
    if ok:
        sc = ax.scatter([1e3 * r["latency_s"] for r in ok], [100 * r["accuracy"] for r in ok],
                        c=[(r.get("sram") or 0) / 1024 for r in ok], cmap="viridis", s=28, label="feasible trial")
        fig.colorbar(sc, ax=ax, label="SRAM (KiB)")
    if front:
        ax.plot([1e3 * r["latency_s"] for r in front], [100 * r["accuracy"] for r in front], "-", c="tab:red",
                lw=1.5, label="Pareto front")
    if chosen:
        ax.scatter([1e3 * chosen["latency_s"]], [100 * chosen["accuracy"]], marker="*", s=260, c="gold",
                   edgecolors="k", zorder=5, label=f"chosen (trial {chosen.get('number')})")
    if budgets.get("latency") is not None and budgets.get("latency_unit", "s") == "s":
        ms = 1e3 * budgets["latency"]
        ax.axvline(ms, color="r", ls="--", label=f"latency budget {ms:g} ms")
    ax.set_xlabel(f"predicted latency (ms; {s.get('latency_source') or 'cost model'})")
    ax.set_ylabel("accuracy (%)")
    title = "accuracy vs latency"
    if budgets.get("sram") is not None:
        title += f" (SRAM budget {budgets['sram'] / 1024:g} KiB: trials above it are over budget)"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return [fig]


# ---------------------------------------------------------------------------------------------------------- memory

def _region_live(plan: dict[str, Any]) -> dict[str, list[tuple[float, int]]]:
    """Per region: (x, live bytes) per step, x = the last graph node the step runs (so both plans share an axis)."""
    steps = (plan.get("schedule") or {}).get("steps") or []
    last_node = {s["index"]: max(s["nodes"]) if s.get("nodes") else s["index"] for s in steps}
    allocs = list(plan.get("tensors") or []) + list(plan.get("scratch") or [])
    out: dict[str, list[tuple[float, int]]] = {}
    if not allocs:
        reg = plan.get("region", "arena")
        out[reg] = [(last_node.get(la["step"], la["step"]), int(la["live_bytes"])) for la in plan["layers"]]
        return out
    for reg in sorted({a["region"] for a in allocs}):
        pts = []
        for la in plan["layers"]:
            st = la["step"]
            live = sum(a["size"] for a in allocs if a["region"] == reg and a["first_step"] <= st <= a["last_step"])
            pts.append((last_node.get(st, st), live))
        out[reg] = pts
    return out


def _memory(data: ReportData) -> list[Figure]:
    if not data.plans:
        return []
    per = {t: _region_live(p) for t, p in data.plans.items()}
    regions = sorted({r for d in per.values() for r in d})
    fig, axes = plt.subplots(len(regions), 1, figsize=(11, 4.2 * len(regions)), dpi=100, squeeze=False)
    fit = (data.manifest or {}).get("fit") or {}
    for ax, reg in zip(axes[:, 0], regions, strict=True):
        for t in sorted(per, reverse=True):
            pts = per[t].get(reg)
            if not pts:
                continue
            arena = sum(data.plans[t].get("arena_bytes", {}).values())
            ax.step([x for x, _ in pts], [v for _, v in pts], where="post", lw=2,
                    c="tab:blue" if t else "tab:orange", marker="o", ms=3,
                    label=f"{'with' if t else 'without'} MCUFormer tricks (arena {arena:,} B)")
        size = None
        if data.board is not None and data.board.kind == "mcu":
            try:
                size = data.board.region(reg).size
            except Exception:  # noqa: BLE001 - a plan without a board uses the pseudo-region "arena"
                size = None
        if size is not None:
            ax.axhline(size, color="k", lw=1.5, label=f"board {reg}: {size:,} B")
            f = fit.get(reg) or {}
            if f:
                room = size - f.get("stack", 0) - f.get("static", 0)
                ax.axhline(room, color="r", ls="--", lw=1.2,
                           label=f"room for the arena (minus stack, static): {room:,} B")
            ax.set_yscale("log")
        layers = data.plans[max(data.plans)]["layers"]
        x_names = {x: la["name"] for (x, _), la in zip(per[max(per)].get(reg, []), layers, strict=False)}
        ax.set_xticks(list(x_names), [n[:28] for n in x_names.values()], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(f"live bytes in {reg}")
        ax.set_xlabel("graph node (step ends here)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        ax.set_title(f"live memory per step, region {reg}")
    fig.tight_layout()
    return [fig]


# --------------------------------------------------------------------------------------------------------- latency

def _latency(data: ReportData) -> list[Figure]:
    p = data.profile or {}
    layers = p.get("layers") or []
    if not layers:
        return []
    label = (p.get("counter") or {}).get("label") or (p.get("latency") or {}).get("unit", "count")
    unit = (p.get("latency") or {}).get("unit", "count")
    names = [f"{la['index']}: {la['name'][:30]} ({la['op']}{', ' + la['kernel'] if la.get('kernel') else ''})"
             for la in layers]
    counts = [la["count_mean"] for la in layers]
    per_mac = [la["per_mac"] if la.get("per_mac") is not None else 0.0 for la in layers]
    h = 1.2 + 0.32 * len(layers)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, h), dpi=100, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    y = list(range(len(layers)))
    a1.barh(y, counts, color="tab:blue")
    for yi, c, la in zip(y, counts, layers, strict=True):
        a1.text(c, yi, f" {c:,.0f} ({100 * la.get('share', 0):.1f}%)", va="center", fontsize=7)
    a1.set_yticks(y, names, fontsize=8)
    a1.invert_yaxis()
    a1.set_xlabel(label)
    a1.set_title(f"per layer, mean of {(p.get('inputs') or {}).get('count', '?')} inferences", fontsize=10)
    a1.margins(x=0.25)
    a2.barh(y, per_mac, color="tab:green")
    for yi, v, la in zip(y, per_mac, layers, strict=True):
        a2.text(v, yi, f" {v:.2f}" if la.get("per_mac") is not None else " no MACs", va="center", fontsize=7)
    if p.get("per_mac"):
        a2.axvline(p["per_mac"], color="k", ls="--", lw=1, label=f"whole model {p['per_mac']:.2f}")
        a2.legend(fontsize=8, loc="lower right")
    a2.set_xlabel(f"{unit} per MAC")
    a2.margins(x=0.25)
    fig.tight_layout()
    return [fig]


# -------------------------------------------------------------------------------------------------------- accuracy

def _accuracy(data: ReportData) -> list[Figure]:
    q, p = data.quant or {}, data.profile or {}
    ag = p.get("agreement") or {}
    fl = p.get("float") or {}
    acts = [a for a in q.get("activations") or [] if "max_abs" in a]
    bars: list[tuple[str, float, str]] = []
    if q:
        bars += [("float model", 100 * q["float_accuracy"], "tab:blue"),
                 ("integer model (interpreter)", 100 * q["int_accuracy"], "tab:orange")]
    if ag.get("total"):
        bars.append(("board == interpreter, bit-exact", 100 * ag["bit_exact"] / ag["total"], "tab:green"))
    if fl.get("top1_agreement") is not None:
        bars.append(("board top-1 == float top-1", 100 * fl["top1_agreement"], "tab:purple"))
    if not bars and not acts:
        return []
    ncols = 2 if acts else 1
    fig, axes = plt.subplots(1, ncols, figsize=(12 if acts else 7, 4.8), dpi=100, squeeze=False,
                             gridspec_kw={"width_ratios": [1, 2] if acts else [1]})
    ax = axes[0, 0]
    ax.bar(range(len(bars)), [b[1] for b in bars], color=[b[2] for b in bars])
    for i, b in enumerate(bars):
        ax.text(i, b[1], f"{b[1]:.1f}%", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(bars)), [b[0] for b in bars], rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("%")
    ax.set_title("accuracy and agreement", fontsize=10)
    if acts:
        a2 = axes[0, 1]
        x = range(len(acts))
        a2.bar(x, [a["max_abs"] for a in acts], color=["tab:red" if a.get("residual") else "tab:blue" for a in acts])
        a2.set_yscale("log")
        a2.set_ylabel("max |activation| (bars; red: residual stream)")
        a2.set_xticks(list(x), [a["tensor"][:24] for a in acts], rotation=70, ha="right", fontsize=6)
        k = a2.twinx()
        k.plot(list(x), [a.get("kurtosis", 0) for a in acts], "ko-", ms=3, lw=1, label="kurtosis")
        k.axhline(3, color="0.5", ls=":", lw=1, label="Gaussian kurtosis 3")
        k.set_ylabel("kurtosis (outliers when >> 3)")
        k.legend(fontsize=8, loc="upper right")
        a2.set_title("outlier statistics per activation tensor", fontsize=10)
    fig.tight_layout()
    return [fig]
