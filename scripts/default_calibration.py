"""Write the default calibration tables per core type (sdk/profiling/data/calibration/<core>.json).

For each core type, architectures sampled from the default search spaces of the three families (seeded random
weights, lowered by the quantization stage) are built and profiled on the core's QEMU board with `edgefmr profile`;
the board's merged table is the default. Run: `.venv/bin/python scripts/default_calibration.py [--per-family N]`.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-family", type=int, default=5, help="architectures per family (ViT: twice as many)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from edgefmr.firmware.build import build
    from edgefmr.ir import save
    from edgefmr.nas.search.cost import lower_for_cost
    from edgefmr.nas.search.space import default_space, describe
    from edgefmr.nas.tasks import load_task
    from edgefmr.profiling.calibration import DEFAULTS_DIR, calibration_path
    from edgefmr.profiling.profile import profile_artifact

    DEFAULTS_DIR.mkdir(parents=True, exist_ok=True)
    for core, board in BOARDS.items():
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["EDGEFMR_CALIBRATION_DIR"] = str(Path(tmp) / "cal")
            models = []
            for family, (task_name, weight) in FAMILIES.items():
                task = load_task(task_name)
                space = default_space(family, task.input_shape)
                rng = np.random.default_rng(SEED)
                for i in range(args.per_family * weight):
                    values = space.sample(rng)
                    path = Path(tmp) / f"{family}{i}.efm"
                    save(lower_for_cost(space.config(values), task), path)
                    build(path, board, Path(tmp) / f"{family}{i}")
                    profile_artifact(Path(tmp) / f"{family}{i}", count=2, runs=0, write_calibration=True)
                    models.append(f"{family} {describe(values)}")
                    print(core, family, i, flush=True)
            table = json.loads(calibration_path(board).read_text())
        table.pop("equations")
        for p, m in zip(table["profiles"], models, strict=True):
            p.pop("artifact", None)
            p["model"] = m
        table["generated_by"] = "scripts/default_calibration.py"
        (DEFAULTS_DIR / f"{core}.json").write_text(json.dumps(table, indent=1) + "\n")
        print(f"{core}: {len(table['ops'])} op types from {len(models)} models -> {DEFAULTS_DIR / (core + '.json')}")


if __name__ == "__main__":
    main()
