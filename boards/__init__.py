"""Board registry: one TOML file per board, loaded and validated.

Search order for a board name: an explicit board file (`--board-file`), then each directory of
`EDGEFMR_BOARD_PATH` (os.pathsep separated), then the bundled `boards/*.toml`. A user file with the
name of a bundled board overrides it. The file format is documented in docs/boards.md.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import replace
from pathlib import Path

from edgefmr.boards.schema import (
    Board,
    FlashMethod,
    FpgaResources,
    MemoryDefaults,
    MemoryRegion,
    QemuConfig,
    SectorGroup,
    SerialConfig,
    parse_board,
)
from edgefmr.errors import EdgefmrError

__all__ = [
    "Board", "FlashMethod", "FpgaResources", "MemoryDefaults", "MemoryRegion", "QemuConfig", "SectorGroup",
    "SerialConfig", "DEFAULT_BOARD", "BOARD_PATH_ENV", "bundled_dir", "search_dirs", "load_board",
    "load_board_file", "list_boards",
]

DEFAULT_BOARD = "qemu-netduinoplus2"
BOARD_PATH_ENV = "EDGEFMR_BOARD_PATH"


def bundled_dir() -> Path:
    """The directory holding the board files shipped with edgefmr."""
    return Path(__file__).resolve().parent


def search_dirs() -> list[Path]:
    """Directories searched for `<name>.toml`, first match wins: EDGEFMR_BOARD_PATH entries, then bundled."""
    dirs: list[Path] = []
    for entry in os.environ.get(BOARD_PATH_ENV, "").split(os.pathsep):
        if not entry.strip():
            continue
        p = Path(entry).expanduser()
        if not p.is_dir():
            raise EdgefmrError(f"{BOARD_PATH_ENV} entry {entry!r} is not a directory; set it to directories "
                               f"of board .toml files separated by {os.pathsep!r}")
        dirs.append(p)
    dirs.append(bundled_dir())
    return dirs


def load_board_file(path: str | os.PathLike[str]) -> Board:
    """Read and validate one board file (EdgefmrError naming the file and key on any problem)."""
    p = Path(path)
    if p.suffix != ".toml":
        raise EdgefmrError(f"{p}: a board file must have the .toml extension")
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise EdgefmrError(f"{p}: board file not found") from None
    except OSError as e:
        raise EdgefmrError(f"{p}: cannot read board file: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise EdgefmrError(f"{p}: board file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise EdgefmrError(f"{p}: invalid TOML: {e}") from None
    board = parse_board(data, p)
    bundled = bundled_dir() / p.name
    if bundled.is_file() and bundled.resolve() != p.resolve():
        board = replace(board, overrides=bundled)
    return board


def _looks_like_path(s: str) -> bool:
    return s.endswith(".toml") or os.sep in s or (os.altsep is not None and os.altsep in s)


def load_board(name_or_path: str | None = None, board_file: str | os.PathLike[str] | None = None) -> Board:
    """Load a board by name (searched as described in the module docstring) or by file path.

    With `board_file`, that file is the board; `name_or_path`, if given, must be its name.
    With neither, the default board (qemu-netduinoplus2) is loaded.
    """
    if board_file is not None:
        board = load_board_file(board_file)
        if name_or_path is not None and name_or_path != board.name and not _looks_like_path(name_or_path):
            raise EdgefmrError(f"board {name_or_path!r} was asked for but --board-file {board_file} defines "
                               f"board {board.name!r}; give one of them, or matching ones")
        return board
    name = name_or_path or DEFAULT_BOARD
    if _looks_like_path(name):
        return load_board_file(name)
    for d in search_dirs():
        f = d / f"{name}.toml"
        if f.is_file():
            return load_board_file(f)
    known = sorted({f.stem for d in search_dirs() for f in d.glob("*.toml")})
    close = difflib.get_close_matches(name, known, n=1)
    raise EdgefmrError(f"unknown board {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "") +
                       f"; known boards: {', '.join(known)} "
                       f"(add your own with --board-file PATH or {BOARD_PATH_ENV})")


def list_boards() -> list[Board]:
    """Every board reachable by name, sorted by name; user files shadow bundled ones of the same name."""
    seen: dict[str, Board] = {}
    for d in search_dirs():
        for f in sorted(d.glob("*.toml")):
            if f.stem not in seen:
                seen[f.stem] = load_board_file(f)
    return [seen[k] for k in sorted(seen)]
