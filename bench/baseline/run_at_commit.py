"""Run bench/_kernels_models.records() against another checkout of edgefmr (e.g. a git worktree of an older commit
with this branch's tests/fixtures and bench/_kernels_models.py copied in), with this worktree's venv.

    git worktree add /tmp/edgefmr-base b4aeaa8
    cp tests/fixtures/*.tflite tests/fixtures/*.npy /tmp/edgefmr-base/tests/fixtures/
    cp bench/_kernels_models.py /tmp/edgefmr-base/bench/
    (cd /tmp/edgefmr-base && /path/to/this/worktree/.venv/bin/python /path/to/run_at_commit.py . > records.json)

The venv's editable install maps the `edgefmr` packages to this worktree; the mapping is redirected to the other
checkout before anything of edgefmr is imported (checked), so its code, kernels and emitters are measured.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def point_edgefmr_at(base: str) -> Path:
    """Map the venv's editable install of edgefmr (and `bench`, through sys.path) to the checkout `base`; call it
    before anything of edgefmr is imported. Returns the checkout's resolved path."""
    root = Path(base).resolve()
    sys.path.insert(0, str(root))
    import __editable___edgefmr_0_1_0_finder as finder  # the venv's editable-install finder

    here = str(Path(finder.MAPPING["edgefmr"]).parent)
    for k, v in list(finder.MAPPING.items()):
        finder.MAPPING[k] = str(root / Path(v).relative_to(here))
    return root


def main(base: str) -> None:
    root = point_edgefmr_at(base)
    import bench._kernels_models as km
    import edgefmr
    import edgefmr.firmware

    for mod in (edgefmr, edgefmr.firmware, km):
        assert Path(mod.__file__).resolve().is_relative_to(root), mod.__file__
    t0 = time.time()
    recs = km.records(with_before=False)
    print(json.dumps({"seconds": round(time.time() - t0), "records": recs}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
