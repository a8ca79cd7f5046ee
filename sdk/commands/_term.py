"""Terminal output shared by every command: one width rule, tables that never cut a number, short layer names and
one progress-bar library (rich).

Width rule: on a terminal, its width; in a pipe (or a file), ``$COLUMNS`` when set, else 80 columns. Tables made by
:func:`table` keep every number, address and unit whole (those columns do not wrap and are as wide as their widest
cell); only text columns (names, lists) wrap, and :func:`short_name` shortens layer names first.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

#: Width of output that does not go to a terminal (when $COLUMNS is not set).
PIPE_WIDTH = 80

_NUMERIC = re.compile(r"^[\s\-+~<>≈*]*(0x[0-9A-Fa-f]+|[\d.,]+(e[+-]?\d+)?)\s*(%|[A-Za-z][A-Za-z0-9/]{0,11})?[*]?$"
                      r"|^[—-]$|^$")


def width(stream: Any = None) -> int | None:
    """The width to render for: None (rich measures the terminal) on a terminal, else $COLUMNS or PIPE_WIDTH."""
    stream = stream or sys.stdout
    if stream.isatty():
        return None
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return PIPE_WIDTH


def console(stderr: bool = False) -> Console:
    """The rich console every command prints with (the width rule of the module docstring)."""
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False, highlight=False, width=width(sys.stderr if stderr else None))


def short_name(name: str, limit: int = 40) -> str:
    """A layer name that fits `limit` characters and still says what the layer is.

    Converter names join the names of fused ops with ';' ("ln1_0_1/mul_1;attn0_1/q_1/Tensordot;attn0_1/q_1/BiasAdd1"):
    the last part (the op that writes the output) is kept with the number of other parts ("+2"); a path too long
    keeps its first component (the module) and its last (the op): "attn0_1/…/BiasAdd1 (+2)", shortening the module
    name before the op's."""
    if len(name) <= limit:
        return name
    parts = [p for p in name.split(";") if p] or [name]
    path, suffix = parts[-1], (f" (+{len(parts) - 1})" if len(parts) > 1 else "")
    if len(path) + len(suffix) <= limit:
        return path + suffix
    comps = path.split("/")
    if len(comps) > 2 and len(comps[0]) + len(comps[-1]) + 3 + len(suffix) <= limit:
        return f"{comps[0]}/…/{comps[-1]}{suffix}"
    left = limit - len(suffix) - len(comps[-1]) - 2
    if len(comps) > 1 and left >= 3:
        return f"{comps[0][:left]}…/{comps[-1]}{suffix}"
    text = path + suffix
    return "…" + text[-(limit - 1):]


def two_lines(top: str, bottom: str, limit: int) -> str:
    """A table cell of two shortened names (an op over its layer name, the second dimmed), markup-escaped."""
    from rich.markup import escape

    return f"{escape(short_name(top, limit))}\n[dim]{escape(short_name(bottom, limit))}[/dim]"


def drop_scope(names: Sequence[str]) -> list[str]:
    """`names` without the leading path component most of their ';'-separated parts share (a converter's model
    scope, "vit_digits_1/"), when at least half of the parts start with it."""
    from collections import Counter

    parts = [p for n in names for p in n.split(";") if p]
    heads = Counter(p.split("/", 1)[0] + "/" for p in parts if "/" in p)
    if not heads:
        return list(names)
    head, k = heads.most_common(1)[0]
    if 2 * k < len(parts):
        return list(names)
    return [";".join(p[len(head):] if p.startswith(head) else p for p in n.split(";")) for n in names]


def room(fixed: int, least: int = 16) -> int:
    """Characters left for a text column when the other columns take `fixed` (at least `least`)."""
    w = width()
    if w is None:
        import shutil

        w = shutil.get_terminal_size().columns
    return max(least, w - fixed)


def is_numeric(cell: str) -> bool:
    """True for numbers, addresses, percentages and sizes with a short unit ("1,536", "0x08000000", "12.5%",
    "4.29 ms", "640 KiB")."""
    return bool(_NUMERIC.match(cell.strip()))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
          text: Sequence[str] = (), keep: Sequence[str] = ()) -> Table:
    """A compact rich Table: columns whose cells are all numeric (and not listed in `text`) never wrap and are as
    wide as their widest cell, and so are the columns listed in `keep` (identifiers such as board names); the other
    columns fold where they must."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for j, h in enumerate(headers):
        col = [r[j] for r in cells]
        numeric = h not in text and all(is_numeric(c) for c in col)
        if numeric or h in keep:
            w = max([len(c) for c in col] + [max((len(x) for x in h.split()), default=0)])
            # the cells never wrap; the header may (at spaces)
            t.add_column(Text(h, no_wrap=False, overflow="fold"), justify="right" if numeric else "left",
                         no_wrap=True, min_width=w, overflow="fold")
        else:
            t.add_column(h, overflow="fold")
    for r in cells:
        t.add_row(*r)
    return t


def progress_bar(info: bool = False, unit: str = "") -> Any:
    """The rich Progress every command shows on stderr: description, a short bar, done/total, elapsed time (never
    cut) and, with `info`, a text field ``info`` per task (wraps when the line is full)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Column

    cols: list[Any] = [TextColumn("{task.description}", table_column=Column(no_wrap=True)),
                       BarColumn(bar_width=10), MofNCompleteColumn(table_column=Column(no_wrap=True))]
    if unit:
        cols.append(TextColumn(unit, table_column=Column(no_wrap=True)))
    cols.append(TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)))
    if info:
        cols.append(TextColumn("{task.fields[info]}", table_column=Column(overflow="fold", ratio=1)))
    return Progress(*cols, console=console(stderr=True), transient=False)


@contextmanager
def progress(description: str, total: int, unit: str = "item", enabled: bool = True
             ) -> Iterator[Any]:
    """A rich progress bar on stderr; yields `update(done, total=None)`. The bar appears at the first update (a
    step that reports no progress, such as loading an ELF into QEMU, shows none); a no-op when not enabled."""
    if not enabled:
        yield lambda done, total=None: None
        return
    state: dict[str, Any] = {}

    def update(done: int, new_total: int | None = None) -> None:
        if "bar" not in state:
            bar = progress_bar(unit=unit)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(description, total=new_total or total)
        state["bar"].update(state["task"], completed=done, total=new_total)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()
