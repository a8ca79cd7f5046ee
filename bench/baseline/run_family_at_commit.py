"""Whole-model records of the family models (tests/fixtures/family) at another checkout of edgefmr, e.g. the base
commit b4aeaa8, in the form of bench/_kernels_models.py's `model` records, and the arena `edgefmr build` planned by
default there for every model of that bench (`kind` "build": the .tflite fixtures too), with this worktree's venv:

    git worktree add /tmp/edgefmr-base b4aeaa8
    .venv/bin/python bench/baseline/run_family_at_commit.py /tmp/edgefmr-base [--build-only] > family.json

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
from run_at_commit import point_edgefmr_at  # this script's folder is on sys.path when it runs

HERE = Path(__file__).resolve().parents[2]
BOARDS = ("qemu-netduinoplus2", "qemu-mps2-an500")
MODELS = ("vit_softmax", "vit_clipped", "vit_gated", "vit_hash", "spiking", "lmu", "lmu_spiking", "demo_vit")
FIXTURES = ("vit_digits_int8", "cnn_digits_int8", "vit64_int8", "vit16_d64_int8", "dscnn_int8", "resnet8_int8",
            "mobilenet_v1_025_int8")


def main(base: str) -> None:
    root = point_edgefmr_at(base)
    import edgefmr
    import edgefmr.firmware.build as fb
    from edgefmr.ir import efm

    assert Path(edgefmr.__file__).resolve().is_relative_to(root), edgefmr.__file__
    t0 = time.time()
    out = []
    fix = HERE / "tests" / "fixtures" / "family"
    only_build = "--build-only" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        for name in () if only_build else MODELS:
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
        paths = [HERE / "tests" / "fixtures" / f"{f}.tflite" for f in FIXTURES] + [fix / f"{m}.efm" for m in MODELS]
        for path in paths:
            for board in BOARDS:
                m = fb.build(path, board, Path(tmp) / f"build-{path.stem}-{board}", run_make=False)
                out.append({"kind": "build", "model": path.stem, "board": board,
                            "arena_bytes_build": m["predicted"]["arena_total"]})
    print(json.dumps({"seconds": round(time.time() - t0), "records": out}, indent=1))


if __name__ == "__main__":
    main(next((a for a in sys.argv[1:] if not a.startswith("--")), "."))
