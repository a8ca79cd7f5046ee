"""Board calibration tables: the measured cost of each IR op type per unit of work, written by `edgefmr profile` and
read by the search's latency model (`load_calibration`, `estimate`). The format is documented in
docs/calibration.md.

Work units: MACs for ops that have them (`OpDef.macs` > 0), elements for the others (of the largest non-constant
input or output tensor, so that reductions count what they read). Cost: counter units
per work unit — core cycles on real boards (DWT CYCCNT), executed instructions on QEMU boards (`unit` says which).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError

FORMAT = "edgefmr-calibration"
VERSION = 1
DIR_ENV = "EDGEFMR_CALIBRATION_DIR"

# Defaults per core type, used until a board is profiled. Executed instructions per work unit of edgefmr's portable
# C kernels, measured with `edgefmr profile` on QEMU (the ViT and CNN digits fixtures built without the MCUFormer
# tricks, every layer one op): cortex-m4 on qemu-netduinoplus2, cortex-m7 on qemu-mps2-an500. They are taken as
# cycles with cycles-per-instruction `cpi` 1.0 (an assumption: a profile on the real board replaces it).
DEFAULT_COSTS: dict[str, dict[str, tuple[str, float]]] = {
    "cortex-m4": {
        "ADD": ("element", 226.27), "AVERAGE_POOL_2D": ("element", 19.91), "BATCH_MATMUL": ("mac", 12.06),
        "CONV_2D": ("mac", 15.99), "DEPTHWISE_CONV_2D": ("mac", 37.14), "FULLY_CONNECTED": ("mac", 1.78),
        "MAX_POOL_2D": ("element", 19.55), "MEAN": ("element", 26.7), "MUL": ("element", 94.12),
        "RESHAPE": ("element", 0.02), "RSQRT": ("element", 7.12), "SOFTMAX": ("element", 117.57),
        "SQUARED_DIFFERENCE": ("element", 223.27), "SUB": ("element", 225.84), "TRANSPOSE": ("element", 4.12),
    },
    "cortex-m7": {
        "ADD": ("element", 208.38), "AVERAGE_POOL_2D": ("element", 19.95), "BATCH_MATMUL": ("mac", 12.2),
        "CONV_2D": ("mac", 15.68), "DEPTHWISE_CONV_2D": ("mac", 35.4), "FULLY_CONNECTED": ("mac", 1.78),
        "MAX_POOL_2D": ("element", 19.55), "MEAN": ("element", 26.54), "MUL": ("element", 88.73),
        "RESHAPE": ("element", 0.02), "RSQRT": ("element", 7.12), "SOFTMAX": ("element", 114.15),
        "SQUARED_DIFFERENCE": ("element", 207.81), "SUB": ("element", 208.32), "TRANSPOSE": ("element", 4.13),
    },
}
#: Op types not in a table: per MAC and per element (work-weighted means of the measured ops).
FALLBACK = {"cortex-m4": {"mac": 5.29, "element": 87.89}, "cortex-m7": {"mac": 5.23, "element": 82.15}}


def calibration_dir() -> Path:
    """Where calibration tables live: $EDGEFMR_CALIBRATION_DIR, else $XDG_CONFIG_HOME/edgefmr/calibration, else
    ~/.config/edgefmr/calibration."""
    env = os.environ.get(DIR_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "edgefmr" / "calibration"


def calibration_path(board: str) -> Path:
    return calibration_dir() / f"{board}.json"


# ------------------------------------------------------------------------------------------------ work per node

def node_work(g: Any) -> list[tuple[str, str, int]]:
    """(op, unit, amount) per node of graph g: ("FULLY_CONNECTED", "mac", 4096), ("SOFTMAX", "element", 640), …
    Elements: of the largest non-constant input or output of the node."""
    from edgefmr.ops.registry import call

    out = []
    for n in g.nodes:
        c = call(n, g)
        macs = int(c.opdef.macs(c))
        if macs > 0:
            out.append((n.op, "mac", macs))
        else:
            sizes = [int(np.prod(g.tensor(t).shape, dtype=np.int64)) for t in [*n.inputs, *n.outputs]
                     if t and not g.tensor(t).is_const]
            out.append((n.op, "element", max(sizes, default=0)))
    return out


# ------------------------------------------------------------------------------------------------ fitting

def fit_costs(layers: list[dict[str, Any]], work: list[tuple[str, str, int]]) -> dict[str, dict[str, Any]]:
    """Cost per work unit of every op type from per-layer counts.

    layers: [{"count": mean count per inference, "nodes": [node indices]}]. An op type that is alone in some layers
    gets sum(count) / sum(work) over those layers ("direct"); op types seen only inside fused layers share what the
    direct costs leave of those layers, by non-negative least squares ("fitted")."""
    from scipy.optimize import nnls

    single: dict[str, list[float]] = {}
    fused = []
    for row in layers:
        ops = {work[i][0] for i in row["nodes"]}
        amount: dict[str, float] = {}
        for i in row["nodes"]:
            amount[work[i][0]] = amount.get(work[i][0], 0.0) + work[i][2]
        if len(ops) == 1:
            op = next(iter(ops))
            acc = single.setdefault(op, [0.0, 0.0, 0])
            acc[0] += row["count"]
            acc[1] += amount[op]
            acc[2] += 1
        else:
            fused.append((row["count"], amount))
    unit = {op: u for op, u, _ in work}
    out: dict[str, dict[str, Any]] = {}
    for op, (count, amount, n) in single.items():
        out[op] = {"unit": unit[op], "cost": count / amount if amount else 0.0, "count": count, "work": amount,
                   "layers": n, "fit": "direct"}
    unknown = sorted({op for _, am in fused for op in am if op not in out})
    if unknown:
        a = np.array([[am.get(op, 0.0) for op in unknown] for _, am in fused])
        rest = np.array([max(0.0, c - sum(out[op]["cost"] * w for op, w in am.items() if op in out))
                         for c, am in fused])
        x, _ = nnls(a, rest)
        for j, op in enumerate(unknown):
            w = float(a[:, j].sum())
            out[op] = {"unit": unit[op], "cost": float(x[j]), "count": float(x[j]) * w, "work": w,
                       "layers": int((a[:, j] > 0).sum()), "fit": "fitted"}
    return out


# ------------------------------------------------------------------------------------------------ tables

def make_table(board: Any, counter_unit: str, ops: dict[str, dict[str, Any]], source: dict[str, Any]) -> dict:
    """A calibration table for `board` from one profile (`ops` from `fit_costs`)."""
    return {
        "format": FORMAT, "version": VERSION, "board": board.name, "core": board.core, "clock_hz": board.clock_hz,
        "unit": counter_unit, "cpi": 1.0, "source": "measured",
        "ops": {op: {"unit": v["unit"], "cost": round(v["cost"], 6), "fit": v["fit"],
                     "sources": {source["model_hash"]: {"count": v["count"], "work": v["work"], "fit": v["fit"]}}}
                for op, v in sorted(ops.items())},
        "fallback": _fallback(ops),
        "profiles": [source],
    }


def _fallback(ops: dict[str, dict[str, Any]]) -> dict[str, float]:
    out = {}
    for unit in ("mac", "element"):
        rows = [v for v in ops.values() if v["unit"] == unit and v["work"]]
        w = sum(v["work"] for v in rows)
        out[unit] = round(sum(v["count"] for v in rows) / w, 6) if w else 0.0
    return out


def merge_tables(old: dict, new: dict) -> dict:
    """`new` merged into `old` (same board and unit): per op type, the costs of all profiled models weighted by their
    work; a model profiled again replaces its earlier contribution."""
    if old.get("unit") != new["unit"] or old.get("board") != new["board"]:
        return new
    ops: dict[str, dict[str, Any]] = {}
    for table in (old, new):
        for op, v in table.get("ops", {}).items():
            dst = ops.setdefault(op, {"unit": v["unit"], "sources": {}})
            dst["sources"].update(v.get("sources", {}))
    rows = {}
    for op, v in ops.items():
        srcs = v["sources"].values()
        count, work = sum(s["count"] for s in srcs), sum(s["work"] for s in srcs)
        fit = "direct" if any(s["fit"] == "direct" for s in srcs) else "fitted"
        rows[op] = {"unit": v["unit"], "cost": count / work if work else 0.0, "count": count, "work": work, "fit": fit}
    merged = dict(new)
    merged["ops"] = {op: {"unit": r["unit"], "cost": round(r["cost"], 6), "fit": r["fit"],
                          "sources": ops[op]["sources"]} for op, r in sorted(rows.items())}
    merged["fallback"] = _fallback(rows)
    hashes = {p["model_hash"] for p in new["profiles"]}
    merged["profiles"] = [p for p in old.get("profiles", []) if p.get("model_hash") not in hashes] + new["profiles"]
    return merged


def save_calibration(table: dict, merge: bool = True) -> Path:
    """Write the board's table (merged with the existing one unless merge=False); returns the path."""
    path = calibration_path(table["board"])
    if merge and path.is_file():
        try:
            old = json.loads(path.read_text())
            if old.get("format") == FORMAT and old.get("version") == VERSION:
                table = merge_tables(old, table)
        except ValueError:
            pass   # a damaged file is replaced
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(table, indent=2) + "\n")
    tmp.replace(path)
    return path


def default_table(board: Any) -> dict:
    """The documented default of the board's core type (DEFAULT_COSTS), when the board has not been profiled."""
    core = board.core if board.core in DEFAULT_COSTS else "cortex-m4"
    return {
        "format": FORMAT, "version": VERSION, "board": board.name, "core": board.core, "clock_hz": board.clock_hz,
        "unit": "instructions", "cpi": 1.0, "source": "default",
        "default_of": core,
        "ops": {op: {"unit": u, "cost": c, "fit": "default"}
                for op, (u, c) in sorted((op, _split(v)) for op, v in DEFAULT_COSTS[core].items())},
        "fallback": dict(FALLBACK[core]),
        "profiles": [],
    }


def _split(v: Any) -> tuple[str, float]:
    unit, cost = v
    return unit, float(cost)


def load_calibration(board: Any) -> dict:
    """The calibration table of `board` (a name or a Board): the profiled one if `edgefmr profile` wrote it, else the
    default of its core type (`source` says which)."""
    from edgefmr.boards import load_board

    b = load_board(board) if isinstance(board, str) else board
    path = calibration_path(b.name)
    if path.is_file():
        try:
            t = json.loads(path.read_text())
        except ValueError as e:
            raise EdgefmrError(f"{path}: calibration table is not valid JSON ({e}); delete it or profile the board "
                               f"again") from None
        if t.get("format") != FORMAT or t.get("version") != VERSION:
            raise EdgefmrError(f"{path}: not an {FORMAT} version {VERSION} table; delete it or profile again")
        return t
    return default_table(b)


def estimate(g: Any, table: dict) -> dict[str, Any]:
    """Predicted count per inference of graph g from a calibration table: sum over nodes of cost x work (the
    table's fallback for op types it lacks), in the table's unit; `cycles` applies `cpi` to instruction tables;
    `seconds` divides cycles by the board clock."""
    per_node = []
    for op, unit, amount in node_work(g):
        row = table["ops"].get(op)
        cost = row["cost"] if row and row["unit"] == unit else table["fallback"][unit]
        per_node.append(cost * amount)
    total = float(sum(per_node))
    cycles = total * (table.get("cpi", 1.0) if table["unit"] == "instructions" else 1.0)
    return {"unit": table["unit"], "total": total, "cycles": cycles, "seconds": cycles / table["clock_hz"],
            "per_node": per_node}
