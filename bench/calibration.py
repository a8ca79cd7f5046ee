"""Default latency calibration tables (issue 15): how well the search's latency predictions match the board.

``python -m bench calibration`` writes ``bench/results/calibration.{json,md}``: the prediction error of the cortex-m4
default table (sdk/profiling/data/calibration/cortex-m4.json, written by ``scripts/default_calibration.py``) on the
architectures of ``bench search``'s latency sample, plus what the table was fitted on. ``EDGEFMR_SEARCH_BENCH_QUICK=1``
measures 6 architectures instead of 20.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from bench.search import QUICK, _latency_records

NOTE = """Kind `latency`: predicted vs profiled latency of 20 ViT architectures sampled from the default search space
(digits, seed 0, seeded random weights), measured exactly as `bench search` does (`bench.search._latency_records`):
the prediction is `edgefmr.nas.search.cost.candidate_cost(g, "qemu-netduinoplus2").latency_seconds`, the measurement
the mean of 2 whole-model runs on QEMU qemu-netduinoplus2 (executed instructions at the core clock). A fresh, empty
`EDGEFMR_CALIBRATION_DIR` is used, so the prediction reads the cortex-m4 default table. `mean_abs_rel_error` and
`max_abs_rel_error` are |predicted - measured| / measured over the sample, `kendall_tau` the rank agreement. The
table's fit info: `table_models` (profiled architectures, per family in `table_families`; seed 12345, not the
evaluation's seed: the random sample and the architectures added to cover kernel paths it ran too rarely),
`table_keys` (coefficient keys: kernel paths, e.g. `HASH_ENCODE/portable`, see docs/calibration.md),
`table_op_types` (op types with their own fit, for paths a table lacks), `table_layers` (layer equations of the NNLS
fit), `table_fallback` (counts per unit of work for op types the table lacks), `table_generated_by`."""

TABLE = Path(__file__).resolve().parents[1] / "sdk" / "profiling" / "data" / "calibration" / "cortex-m4.json"


def _fit_info() -> dict[str, Any]:
    t = json.loads(TABLE.read_text())
    families: dict[str, int] = {}
    for p in t["profiles"]:
        f = str(p.get("model", "?")).split()[0]
        families[f] = families.get(f, 0) + 1
    return {"table": f"{t['core']} default", "table_models": len(t["profiles"]), "table_families": families,
            "table_keys": len(t["ops"]), "table_op_types": len(t.get("op_types", t["ops"])),
            "table_layers": sum(v["layers"] for v in t["ops"].values()),
            "table_fallback": t["fallback"], "table_generated_by": t.get("generated_by")}


def run() -> list[dict[str, Any]]:
    torch.set_num_threads(1)
    old = os.environ.get("EDGEFMR_CALIBRATION_DIR")
    with tempfile.TemporaryDirectory(prefix="edgefmr-bench-calibration-") as tmp:
        work = Path(tmp)
        os.environ["EDGEFMR_CALIBRATION_DIR"] = str(work / "calibration")  # empty: the default tables only
        try:
            records = _latency_records(work, 6 if QUICK else 20)
        finally:
            if old is None:
                os.environ.pop("EDGEFMR_CALIBRATION_DIR", None)
            else:
                os.environ["EDGEFMR_CALIBRATION_DIR"] = old
    for r in records:
        r.update(_fit_info())
    return records
