"""Check the import contracts of .importlinter (`make lint`).

The `edgefmr` package is spread over the stage folders (pyproject's package-dir: edgefmr = sdk/, edgefmr.nas = nas/,
...), which import-linter cannot follow, so its modules are copied into one package tree in a temporary folder first
and import-linter runs on that tree. Exit status: import-linter's (non-zero when a contract is broken)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_tree(dest: Path) -> None:
    """Lay out the edgefmr package as one folder tree under `dest` (Python files only)."""
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for pkg, folder in sorted(dirs.items(), key=lambda kv: kv[0].count(".")):
        target = dest.joinpath(*pkg.split("."))
        shutil.copytree(ROOT / folder, target, dirs_exist_ok=True,
                        ignore=lambda d, names: [n for n in names if n == "__pycache__"
                                                 or (os.path.isfile(os.path.join(d, n)) and not n.endswith(".py"))])


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        package_tree(Path(tmp))
        env = dict(os.environ, PYTHONPATH=tmp)
        lint = Path(sys.executable).parent / "lint-imports"
        return subprocess.run([str(lint), str(ROOT / ".importlinter"), "--no-cache"], env=env,
                              cwd=tmp).returncode


if __name__ == "__main__":
    sys.exit(main())
