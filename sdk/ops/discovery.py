"""Registries filled by their modules: import every module of a package once."""

from __future__ import annotations

import importlib
import pkgutil

_DONE: set[str] = set()


def import_submodules(package: str) -> None:
    """Import each module of `package` not starting with "_" (once per package, even if one was imported first)."""
    if package in _DONE:
        return
    _DONE.add(package)
    pkg = importlib.import_module(package)
    for m in pkgutil.iter_modules(pkg.__path__):
        if not m.name.startswith("_"):
            importlib.import_module(f"{package}.{m.name}")
