"""Whole-model rows of the kernel bench: the .tflite fixtures (tests/fixtures) and edgefmr's own family models
(tests/fixtures/family, made by scripts/make_family_models.py: the ViT with each attention variant, the spiking
transformer, the LMU, the spiking LMU and the demo's searched ViT) on QEMU Cortex-M4 and Cortex-M7, with the Cortex-M
kernels and with the portable kernels only, beside the figures of the base commit b4aeaa8.

Per fixture and board (`kind` "model"): total MACs, executed instructions per inference and per MAC (portable and
Cortex-M kernels), the planner's arena (kernel scratch included) and the image's .text bytes of both builds, and a
bit-exact flag (every output of every input record equals the reference interpreter's). Per fixture and op type on
the Cortex-M4 (`kind` "model_op"): the instructions of that op type's layers, summed from the per-layer counts of
the protocol firmware (`edgefmr profile`, QEMU -icount: exact instructions per layer) on the first input record.
All builds plan without MCUFormer's tricks (`tricks=False`, as `graph_instructions` does), so every node is one
layer and runs its own kernel; `arena_bytes_build` is the arena `edgefmr build` makes by default for the board (the
memory plan with MCUFormer's tricks and in-place convolutions where they make it smaller, the Cortex-M kernels'
scratch included, lean kernel variants where they lower the peak). `instructions_before*` are the same figures at
b4aeaa8 (bench/baseline/README.md; `arena_bytes_build_before`: its default build's arena); `half_of_before` =
instructions_arm <= instructions_before / 2."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench._kernel_util import BOARDS
from edgefmr.ir import Graph

ROOT = Path(__file__).parent.parent
FIX = ROOT / "tests" / "fixtures"
BASELINE = Path(__file__).parent / "baseline" / "kernels_models_b4aeaa8.json"

#: (fixture, its int8 input records [N, ...]); the first N_RECORDS records are run. The per-op-type breakdown is made
#: for the .tflite fixtures.
MODELS = [
    ("vit_digits_int8.tflite", "digits_test_x.npy"),
    ("cnn_digits_int8.tflite", "digits_test_x.npy"),
    ("vit64_int8.tflite", "vit64_int8_x.npy"),
    ("vit16_d64_int8.tflite", "vit16_d64_int8_x.npy"),
    ("dscnn_int8.tflite", "dscnn_int8_x.npy"),
    ("resnet8_int8.tflite", "resnet8_int8_x.npy"),
    ("mobilenet_v1_025_int8.tflite", "mobilenet_v1_025_int8_x.npy"),
    *((f"family/{m}.efm", f"family/{m}_x.npy") for m in ("vit_softmax", "vit_clipped", "vit_gated", "vit_hash",
                                                          "spiking", "lmu", "lmu_spiking", "demo_vit")),
]
N_RECORDS = 2
#: The board of the per-op-type breakdown.
OP_BOARD = "qemu-netduinoplus2"


def _input_records(g: Graph, npy: str) -> list[list[np.ndarray]]:
    shape = g.tensor(g.inputs[0]).shape
    return [[x.reshape(shape)] for x in np.load(FIX / npy)[:N_RECORDS]]


def _semihost(g: Graph, board: str, recs: list[list[np.ndarray]], out: Path, optimized: bool) -> dict[str, Any]:
    """Instructions per inference (minimum over the records), bit-exactness, arena and .text of one build."""
    from edgefmr.device.semihost import graph_instructions
    from edgefmr.firmware.cost import Choices

    r = graph_instructions(g, board, recs, out, optimized=optimized, choices=Choices())  # as `edgefmr build` plans
    m = json.loads((out / "manifest.json").read_text())
    return {"instructions": r["instructions"], "bit_exact": r["bit_exact"], "kernels": r["kernels"],
            "arena": m["predicted"]["arena_total"], "text": m["measured"]["sections"][".text"]}


def _per_op(model: Path, board: str, rec: list[np.ndarray], out: Path, optimized: bool
            ) -> tuple[dict[str, dict[str, Any]], bool]:
    """Per op type: layers, work (unit, amount) and instructions summed over its layers, from one profiled inference
    of the protocol firmware; and whether the board's outputs were bit-exact."""
    from edgefmr.firmware.build import build
    from edgefmr.ir.model_io import load_model
    from edgefmr.profiling.calibration import node_work
    from edgefmr.profiling.profile import profile_artifact

    build(model, board, out, tricks=False, optimized=optimized)
    np.save(out / "x.npy", rec[0][None])
    rep = profile_artifact(out, inputs=str(out / "x.npy"), count=1, runs=0, write_calibration=False)
    g = load_model(model)
    work = node_work(g)
    ops: dict[str, dict[str, Any]] = defaultdict(lambda: {"layers": 0, "unit": "", "units": 0, "instructions": 0})
    for lay in rep["layers"]:
        o = ops[lay["op"]]
        o["layers"] += 1
        o["instructions"] += int(lay["count_mean"])
        # a node folded into a layer of another op (a TRANSPOSE into BATCH_MATMUL's addressing) adds no work of its
        # own; a fused chain (ADD_LAYER_NORM_CHAIN) counts the work of all its nodes
        own = [i for i in lay["nodes"] if g.nodes[i].op == lay["op"]]
        for i in own or lay["nodes"]:
            unit = "MAC" if work[i][1] == "mac" else "element"
            if o["unit"] not in ("", unit):
                raise AssertionError(f"{model.name}: op {lay['op']} counted in MACs and elements")
            o["unit"] = unit
            o["units"] += work[i][2]
    exact = rep["agreement"]["bit_exact"] == rep["agreement"]["total"]
    return dict(ops), exact


def _key(r: dict) -> tuple:
    return r["kind"], r["model"], r["board"], r.get("op")


def _add_before(rec: dict, before: dict[tuple, dict]) -> None:
    """The b4aeaa8 figures of the same record, if the baseline has it."""
    b = before.get(_key(rec))
    if b is None:
        return
    rec["instructions_before"] = b["instructions_arm"]
    rec["instructions_before_portable"] = b["instructions_portable"]
    if rec["kind"] == "model":
        rec["arena_bytes_before"] = b["arena_bytes_arm"]
        rec["text_bytes_before"] = b["text_bytes_arm"]
        built = before.get(("build", rec["model"], rec["board"], None))
        if built is not None:
            rec["arena_bytes_build_before"] = built["arena_bytes_build"]


def _baseline() -> dict[tuple, dict]:
    if not BASELINE.is_file():
        return {}
    return {_key(r): r for r in json.loads(BASELINE.read_text())["records"]}


def _per_unit(n: float, units: int) -> float | None:
    return round(n / units, 3) if units else None


def _build_arena(g: Graph, board: str) -> int:
    """The arena `edgefmr build` plans by default (see the module docstring)."""
    from edgefmr.boards import load_board
    from edgefmr.firmware.cost import build_arm_kernels, make_plan

    b = load_board(board)
    return make_plan(g, b, tricks=True, arm=build_arm_kernels(b)).arena_size


def records(with_before: bool = True, only: tuple[str, ...] = ()) -> list[dict]:
    """The whole-model and per-op-type records (see the module docstring); `with_before`: add the b4aeaa8 figures
    from bench/baseline (False when making that baseline); `only`: these models (by name without suffix)."""
    from edgefmr.ir.model_io import load_model
    from edgefmr.ops.registry import call

    before = _baseline() if with_before else {}
    out: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, npy in MODELS:
            stem = Path(name).stem
            if only and stem not in only:
                continue
            g = load_model(FIX / name)
            recs = _input_records(g, npy)
            macs = sum(call(n, g).opdef.macs(call(n, g)) for n in g.nodes)
            for board in BOARDS:
                arm = _semihost(g, board, recs, Path(tmp) / f"{stem}-{board}-arm", True)
                ref = _semihost(g, board, recs, Path(tmp) / f"{stem}-{board}-ref", False)
                rec = {"kind": "model", "model": stem, "board": board, "nodes": len(g.nodes), "unit": "MAC",
                       "units": macs, "instructions_portable": round(ref["instructions"]),
                       "instructions_arm": round(arm["instructions"]),
                       "portable_per_unit": _per_unit(ref["instructions"], macs),
                       "arm_per_unit": _per_unit(arm["instructions"], macs),
                       "speedup": round(ref["instructions"] / max(arm["instructions"], 1), 2),
                       "arm_kernels": ",".join(arm["kernels"]) or "-",
                       "arena_bytes_portable": ref["arena"], "arena_bytes_arm": arm["arena"],
                       "text_bytes_portable": ref["text"], "text_bytes_arm": arm["text"],
                       "bit_exact": arm["bit_exact"] and ref["bit_exact"]}
                if with_before:
                    rec["arena_bytes_build"] = _build_arena(g, board)
                _add_before(rec, before)
                if "instructions_before" in rec:
                    rec["half_of_before"] = rec["instructions_arm"] <= rec["instructions_before"] / 2
                out.append(rec)
            if not name.endswith(".tflite"):
                continue
            ops_arm, ex_arm = _per_op(FIX / name, OP_BOARD, recs[0], Path(tmp) / f"{stem}-ops-arm", True)
            ops_ref, ex_ref = _per_op(FIX / name, OP_BOARD, recs[0], Path(tmp) / f"{stem}-ops-ref", False)
            total_arm = sum(o["instructions"] for o in ops_arm.values())
            for op in sorted(ops_arm, key=lambda k: -ops_arm[k]["instructions"]):
                a, p = ops_arm[op], ops_ref[op]
                rec = {"kind": "model_op", "model": stem, "board": OP_BOARD, "op": op, "nodes": a["layers"],
                       "unit": a["unit"], "units": a["units"], "instructions_portable": p["instructions"],
                       "instructions_arm": a["instructions"],
                       "portable_per_unit": _per_unit(p["instructions"], a["units"]),
                       "arm_per_unit": _per_unit(a["instructions"], a["units"]),
                       "speedup": round(p["instructions"] / max(a["instructions"], 1), 2),
                       "share_arm": round(a["instructions"] / max(total_arm, 1), 4),
                       "bit_exact": ex_arm and ex_ref}
                _add_before(rec, before)
                out.append(rec)
    return out
