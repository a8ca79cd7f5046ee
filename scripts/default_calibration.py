"""Write the default calibration tables per core type (sdk/profiling/data/calibration/<core>.json).

For each core type, architectures sampled from the default search spaces of the three families (seeded random
weights, lowered by the quantization stage) are built and profiled on the core's QEMU board with `edgefmr profile`;
the board's merged table is the default. The table's coefficients are keyed by kernel path
(edgefmr.profiling.calibration.node_keys), and a random sample can miss a path the search space reaches (e.g.
HASH_ENCODE's portable loop for head widths that are not a multiple of 4): after the random sample, up to `--cover`
more architectures per family are taken from the same seeded stream (at most 50 draws each), each one that runs a
kernel path fewer than COVER_MODELS of the profiled models ran. Run:
`.venv/bin/python scripts/default_calibration.py [--per-family N] [--cover K]`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

BOARDS = {"cortex-m4": "qemu-netduinoplus2", "cortex-m7": "qemu-mps2-an500"}
FAMILIES = {"vit": ("digits", 2), "spiking": ("digits", 1), "lmu": ("seq-digits", 1)}  # task, weight
SEED = 12345  # not the seed of bench/search.py's evaluation sample
COVER_MODELS = 2  # profiled models per kernel path the coverage draws aim for
COVER_DRAWS = 50  # draws per added architecture at most


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-family", type=int, default=5, help="architectures per family (ViT: twice as many)")
    ap.add_argument("--cover", type=int, default=4, help="architectures per family added for kernel paths the "
                    f"random sample ran in fewer than {COVER_MODELS} models")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from edgefmr.profiling.calibration import DEFAULTS_DIR, calibration_path

    DEFAULTS_DIR.mkdir(parents=True, exist_ok=True)
    for core, board in BOARDS.items():
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["EDGEFMR_CALIBRATION_DIR"] = str(Path(tmp) / "cal")
            models: list[str] = []
            seen: dict[str, int] = {}  # kernel path -> profiled models (of every family) that run it
            for family, (task_name, weight) in FAMILIES.items():
                models += _profile_family(core, board, family, task_name, args.per_family * weight, args.cover,
                                          Path(tmp), seen)
            table = json.loads(calibration_path(board).read_text())
        table.pop("equations")
        for p, m in zip(table["profiles"], models, strict=True):
            p.pop("artifact", None)
            p["model"] = m
        table["generated_by"] = "scripts/default_calibration.py"
        (DEFAULTS_DIR / f"{core}.json").write_text(json.dumps(table, indent=1) + "\n")
        print(f"{core}: {len(table['ops'])} coefficient keys from {len(models)} models -> "
              f"{DEFAULTS_DIR / (core + '.json')}")


def _profile_family(core: str, board: str, family: str, task_name: str, n: int, cover: int, tmp: Path,
                    seen: dict[str, int]) -> list[str]:
    """Profile n sampled architectures of `family` on `board` (into the board's table), then up to `cover` more
    that run a kernel path fewer than COVER_MODELS profiled models ran (`seen`, updated); returns their
    descriptions."""
    from edgefmr.firmware.build import build
    from edgefmr.ir import save
    from edgefmr.nas.search.cost import lower_for_cost
    from edgefmr.nas.search.space import default_space, describe
    from edgefmr.nas.tasks import load_task
    from edgefmr.profiling.calibration import board_arm, node_work
    from edgefmr.profiling.profile import profile_artifact

    arm = board_arm(board)
    task = load_task(task_name)
    space = default_space(family, task.input_shape)
    rng = np.random.default_rng(SEED)
    models: list[str] = []
    for i in range(n + cover):
        for _ in range(1 if i < n else COVER_DRAWS):
            values = space.sample(rng)
            g = lower_for_cost(space.config(values), task)
            keys = {w[0] for w in node_work(g, arm)}
            new = sorted(k for k in keys if seen.get(k, 0) < COVER_MODELS)
            if i < n or new:
                break
        else:
            break  # no draw runs a path the profiled models ran too rarely
        for k in keys:
            seen[k] = seen.get(k, 0) + 1
        save(g, tmp / f"{family}{i}.efm")
        build(tmp / f"{family}{i}.efm", board, tmp / f"{family}{i}")
        profile_artifact(tmp / f"{family}{i}", count=2, runs=0, write_calibration=True)
        models.append(f"{family} {describe(values)}")
        print(core, family, i, "random" if i < n else "covers " + ", ".join(new), flush=True)
    return models


if __name__ == "__main__":
    main()
