"""`make bench`: run every benchmark module (or those named on the command line) and write its results."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _cell(v: object) -> str:
    """One table cell: integers with thousands separators, floats to 4 significant digits, nested values short."""
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1e4:
        v = int(v)
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, dict):
        inner = ", ".join(f"{k}={_cell(x)}" for k, x in v.items())
        return inner if len(inner) <= 160 else f"{{{len(v)} keys}}"
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_cell(x) for x in v)
        return f"[{inner}]" if len(inner) <= 60 else f"[{len(v)} items]"
    return str(v).replace("|", "\\|").replace("\n", " ")


def record_kinds(records: list[dict]) -> list[tuple[str, list[dict]]]:
    """Records grouped by kind, in order of first appearance: a record's `kind` key, else records whose keys are a
    subset or superset of each other's (rows of one kind that leave an optional key out)."""
    groups: list[tuple[str, set[str], list[dict]]] = []
    for r in records:
        keys = set(r)
        for i, (kind, ks, rows) in enumerate(groups):
            same = r.get("kind") == kind if "kind" in r else ("kind" not in rows[0] and (keys <= ks or ks <= keys))
            if same:
                groups[i] = (kind, ks | keys, rows + [r])
                break
        else:
            groups.append((str(r.get("kind", "")), keys, [r]))
    return [(kind, rows) for kind, _, rows in groups]


def markdown_table(records: list[dict]) -> str:
    """A markdown table with one row per record and the columns any of them has (order of first appearance)."""
    cols: list[str] = []
    for r in records:
        cols += [k for k in r if k not in cols and k != "kind"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in records]
    return "\n".join(lines) + "\n"


def markdown(name: str, note: str, records: list[dict]) -> str:
    """bench/results/<name>.md: the note, then one table per record kind with only that kind's columns."""
    parts = [f"# {name}\n\n{note}\n"]
    kinds = record_kinds(records)
    for i, (kind, rows) in enumerate(kinds):
        title = kind or (f"records {i + 1}" if len(kinds) > 1 else "")
        parts.append((f"## {title}\n\n" if title else "") + markdown_table(rows))
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    """`python -m bench [NAME ...]` runs the benchmarks (all by default); `--tables [NAME ...]` only rewrites the
    markdown tables from the committed JSON results."""
    tables_only = "--tables" in argv
    argv = [a for a in argv if a != "--tables"]
    names = argv or [m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_")]
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        mod = importlib.import_module(f"bench.{name}")
        if tables_only:
            if (RESULTS / f"{name}.json").is_file():
                records = json.loads((RESULTS / f"{name}.json").read_text())
                (RESULTS / f"{name}.md").write_text(markdown(name, getattr(mod, "NOTE", ""), records))
            continue
        t0 = time.time()
        print(f"bench {name} ...", flush=True)
        records = mod.run()
        (RESULTS / f"{name}.json").write_text(json.dumps(records, indent=2) + "\n")
        note = getattr(mod, "NOTE", "")
        (RESULTS / f"{name}.md").write_text(markdown(name, note, records))
        print(f"bench {name}: {len(records)} records in {time.time() - t0:.0f} s -> bench/results/{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
