"""Pareto selection of a search's trials: the front in (accuracy up, latency down), the chosen model, and the plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def pareto_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows not dominated in (accuracy up, latency down), identical architectures once, by latency."""
    front: list[dict[str, Any]] = []
    seen = set()
    for r in sorted(rows, key=lambda r: (r["latency_s"], -r["accuracy"], r["number"])):
        key = json.dumps([r["family"], r["arch"]], sort_keys=True)
        if key in seen:
            continue
        dominated = any(o["accuracy"] >= r["accuracy"] and o["latency_s"] <= r["latency_s"]
                        and (o["accuracy"] > r["accuracy"] or o["latency_s"] < r["latency_s"]) for o in rows)
        if not dominated:
            seen.add(key)
            front.append({k: r.get(k) for k in ("number", "family", "arch", "accuracy", "latency_s", "sram", "arena",
                                                 "flash", "macs", "resources")})
    return front


def choose(front: list[dict[str, Any]]) -> dict[str, Any]:
    """The most accurate feasible Pareto point (ties: the faster, then the smaller)."""
    best = max(front, key=lambda r: (r["accuracy"], -r["latency_s"], -(r["sram"] or 0)))
    return dict(best)


def plot_pareto(rows: list[dict[str, Any]], front: list[dict[str, Any]], chosen: dict[str, Any], path: Path) -> str:
    """Accuracy vs latency of every trial (infeasible grey), the Pareto front and the chosen model; a PNG."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    inf = [r for r in rows if not r["feasible"]]
    ok = [r for r in rows if r["feasible"]]
    if inf:
        ax.scatter([1e3 * r["latency_s"] for r in inf], [100 * r["accuracy"] for r in inf], marker="x", c="0.6",
                   label="over budget (accuracy not measured)")
    ax.scatter([1e3 * r["latency_s"] for r in ok], [100 * r["accuracy"] for r in ok], c="tab:blue", s=18,
               label="feasible")
    ax.plot([1e3 * r["latency_s"] for r in front], [100 * r["accuracy"] for r in front], "-o", c="tab:red",
            ms=5, label="Pareto front")
    ax.scatter([1e3 * chosen["latency_s"]], [100 * chosen["accuracy"]], marker="*", s=220, c="gold",
               edgecolors="k", zorder=5, label=f"chosen (trial {chosen['number']})")
    ax.set_xlabel("predicted latency (ms)")
    ax.set_ylabel("validation accuracy, inherited weights (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)
