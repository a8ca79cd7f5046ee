"""Whole-model records of the family models (tests/fixtures/family) at another checkout of edgefmr, e.g. the base
commit b4aeaa8, in the form of bench/_kernels_models.py's `model` records, with this worktree's venv:

    git worktree add /tmp/edgefmr-base b4aeaa8
    .venv/bin/python bench/baseline/run_family_at_commit.py /tmp/edgefmr-base > family.json

The models and their input records are read from this worktree (their IR is the same at b4aeaa8); the venv's
editable-install mapping is pointed at the other checkout before anything of edgefmr is imported (checked), so
its planner, code generator and kernels are measured (`graph_instructions` of that checkout: semihosting image,
no tricks, Cortex-M kernels or portable ones, QEMU -icount).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[2]
BOARDS = ("qemu-netduinoplus2", "qemu-mps2-an500")
MODELS = ("vit_softmax", "vit_clipped", "vit_gated", "vit_hash", "spiking", "lmu", "lmu_spiking", "demo_vit")


def main(base: str) -> None:
    root = Path(base).resolve()
    sys.path.insert(0, str(root))
    import __editable___edgefmr_0_1_0_finder as finder  # the venv's editable-install finder

    here = str(Path(finder.MAPPING["edgefmr"]).parent)
    for k, v in list(finder.MAPPING.items()):
        finder.MAPPING[k] = str(root / Path(v).relative_to(here))
    import edgefmr
    import edgefmr.firmware.build as fb
    from edgefmr.ir import efm

    assert Path(edgefmr.__file__).resolve().is_relative_to(root), edgefmr.__file__
    t0 = time.time()
    out = []
    fix = HERE / "tests" / "fixtures" / "family"
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            g = efm.load(fix / f"{name}.efm")
            shape = g.tensors[g.inputs[0]].shape
            recs = [[x.reshape(shape)] for x in np.load(fix / f"{name}_x.npy")[:2]]
            for board in BOARDS:
                r = {}
                for kind, opt in (("arm", True), ("portable", False)):
                    d = Path(tmp) / f"{name}-{board}-{kind}"
                    res = fb.graph_instructions(g, board, recs, d, optimized=opt)
                    m = json.loads((d / "manifest.json").read_text())
                    r[kind] = (res, m["predicted"]["arena_total"], m["measured"]["sections"][".text"])
                out.append({"kind": "model", "model": name, "board": board, "nodes": len(g.nodes),
                            "instructions_portable": round(r["portable"][0]["instructions"]),
                            "instructions_arm": round(r["arm"][0]["instructions"]),
                            "arm_kernels": ",".join(r["arm"][0]["kernels"]) or "-",
                            "arena_bytes_portable": r["portable"][1], "arena_bytes_arm": r["arm"][1],
                            "text_bytes_portable": r["portable"][2], "text_bytes_arm": r["arm"][2],
                            "bit_exact": r["arm"][0]["bit_exact"] and r["portable"][0]["bit_exact"]})
                print(name, board, out[-1]["instructions_arm"], file=sys.stderr, flush=True)
    print(json.dumps({"seconds": round(time.time() - t0), "records": out}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
