"""The streaming paths of `edgefmr run --stream` and `edgefmr profile --stream` (docs/streaming.md)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError


def _frames(g: Any, path: str | None, count: int = 0, seed: int = 0) -> np.ndarray:
    """Frames [steps, *frame shape] in the frame's dtype from `path` (integer, or float32 quantized with the frame's
    scale and zero point), or `count` random frames."""
    from edgefmr.errors import IRError
    from edgefmr.ir.graph import np_dtype
    from edgefmr.ir.model_io import check_finite
    from edgefmr.ir.streaming import frame_array, io_view
    from edgefmr.ops.quantize import affine_quantize

    view = io_view(g)
    t = view.tensor(view.inputs[0])
    if path is None:
        info = np.iinfo(np_dtype(t.dtype))
        x = np.random.default_rng(seed).integers(info.min, info.max + 1, (count, *t.shape), dtype=np.int64)
        return frame_array(g, x.astype(np_dtype(t.dtype)))
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise EdgefmrError(f"{path}: cannot read as .npy ({e})") from None
    if x.dtype in (np.float32, np.float64):
        if t.quant is None:
            raise EdgefmrError(f"{path}: float frames, but the frame input {t.name!r} is not quantized")
        check_finite(x, path)
        x = affine_quantize(x.astype(np.float32), t.scale, t.zero_point, t.dtype)
    try:
        return frame_array(g, x)
    except IRError as e:
        raise EdgefmrError(f"{path}: {e} (or float32 to be quantized)") from None


def _step_graph(model: str) -> Any:
    from edgefmr.device.connection import target_graph
    from edgefmr.ir.streaming import is_streaming

    g = target_graph(model)
    if not is_streaming(g):
        raise EdgefmrError(f"{model}: not a step program (no marked states); write one with `edgefmr quantize ... "
                           f"--stream-out step.efm` and build it with `edgefmr build --streaming`")
    return g


def run_stream(model: str, input_path: str, board: str | None, port: str | None, tricks: bool
               ) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Per-step outputs [steps, *output shape] of streaming the frames in `input_path` through step program MODEL
    (a .efm, or a --streaming build folder) from a reset state; where it ran; JSON fields."""
    from edgefmr.firmware.build import build, run_host
    from edgefmr.ir.streaming import io_view
    from edgefmr.ir.streaming import run_stream as run_interp

    g = _step_graph(model)
    x = _frames(g, input_path)
    view = io_view(g)
    if len(view.outputs) != 1:
        raise EdgefmrError(f"the step program has {len(view.outputs)} step outputs; `run --stream` writes one")
    art = Path(model)
    if board is None and art.is_dir():
        m = art / "manifest.json"
        board = json.loads(m.read_text()).get("board") if m.is_file() else None
    if board is None:
        outs, _ = run_interp(g, x)
        return np.stack([o[0] for o in outs]), "on the reference interpreter", {}
    with tempfile.TemporaryDirectory(prefix="edgefmr-stream-") as tmp:
        from edgefmr.boards import load_board

        if board != "host" and load_board(board).kind == "fpga":
            from edgefmr.firmware.hls import build as build_hls
            from edgefmr.firmware.hls.streaming import run_stream_csim

            if not art.is_dir():
                build_hls(g, board, tmp, streaming=True)
                art = Path(tmp)
            outs = run_stream_csim(art, g, x)
            return np.stack([o[0] for o in outs]), f"on the {board} HLS C simulation (streaming top)", {}
        if not art.is_dir():
            build(g, None if board == "host" else board, tmp, tricks=tricks, streaming=True)
            art = Path(tmp)
        if board == "host":
            t_in = view.tensor(view.inputs[0])
            outs = run_host(art, view, [[f.reshape(t_in.shape)] for f in x])
            return np.stack([o[0] for o in outs]), "on the host C build", {}
        from edgefmr.device.streaming import run_stream_on_board

        r = run_stream_on_board(art, board, x, port=port, graph=g)
        st = r.stats()
        desc = (f"{board}: per step {st['mean']:,.0f} {r.counter.unit} (min {st['min']:,.0f}, max {st['max']:,.0f}); "
                f"persistent state {r.state_bytes:,} B")
        return (np.stack([o[0] for o in r.outputs]), f"on {board}",
                {"counts": r.counts, "counter": r.counter.name, "counter_quantum": r.quantum,
                 "state_bytes": r.state_bytes, "description": desc})


def profile_stream(artifact: str, board: str | None, port: str | None, inputs: str | None, count: int
                   ) -> dict[str, Any]:
    """A streaming profile of a --streaming protocol build: per-step counts (mean/min/max), persistent-state bytes
    (device, planner, ELF) and bit-exactness of every step against the interpreter's streaming program."""
    from edgefmr.boards import load_board
    from edgefmr.device.connection import artifact_manifest
    from edgefmr.device.protocol import Counter
    from edgefmr.device.streaming import run_stream_on_board
    from edgefmr.ir.streaming import run_stream as run_interp

    art, manifest = artifact_manifest(artifact, board)
    if "streaming" not in manifest:
        raise EdgefmrError(f"{art} is not a streaming build; build the step program with `edgefmr build --streaming`")
    g = _step_graph(str(art))
    x = _frames(g, inputs, count)
    r = run_stream_on_board(art, board, x, port=port, graph=g)
    ref, _ = run_interp(g, x)
    bad = [k for k, (a, b) in enumerate(zip(r.outputs, ref, strict=True))
           if not all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))]
    b = load_board(str(manifest["board"]))
    st = r.stats()
    cycles = r.counter in (Counter.DWT_CYCLES, Counter.SYSTICK_CYCLES)
    return {
        "artifact": str(art), "board": r.board, "model_hash": manifest.get("model_hash"),
        "inputs": inputs or f"{count} random frames", "steps": len(x),
        "counter": {"kind": r.counter.name, "unit": r.counter.unit, "label": r.counter.label, "quantum": r.quantum},
        "per_step": st, "counts": r.counts,
        "latency_ms_mean": st["mean"] / b.clock_hz * 1e3 if cycles and st.get("mean") else None,
        "state_bytes": {"device": r.state_bytes, "predicted": manifest["streaming"]["state_bytes"],
                        "elf": manifest.get("measured", {}).get("state_symbol")},
        "arena_bytes": manifest["predicted"]["arena_total"],
        "bit_exact_steps": len(x) - len(bad), "first_mismatch": bad[0] if bad else None, "link": r.link,
    }


def print_stream_profile(rep: dict[str, Any], out: str) -> str:
    """Text summary of a streaming profile."""
    s, sb, unit = rep["per_step"], rep["state_bytes"], rep["counter"]["unit"]
    lines = [f"{rep['artifact']} on {rep['board']}: {rep['steps']} steps ({rep['inputs']}), counter "
             f"{rep['counter']['label']}",
             f"per step: mean {s['mean']:,.1f} {unit}, min {s['min']:,.0f}, max {s['max']:,.0f} "
             f"(max/min {s['max_over_min']:.4f})"
             + (f" = {rep['latency_ms_mean']:.3f} ms" if rep["latency_ms_mean"] is not None else ""),
             f"persistent state: {sb['device']:,} B on the device (planner {sb['predicted']:,} B"
             + (f", ELF {sb['elf']:,} B" if sb["elf"] is not None else "") + f"); arena {rep['arena_bytes']:,} B",
             f"bit-exact with the interpreter's streaming program: {rep['bit_exact_steps']} / {rep['steps']} steps",
             f"report: {out}"]
    return "\n".join(lines)
