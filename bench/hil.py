"""Hardware-in-the-loop: wall time of the example suite on two QEMU boards in parallel vs one board alone."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

NOTE = """`edgefmr hil run examples/hil` runs one pytest worker per board. Wall times are medians of 3 runs measured in
one session (artifacts cached first, so the runs time the boards, not the builds); `ratio` = both boards in parallel
/ the slower single board. The figure needs two free cores: on a loaded machine QEMU runs (CPU-bound) serialize."""

SUITE = Path(__file__).parent.parent / "examples" / "hil"
BOARDS = ["qemu-netduinoplus2", "qemu-mps2-an500"]


def run() -> list[dict]:
    from edgefmr.hil.runner import BoardSpec, run_suite

    specs = [BoardSpec(b) for b in BOARDS]
    out: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        run_suite(SUITE, specs, Path(tmp) / "warm")  # builds and caches the artifacts
        single = {s.name: [] for s in specs}
        both = []
        for k in range(3):
            for s in specs:
                t0 = time.monotonic()
                (res,) = run_suite(SUITE, [s], Path(tmp) / f"{s.name}-{k}")
                single[s.name].append(time.monotonic() - t0)
                assert res.ok, res.failures
            t0 = time.monotonic()
            rs = run_suite(SUITE, specs, Path(tmp) / f"both-{k}")
            both.append(time.monotonic() - t0)
            assert all(r.ok for r in rs), [r.failures for r in rs]
    slowest = max(statistics.median(v) for v in single.values())
    for name, v in single.items():
        out.append({"run": f"one board: {name}", "wall_s_median": round(statistics.median(v), 2)})
    out.append({"run": "both boards in parallel", "wall_s_median": round(statistics.median(both), 2),
                "ratio": round(statistics.median(both) / slowest, 3), "cpus": os.cpu_count(),
                "load_avg_1min": round(os.getloadavg()[0], 2)})
    return out
