"""The FPGA/HLS backend (a folder, as in hls4ml): kernels/ (HLS C++ per op), emitters/ (per-op emitters),
codegen.py (dataflow top function), engine.py (the shared-engine top function), estimator.py (resources and
latency per board, the choice of design), project.py (Vitis HLS project, testbench, Tcl, g++ C simulation).

    build(model, board, out_dir) -> manifest    `edgefmr build MODEL --board <fpga board>`
    run_csim(artifact, graph, records) -> outs  `edgefmr run MODEL --board <fpga board>`
    run_stream_csim(artifact, graph, frames)    `edgefmr run MODEL --board <fpga board> --stream` (streaming.py)
    estimate(graph, board) -> dict              the FPGA cost model (search, build report)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.boards import Board, load_board
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.hls.codegen import generate
from edgefmr.firmware.hls.emitters import Folding
from edgefmr.firmware.hls.engine import generate_engine
from edgefmr.firmware.hls.estimator import estimate
from edgefmr.firmware.hls.project import (
    COMPILE_LIMIT_S,
    ap_types_dir,
    check_csim,
    compile_csim,
    run_csim,
    write_project,
)
from edgefmr.firmware.hls.streaming import add_step, run_stream_csim
from edgefmr.ir import Graph, graph_hash
from edgefmr.ir.graph import np_dtype
from edgefmr.ir.model_io import load_model
from edgefmr.ir.passes import optimize
from edgefmr.ir.streaming import frame_array, frame_inputs, is_streaming

__all__ = ["MANIFEST_FORMAT", "build", "default_records", "estimate", "run_csim", "run_stream_csim"]

MANIFEST_FORMAT = "edgefmr-hls-build"
MANIFEST_VERSION = 1
#: Test records written into the testbench when the caller gives none.
DEFAULT_RECORDS = 3
#: Frames the streaming testbench checks when the caller gives none.
STREAM_CHECK_STEPS = 64


def default_records(g: Graph, n: int = DEFAULT_RECORDS, seed: int = 0) -> list[list[np.ndarray]]:
    """Deterministic random input records: uniform over each integer input's range, normal for float inputs."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        rec = []
        for name in g.inputs:
            t = g.tensor(name)
            if t.dtype == "float32":
                rec.append(rng.normal(0, 2, t.shape).astype(np.float32))
            elif t.dtype == "bool":
                rec.append(rng.integers(0, 2, t.shape).astype(np.bool_))
            else:
                info = np.iinfo(np_dtype(t.dtype))
                lo, hi = max(info.min, -(2**20)), min(info.max, 2**20)
                rec.append(rng.integers(lo, hi, t.shape, endpoint=True).astype(np_dtype(t.dtype)))
        out.append(rec)
    return out


def _graph(model: str | Path | Graph) -> tuple[Graph, str]:
    if isinstance(model, Graph):
        return model, "<graph>"

    return load_model(model), str(model)


def build(model: str | Path | Graph, board: str | Board, out_dir: str | Path, *,
          test_inputs: list[list[np.ndarray]] | None = None, folding: dict[str, Folding] | None = None,
          check: bool = True, design: str | None = None, streaming: bool = False,
          stream_frames: np.ndarray | None = None) -> dict[str, Any]:
    """Generate the Vitis HLS project of `model` for FPGA `board` in `out_dir` (the design the estimator chooses:
    per-layer dataflow when it fits 80 % of the board, else the shared engine; `design` forces one), compile its C
    simulation with g++ and check it bit for bit against the reference interpreter on the test records; returns
    the manifest (also written to out_dir/manifest.json). EdgefmrError when the design does not fit the board.

    streaming: `model` is a step program (edgefmr.ir.streaming); the project also gets the streaming top
    `efm_top_step` (states kept in the design) and its C simulation `csim_step`, checked step by step against the
    interpreter's streaming program on `stream_frames` (default: STREAM_CHECK_STEPS random frames)."""
    g, model_name = _graph(model)
    if streaming and not is_streaming(g):
        raise EdgefmrError(f"{model_name}: --streaming needs a step program with marked state pairs (metadata "
                           f"'stream_states'); write one with `edgefmr quantize ... --stream-out step.efm`")
    b = load_board(board) if isinstance(board, str) else board
    if b.kind != "fpga" or b.fpga is None:
        raise EdgefmrError(f"board {b.name!r} is not an FPGA board; the HLS backend builds for kind = \"fpga\"")
    est = estimate(g, b, folding, design=design)
    fused = optimize(g)  # TensorFlow's LayerNorm chains as one node each, as the estimator costs them
    t0 = time.time()
    if est["design"] == "engine":
        e = est["engine"]
        hm, _ = generate_engine(fused, e["pe"], e["simd"], e["weights"])
    else:
        hm = generate(fused, {k: Folding(v["pe"], v["simd"]) for k, v in est["folding"].items()})
    gen_s = time.time() - t0
    records = test_inputs if test_inputs is not None else default_records(g)
    out = Path(out_dir)
    files = write_project(out, fused, hm, records, b.fpga.part, b.clock_hz)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "backend": "hls", "board": b.name,
        "part": b.fpga.part, "clock_hz": b.clock_hz, "model": model_name, "model_hash": graph_hash(g),
        "design": est["design"], "top": hm.top, "kernels": hm.kernels, "files": sorted(files),
        "ap_types": str(ap_types_dir()) if ap_types_dir() else None,
        "predicted": {"total": est["total"], "utilization": est["utilization"], "available": est["available"]},
        "layers": est["layers"], "processes": est["processes"], "fifos": est["fifos"], "folding": est["folding"],
        **({"engine": est["engine"]} if est["design"] == "engine" else {}),
        "fused_nodes": len(g.nodes) - len(fused.nodes), "generate_s": gen_s,
    }
    if check:
        compile_s = compile_csim(out)
        report = check_csim(out)
        manifest["csim"] = {"compile_s": compile_s, "compile_limit_s": COMPILE_LIMIT_S, "records": len(records),
                            "bit_exact": True, "report": report.strip().splitlines()[-1]}
    if streaming:
        frames = stream_frames if stream_frames is not None else _random_frames(g, STREAM_CHECK_STEPS)
        manifest["streaming"] = add_step(out, g, hm.top, frame_array(g, frames))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _random_frames(g: Graph, steps: int, seed: int = 0) -> np.ndarray:
    t = g.tensor(frame_inputs(g)[0])
    info = np.iinfo(np_dtype(t.dtype))
    return np.random.default_rng(seed).integers(info.min, info.max, (steps, *t.shape), endpoint=True
                                                ).astype(np_dtype(t.dtype))
