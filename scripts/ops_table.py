"""Rewrite the op table of docs/ops.md from the code (definition, reference kernel, C, Cortex-M and HLS kernels,
doc, test); tests/ops/test_op_pieces.py fails when the committed table differs."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))  # the op case generators find each op's kernels

from op_pieces import render  # noqa: E402

if __name__ == "__main__":
    path = ROOT / "docs" / "ops.md"
    path.write_text(render(path.read_text()))
    print(f"wrote {path}")
