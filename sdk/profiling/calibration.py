"""Board calibration tables: the measured cost of each IR op type, written by `edgefmr profile` and read by the
search's latency model (`load_calibration`, `estimate`). The format is documented in docs/calibration.md.

The cost of one node of op type `op` is ``cost * work + per_output * outputs + per_input * inputs + per_row * rows +
per_call``: work in MACs for ops that have them (`OpDef.macs` > 0), else elements (of the largest non-constant input
or output tensor, so that reductions count what they read); outputs = the node's output elements (requantization,
stores); inputs = the elements of its non-constant inputs (what a kernel unpacks or gathers once, e.g. the rows a
Cortex-M FULLY_CONNECTED unpacks to int16 or a convolution's im2col); rows = its output elements over the output's
last dimension (per-row work: a LayerNorm's statistics, a softmax's maximum and sum, a row block's loop heads);
per_call = the fixed cost of a call (set-up, loop heads). Counts are counter units: core cycles on real boards (DWT
CYCCNT), executed instructions on QEMU boards (`unit` says which). The five coefficients per op type are fitted by
non-negative least squares on the per-layer counts of every profiled model (relative error).

Coefficients are keyed by the kernel path a node runs (`node_keys`): "OP/path" for ops whose C emitter names
several paths (edgefmr.firmware.c.emitters.kernel_path: e.g. "CONV_2D/small", "HASH_ENCODE/portable"), found on the
graph the C build compiles (edgefmr.firmware.cost.c_graph), "OP/in_<op>" for a node the build computes inside a node
of another op (a TRANSPOSE folded into a BATCH_MATMUL's addressing, a LayerNorm chain's nodes), else the op type.
`estimate` falls back to the op type's coefficients, then to the unit fallback, for keys a table lacks.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.boards import Board, load_board
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.c.emitters import node_path
from edgefmr.firmware.cost import build_arm_kernels, c_graph
from edgefmr.ir import Graph
from edgefmr.ops.registry import call

FORMAT = "edgefmr-calibration"
VERSION = 4
#: Older versions `load_calibration` still reads (their coefficients are keyed by op type only).
READABLE_VERSIONS = (3, 4)
DIR_ENV = "EDGEFMR_CALIBRATION_DIR"
#: The defaults per core type (tables written by scripts/default_calibration.py), used until a board is profiled.
DEFAULTS_DIR = Path(__file__).parent / "data" / "calibration"
#: Coefficients of an op type, in the order of the columns of the fit.
COEFFICIENTS = ("cost", "per_output", "per_input", "per_row", "per_call")


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

def node_keys(g: Graph, arm: frozenset) -> list[str]:
    """Per node of graph g the key of its coefficients (see the module docstring) when the C build compiles g with
    the Cortex-M kernels `arm`: "OP/path" (the kernel path of the compiled node that computes it), "OP/in_<op>"
    (computed inside a compiled node of another op), else "OP"."""
    cg, origin = c_graph(g, tricks=True)
    keys = [n.op for n in g.nodes]  # nodes the build computes in no node keep their op type
    for k, sources in enumerate(origin):
        m = cg.nodes[k]
        path = node_path(call(m, cg), arm)
        for j in sources:
            op = g.nodes[j].op
            keys[j] = (f"{op}/{path}" if path else op) if op == m.op else f"{op}/in_{m.op.lower()}"
    return keys


def op_of(key: str) -> str:
    """The op type of a coefficient key ("CONV_2D/small" -> "CONV_2D")."""
    return key.split("/", 1)[0]


@lru_cache(maxsize=64)
def board_arm(board: str) -> frozenset:
    """The Cortex-M kernels a default build for `board` uses (edgefmr.firmware.cost.build_arm_kernels); a board
    name without a board file (a table written by hand) counts as a core with the DSP extension."""
    try:
        return build_arm_kernels(load_board(board))
    except EdgefmrError:
        return build_arm_kernels(load_board("qemu-netduinoplus2"))


def node_work(g: Graph, arm: frozenset | None = None) -> list[tuple[str, str, int, int, int, int]]:
    """(key, unit, amount, outputs, inputs, rows) per node of graph g (see the module docstring; key: node_keys with
    the Cortex-M kernels `arm`, default those of a core with the DSP extension), e.g.
    ("FULLY_CONNECTED/panels", "mac", 4096, 64, 64, 1), ("SOFTMAX", "element", 640, 640, 640, 40)."""

    def size(t: str) -> int:
        return int(np.prod(g.tensor(t).shape, dtype=np.int64))

    keys = node_keys(g, board_arm("qemu-netduinoplus2") if arm is None else arm)
    out = []
    for key, n in zip(keys, g.nodes, strict=True):
        c = call(n, g)
        outputs = sum(size(t) for t in n.outputs if t)
        inputs = sum(size(t) for t in n.inputs if t and not g.tensor(t).is_const)
        y = g.tensor(n.outputs[0]).shape
        rows = size(n.outputs[0]) // max(1, int(y[-1]) if y else 1)
        macs = int(c.opdef.macs(c))
        if macs > 0:
            out.append((key, "mac", macs, outputs, inputs, rows))
        else:
            sizes = [size(t) for t in [*n.inputs, *n.outputs] if t and not g.tensor(t).is_const]
            out.append((key, "element", max(sizes, default=0), outputs, inputs, rows))
    return out


# ------------------------------------------------------------------------------------------------ fitting

def layer_equations(layers: list[dict[str, Any]], work: list[tuple]) -> list[dict[str, Any]]:
    """The fit's equations from one profile: per layer (``{"count": mean count per inference, "nodes": [node
    indices]}``) its count and the node_work of its nodes."""
    return [{"count": float(row["count"]), "nodes": [list(work[i]) for i in row["nodes"]]}
            for row in layers if row["nodes"]]


def fit_equations(equations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per key (node_keys) the COEFFICIENTS (see the module docstring) by non-negative least squares over all equations,
    each weighted by 1 / its count (so small layers count as much as big ones), plus the work, outputs, inputs, rows,
    calls and layers seen (for the fallback and the report)."""
    from scipy.optimize import nnls

    k_n = len(COEFFICIENTS)
    ops = sorted({n[0] for eq in equations for n in eq["nodes"]})
    col = {op: k_n * j for j, op in enumerate(ops)}
    a = np.zeros((len(equations), k_n * len(ops)))
    y = np.array([eq["count"] for eq in equations], dtype=np.float64)
    seen: dict[str, dict[str, Any]] = {op: {"work": 0.0, "outputs": 0.0, "inputs": 0.0, "rows": 0.0, "calls": 0,
                                            "layers": 0, "count": 0.0} for op in ops}
    unit = {}
    for i, eq in enumerate(equations):
        for op in {n[0] for n in eq["nodes"]}:
            seen[op]["layers"] += 1
        for op, u, amount, outputs, inputs, rows in eq["nodes"]:
            unit[op] = u
            a[i, col[op]:col[op] + k_n] += (amount, outputs, inputs, rows, 1.0)
            for key, v in (("work", amount), ("outputs", outputs), ("inputs", inputs), ("rows", rows), ("calls", 1)):
                seen[op][key] += v
    w = 1.0 / np.maximum(y, 1.0)
    x, _ = nnls(a * w[:, None], y * w) if len(ops) else (np.zeros(0), 0.0)
    out = {}
    for op in ops:
        k = col[op]
        c = dict(zip(COEFFICIENTS, (float(v) for v in x[k:k + k_n]), strict=True))
        s = seen[op]
        s["count"] = node_count(c, s["work"], s["outputs"], s["inputs"], s["rows"], s["calls"])
        out[op] = {"unit": unit[op], **c, **s}
    return out


def node_count(c: dict[str, float], work: float, outputs: float, inputs: float, rows: float, calls: float = 1.0
               ) -> float:
    """The model's count for a node (or a sum of nodes) of an op type with coefficients `c`."""
    return (c["cost"] * work + c["per_output"] * outputs + c.get("per_input", 0.0) * inputs
            + c.get("per_row", 0.0) * rows + c["per_call"] * calls)


# ------------------------------------------------------------------------------------------------ tables

def make_table(board: Board, counter_unit: str, equations: list[dict[str, Any]], source: dict[str, Any]) -> dict:
    """A calibration table for `board` from one profile (its `layer_equations`; `source` names the model)."""
    return _table(board.name, board.core, board.clock_hz, counter_unit, {source["model_hash"]: equations},
                  [source], "measured")


def _table(board: str, core: str, clock_hz: int, unit: str, equations: dict[str, list], profiles: list[dict],
           source: str) -> dict:
    flat = [eq for eqs in equations.values() for eq in eqs]
    ops = fit_equations(flat)
    # the op types' own fit (every kernel path of an op one key): for kernel paths the profiled models did not run
    op_types = fit_equations([{"count": eq["count"], "nodes": [[op_of(n[0]), *n[1:]] for n in eq["nodes"]]}
                              for eq in flat])

    def rows(fit: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {k: {"unit": v["unit"], **{c: round(v[c], 6) for c in COEFFICIENTS}, "layers": v["layers"]}
                for k, v in sorted(fit.items())}

    return {
        "format": FORMAT, "version": VERSION, "board": board, "core": core, "clock_hz": clock_hz,
        "unit": unit, "cpi": 1.0, "source": source,
        "ops": rows(ops),
        "op_types": rows(op_types),
        "fallback": _fallback(ops),
        "profiles": profiles,
        "equations": equations,
    }


def _fallback(ops: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Per unit: the whole counts of the fitted op types over their work (for op types a table lacks)."""
    out = {}
    for unit in ("mac", "element"):
        rows = [v for v in ops.values() if v["unit"] == unit and v["work"]]
        w = sum(v["work"] for v in rows)
        out[unit] = round(sum(v["count"] for v in rows) / w, 6) if w else 0.0
    return out


def merge_tables(old: dict, new: dict) -> dict:
    """`new` merged into `old` (same board and unit): one fit over the equations of every profiled model; a model
    profiled again replaces its earlier equations."""
    if old.get("unit") != new["unit"] or old.get("board") != new["board"]:
        return new
    hashes = {p["model_hash"] for p in new["profiles"]}
    equations = {h: e for h, e in old.get("equations", {}).items() if h not in hashes}
    equations.update(new["equations"])
    profiles = [p for p in old.get("profiles", []) if p.get("model_hash") not in hashes] + new["profiles"]
    return _table(new["board"], new["core"], new["clock_hz"], new["unit"], equations, profiles, new["source"])


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


def default_core(core: str) -> str:
    """The core type whose default table a board of `core` uses (cortex-m4 for cores without their own)."""
    return core if (DEFAULTS_DIR / f"{core}.json").is_file() else "cortex-m4"


def default_table(board: Board) -> dict:
    """The default of the board's core type (DEFAULTS_DIR), when the board has not been profiled: the board's name
    and clock, the core type's coefficients."""
    core = default_core(board.core)
    path = DEFAULTS_DIR / f"{core}.json"
    t = json.loads(path.read_text())
    t.update({"board": board.name, "core": board.core, "clock_hz": board.clock_hz, "source": "default",
              "default_of": core, "path": str(path)})
    return t


def load_calibration(board: Board | str) -> dict:
    """The calibration table of `board` (a name or a Board): the profiled one if `edgefmr profile` wrote it, else the
    default of its core type (`source` says which)."""

    b = load_board(board) if isinstance(board, str) else board
    path = calibration_path(b.name)
    if path.is_file():
        try:
            t = json.loads(path.read_text())
        except ValueError as e:
            raise EdgefmrError(f"{path}: calibration table is not valid JSON ({e}); delete it or profile the board "
                               f"again") from None
        if t.get("format") != FORMAT or t.get("version") not in READABLE_VERSIONS:
            raise EdgefmrError(f"{path}: not an {FORMAT} table of version {' or '.join(map(str, READABLE_VERSIONS))} "
                               f"(format {t.get('format')!r}, version {t.get('version')!r}); delete it or profile "
                               f"the board again (edgefmr profile)")
        t["path"] = str(path)
        t["clock_hz"] = b.clock_hz  # the board file's clock (a table profiled at another clock counts the same)
        return t
    return default_table(b)


def coefficients(table: dict, key: str, unit: str) -> dict[str, Any] | None:
    """The table's coefficients for a node_work key: the key's own (`ops`), else its op type's (`op_types`; a
    version 3 table's `ops` are keyed by op type), None when neither is fitted in `unit` (the unit fallback)."""
    for row in (table["ops"].get(key), table.get("op_types", table["ops"]).get(op_of(key))):
        if row and row["unit"] == unit:
            return row
    return None


def estimate(g: Graph, table: dict) -> dict[str, Any]:
    """Predicted count per inference of graph g from a calibration table: sum over nodes of node_count (see the
    module docstring; the op type's coefficients for kernel paths the table lacks, ``fallback[unit] * work`` for op
    types it lacks), in the table's unit; `cycles` applies `cpi` to instruction tables; `seconds` divides cycles by
    the board clock."""
    per_node = []
    for key, unit, amount, outputs, inputs, rows in node_work(g, board_arm(str(table.get("board", "")))):
        row = coefficients(table, key, unit)
        per_node.append(table["fallback"][unit] * amount if row is None else
                        node_count(row, amount, outputs, inputs, rows))
    total = float(sum(per_node))
    cycles = total * (table.get("cpi", 1.0) if table["unit"] == "instructions" else 1.0)
    return {"unit": table["unit"], "total": total, "cycles": cycles, "seconds": cycles / table["clock_hz"],
            "per_node": per_node}


# ------------------------------------------------------------------------------------------------ what a table is

def table_info(table: dict) -> dict[str, Any]:
    """Where a table comes from, for people: ``path``, ``source`` ("profiled" on this board or "default" of a core
    type), ``default_of``, ``date`` (of the newest profile in it), ``models`` (names of the profiled models), ``unit``
    and ``basis``: one line saying what a latency from it is based on."""
    profiles = table.get("profiles") or []
    dates = sorted(str(p["date"]) for p in profiles if p.get("date"))
    models = list(dict.fromkeys(f"{p.get('model') or '?'} ({str(p.get('model_hash', ''))[:8]})" for p in profiles))
    profiled = table.get("source") != "default"
    unit = table.get("unit", "cycles")
    counted = ("executed instructions (QEMU), 1 instruction = 1 cycle" if unit == "instructions"
               and table.get("cpi", 1.0) == 1.0 else
               f"executed instructions (QEMU) x {table.get('cpi')} cycles each" if unit == "instructions"
               else "DWT cycles")
    where = (f"profiled on {table.get('board')}" if profiled
             else f"default table of the core type {table.get('default_of', table.get('core'))} (this board "
                  f"is not profiled)")
    return {"path": table.get("path"), "source": "profiled" if profiled else "default",
            "default_of": table.get("default_of"), "date": dates[-1] if dates else None, "models": models,
            "unit": unit, "clock_hz": table.get("clock_hz"),
            "basis": f"{where}; {counted}; at {table.get('clock_hz', 0) / 1e6:g} MHz"}


def describe_table(table: dict) -> str:
    """One line naming a table: path, date and the models it was fitted on."""
    i = table_info(table)
    def short(m: str) -> str:
        return m if len(m) <= 40 else m[:39] + "…"

    models = ", ".join(short(m) for m in i["models"][:3]) + (f" and {len(i['models']) - 3} more"
                                                             if len(i["models"]) > 3 else "")
    return (f"{i['path']} ({i['source']}" + (f", {i['date']}" if i["date"] else "") +
            (f", fitted on {len(i['models'])} model(s): {models}" if models else "") + ")")


def cost_terms(table: dict, limit: int | None = None) -> list[str]:
    """Per op type, the terms that carry its cost (zero coefficients left out), largest share of the fitted
    counts first: "FULLY_CONNECTED 0.92/MAC + 7.28/output + 0.5/input + 711/call"."""
    def fmt(v: float) -> str:
        return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"

    rows = []
    for op, v in table.get("ops", {}).items():
        names = (("cost", v["unit"].replace("mac", "MAC")), ("per_output", "output"), ("per_input", "input"),
                 ("per_row", "row"), ("per_call", "call"))
        terms = [f"{fmt(v[k])}/{name}" for k, name in names if v.get(k, 0) > 0]
        rows.append((v.get("layers", 0), f"{op} " + (" + ".join(terms) if terms else "0")))
    rows.sort(key=lambda r: -r[0])
    return [r[1] for r in rows[:limit]]


def estimate_ms(g: Graph, table: dict) -> dict[str, Any]:
    """`estimate` in milliseconds at the table's (the board's) clock: ``total_ms``, ``per_node_ms`` and ``basis``."""
    e = estimate(g, table)
    scale = (table.get("cpi", 1.0) if table["unit"] == "instructions" else 1.0) / table["clock_hz"] * 1e3
    return {"total_ms": e["cycles"] / table["clock_hz"] * 1e3, "per_node_ms": [c * scale for c in e["per_node"]],
            "unit": e["unit"], "total": e["total"], "basis": table_info(table)["basis"]}
