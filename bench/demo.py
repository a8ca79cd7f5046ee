"""`make demo` end to end (issue 7: search -> build -> flash -> profile in <= 10 minutes on 2 cores), timed."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).parent.parent
OUT = ROOT / "out" / "demo"

NOTE = """One run of `scripts/demo.sh` (what `make demo` runs after setup) with an empty supernet cache and an empty
calibration folder, so the supernet is trained, not loaded: `wall_seconds` is the wall time of the whole script
(search, build, flash, bit-exact run on the board, profile, TFLite check, report) on this machine, one run (shared
machines are noisy; `load_avg_1min` is the load when it ended). `int8_accuracy` is the chosen model's test accuracy
on the IR interpreter, `board_bit_exact` the test images whose board outputs equal the interpreter's."""


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="edgefmr-bench-demo-") as tmp:
        env = {**os.environ, "EDGEFMR_CACHE_DIR": str(Path(tmp) / "cache"),
               "EDGEFMR_CALIBRATION_DIR": str(Path(tmp) / "calibration")}
        t0 = time.monotonic()
        subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.monotonic() - t0
    search = json.loads((OUT / "search" / "search.json").read_text())
    chosen = search["chosen"]
    board, ref = np.load(OUT / "y_board.npy"), np.load(OUT / "y_ref.npy")
    same = int((board.reshape(len(board), -1) == ref.reshape(len(ref), -1)).all(axis=1).sum())
    return [{"wall_seconds": round(seconds, 1), "limit_seconds": 600, "cpus": os.cpu_count(),
             "load_avg_1min": round(os.getloadavg()[0], 2), "trials": search["trials"],
             "supernet_trained_now": search["supernets"]["vit"]["trained_now"], "arch": chosen["arch"],
             "sram": chosen["sram"], "int8_accuracy": chosen["test_accuracy_int"],
             "board_bit_exact": f"{same}/{len(board)}"}]
