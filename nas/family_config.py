"""Building family config dataclasses from plain dicts (JSON files, ``--set key=value``) with key checking."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from edgefmr.errors import EdgefmrError

C = TypeVar("C")


def config_from_dict(cls: type[C], d: dict[str, Any], what: str) -> C:
    """``cls(**d)`` for a dataclass ``cls``; an unknown key is an EdgefmrError naming it and the valid keys."""
    if not isinstance(d, dict):
        raise EdgefmrError(f"{what} config: expected a mapping of keys to values, got {type(d).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in d:
        if key not in valid:
            raise EdgefmrError(f"{what} config: unknown key {key!r}; valid keys: {', '.join(valid)}")
    return cls(**d)


def check_int(what: str, key: str, value: Any, lo: int = 1) -> None:
    """Raise EdgefmrError unless ``value`` is an int ≥ ``lo``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise EdgefmrError(f"{what} config: {key}={value!r} is invalid; expected an integer >= {lo}")


def check_float(what: str, key: str, value: Any, lo: float, lo_inclusive: bool = False) -> None:
    """Raise EdgefmrError unless ``value`` is a number > ``lo`` (≥ with ``lo_inclusive``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and (value >= lo if lo_inclusive else value > lo)
    if not ok:
        op = ">=" if lo_inclusive else ">"
        raise EdgefmrError(f"{what} config: {key}={value!r} is invalid; expected a number {op} {lo}")


def check_choice(what: str, key: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise EdgefmrError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise EdgefmrError(f"{what} config: {key}={value!r} is invalid; valid: {', '.join(choices)}")
