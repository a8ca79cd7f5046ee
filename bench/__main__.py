"""`make bench`: run every benchmark module (or those named on the command line) and write its results."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def markdown_table(records: list[dict]) -> str:
    """A markdown table with one row per record and the union of the records' keys as columns."""
    cols: list[str] = []
    for r in records:
        cols += [k for k in r if k not in cols]

    def cell(v: object) -> str:
        if isinstance(v, float) and v.is_integer() and abs(v) >= 1e4:
            v = int(v)
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in records]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    names = argv or [m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_")]
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        mod = importlib.import_module(f"bench.{name}")
        t0 = time.time()
        print(f"bench {name} ...", flush=True)
        records = mod.run()
        (RESULTS / f"{name}.json").write_text(json.dumps(records, indent=2) + "\n")
        note = getattr(mod, "NOTE", "")
        (RESULTS / f"{name}.md").write_text(f"# {name}\n\n{note}\n\n" + markdown_table(records))
        print(f"bench {name}: {len(records)} records in {time.time() - t0:.0f} s -> bench/results/{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
