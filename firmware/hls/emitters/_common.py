"""Helpers shared by the HLS emitters."""

from __future__ import annotations

import re


def first_int(call: str) -> int:
    """The first integer argument after the parameter struct in a captured C call, e.g. the start offset of
    `efm_strided_slice(@struct:0, 12, ...)`."""
    m = re.search(r"\(@struct:\d+,\s*(-?\d+)\s*,", call)
    if not m:
        raise ValueError(f"no integer argument in {call!r}")
    return int(m.group(1))
