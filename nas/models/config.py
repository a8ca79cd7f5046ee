"""Base class for the family configurations (ViT, spiking transformer, LMU).

A family config is a ``@dataclass`` that subclasses :class:`FamilyConfig`. It gets:

* ``from_dict(d)`` - build from a JSON-like dict; unknown keys and values of the wrong type are
  :class:`~edgefmr.errors.EdgefmrError` naming the key and listing the valid keys;
* ``set(key, value)`` - a copy with one field changed, the value given as the string of a
  ``--set key=value`` option: ints, floats, ``true``/``false``, JSON lists (``[2, 4]``) and
  comma-separated lists (``softmax,hash``) are parsed, then checked against the field's type;
* ``to_dict()`` - the plain dict stored in checkpoints.

Subclasses validate value ranges in ``validate()`` (raise EdgefmrError); it runs after every
construction through ``__post_init__``. Field types may be ``int``, ``float``, ``bool``, ``str``,
``Literal[...]``, ``list[X]``, ``tuple[X, ...]`` and unions of these (``str | list[str]``).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, ClassVar, Literal, TypeVar, Union

from edgefmr.errors import EdgefmrError

C = TypeVar("C", bound="FamilyConfig")


class FamilyConfig:
    """Mixin for family config dataclasses: strict dict loading, ``--set`` parsing, validation."""

    family: ClassVar[str] = "model"

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            setattr(self, f.name, _coerce(getattr(self, f.name), hints[f.name], self._where(f.name)))
        self.validate()

    def validate(self) -> None:
        """Check value ranges; subclasses raise EdgefmrError naming the key and what is valid."""

    def inert(self) -> tuple[str, ...]:
        """Keys whose value does not change this model (e.g. a head count no layer uses): points that differ only
        there are the same model."""
        return ()

    @classmethod
    def _where(cls, key: str) -> str:
        return f"{cls.family} config key '{key}'"

    @classmethod
    def keys(cls) -> list[str]:
        """The valid keys of this config."""
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """Build a config from a dict; unknown keys are errors that list the valid keys."""
        if not isinstance(d, dict):
            raise EdgefmrError(f"{cls.family} config must be a JSON object, got {type(d).__name__}")
        for k in d:
            if k not in cls.keys():
                raise EdgefmrError(f"unknown {cls.family} config key '{k}'; valid: {', '.join(cls.keys())}")
        return cls(**d)  # type: ignore[call-arg]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict with every field."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def set(self: C, key: str, value: str | Any) -> C:
        """A copy with ``key`` set to ``value`` (a string from ``--set key=value`` is parsed)."""
        if key not in self.keys():
            raise EdgefmrError(f"unknown {self.family} config key '{key}'; valid: {', '.join(self.keys())}")
        if isinstance(value, str):
            value = parse_value(value)
        return dataclasses.replace(self, **{key: value})  # type: ignore[type-var]

    def with_overrides(self: C, assignments: list[str]) -> C:
        """Apply ``key=value`` strings in order (the ``--set`` options of the CLI)."""
        cfg = self
        for a in assignments:
            key, sep, value = a.partition("=")
            if not sep or not key.strip():
                raise EdgefmrError(f"--set expects key=value, got '{a}'")
            cfg = cfg.set(key.strip(), value.strip())
        return cfg


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value: JSON (numbers, true/false, lists), True/False, a,b,c lists, else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if text in ("True", "False"):
        return text == "True"
    if "," in text:
        return [parse_value(p.strip()) for p in text.split(",")]
    return text


def _plain(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    return v


def _type_name(t: Any) -> str:
    origin = typing.get_origin(t)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(t))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(t))
    if origin in (list, tuple):
        return f"list of {_type_name(typing.get_args(t)[0])}"
    return getattr(t, "__name__", str(t))


def _coerce(v: Any, t: Any, where: str) -> Any:
    """Return ``v`` converted to type ``t`` (int -> float, list -> tuple) or raise EdgefmrError."""
    origin = typing.get_origin(t)
    bad = EdgefmrError(f"{where}: expected {_type_name(t)}, got {v!r}")
    if origin in (Union, types.UnionType):
        for a in typing.get_args(t):
            try:
                return _coerce(v, a, where)
            except EdgefmrError:
                continue
        raise bad
    if origin is Literal:
        if v in typing.get_args(t) and isinstance(v, str | int):
            return v
        raise bad
    if origin in (list, tuple):
        if isinstance(v, str) or not isinstance(v, list | tuple):
            raise bad
        item = typing.get_args(t)[0]
        out = [_coerce(x, item, where) for x in v]
        return tuple(out) if origin is tuple else out
    if t is type(None):
        if v is None:
            return None
        raise bad
    if t is bool:
        if isinstance(v, bool):
            return v
        raise bad
    if t is int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise bad
    if t is float:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        raise bad
    if t is str:
        if isinstance(v, str):
            return v
        raise bad
    return v
