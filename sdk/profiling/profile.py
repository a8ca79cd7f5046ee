"""A board profiling session (`edgefmr profile`): run inputs on the board and on the reference interpreter, count the
bit-exact agreements, measure latency per inference and per layer, stack high-water mark and arena, compare with a
float original when one is given, and, when asked (write_calibration), fit the profile into the board's
calibration table (edgefmr.profiling.calibration)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.boards import load_board
from edgefmr.device.connection import artifact_manifest, board_session, target_graph
from edgefmr.device.protocol import Counter
from edgefmr.errors import EdgefmrError
from edgefmr.ir import Graph
from edgefmr.ir import run as run_graph
from edgefmr.ir.graph import np_dtype
from edgefmr.ir.model_io import as_records
from edgefmr.ops.quantize import affine_quantize
from edgefmr.profiling.calibration import layer_equations, make_table, node_work, save_calibration
from edgefmr.profiling.validate import reference_run

REPORT_FORMAT = "edgefmr-profile"
REPORT_VERSION = 1
DEFAULT_COUNT = 100


# ------------------------------------------------------------------------------------------------ inputs

def _prepare(t: Any, x: np.ndarray, where: str) -> np.ndarray:
    """x as records [N, *t.shape] of the tensor's integer dtype (float32 quantized with its scale/zero point)."""

    x = as_records(t, x, where)
    if x.dtype in (np.float32, np.float64):
        if t.quant is None:
            raise EdgefmrError(f"{where}: float input, but model input {t.name!r} has no quantization to apply")

        return np.stack([affine_quantize(xi.astype(np.float32), t.scale, t.zero_point, t.dtype) for xi in x])
    if x.dtype != np_dtype(t.dtype):
        raise EdgefmrError(f"{where}: dtype {x.dtype}; the model input {t.name!r} is {t.dtype} (or float32 to be "
                           f"quantized)")
    return x


def load_inputs(g: Graph, path: str | None, count: int = DEFAULT_COUNT, seed: int = 0
                ) -> tuple[list[list[np.ndarray]], str]:
    """Input records for graph g and a description of where they came from.

    path None: `count` random inputs over each input's integer range (seeded). `.npy`: one array [N, ...] for a
    single-input model (float32 is quantized with the input's scale and zero point). `.npz`: one array per graph
    input, by tensor name, or `x` (a task file), or arr_0, arr_1, … in input order."""

    ts = [g.tensor(n) for n in g.inputs]
    if path is None:
        rng = np.random.default_rng(seed)
        arrays = []
        for t in ts:
            dt = np_dtype(t.dtype)
            info = np.iinfo(dt)
            arrays.append(rng.integers(info.min, info.max + 1, (count, *t.shape), dtype=dt))
        return [list(rec) for rec in zip(*arrays, strict=True)], f"{count} random inputs (seed {seed})"
    p = Path(path)
    if not p.is_file():
        raise EdgefmrError(f"{path}: input file not found")
    try:
        data = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise EdgefmrError(f"{path}: cannot read as .npy/.npz ({e or type(e).__name__})") from None
    if isinstance(data, np.ndarray):
        if len(ts) != 1:
            raise EdgefmrError(f"{path}: a .npy holds one array; the model has {len(ts)} inputs: use an .npz with "
                               f"arrays named {', '.join(g.inputs)}")
        arrays = [_prepare(ts[0], data, path)]
    else:
        keys = list(data.keys())
        arrays = []
        for i, t in enumerate(ts):
            key = t.name if t.name in keys else ("x" if len(ts) == 1 and "x" in keys else f"arr_{i}")
            if key not in keys:
                raise EdgefmrError(f"{path}: no array for model input {t.name!r} (arrays: {', '.join(keys)}; use the "
                                   f"input's name, 'x' for a single input, or arr_{i})")
            arrays.append(_prepare(t, data[key], f"{path}[{key}]"))
        if len({len(a) for a in arrays}) != 1:
            raise EdgefmrError(f"{path}: the arrays hold different numbers of inputs: {[len(a) for a in arrays]}")
    return [list(rec) for rec in zip(*arrays, strict=True)], f"{len(arrays[0])} inputs from {path}"


# ------------------------------------------------------------------------------------------------ float original

def _float_outputs(g: Graph, ckpt: str, records: list[list[np.ndarray]]) -> np.ndarray:
    """Outputs of the float model (an edgefmr .pt checkpoint, a float .tflite or an .onnx) on the dequantized inputs
    (single-input models), shape [N, ...]."""
    if Path(ckpt).suffix in (".tflite", ".onnx"):
        if len(g.inputs) != 1:
            raise EdgefmrError("--float-model compares single-input models")
        t = g.tensor(g.inputs[0])
        x = np.stack([rec[0] for rec in records]).astype(np.float32)
        if t.quant is not None:
            x = ((x - np.float32(t.zero_point)) * np.float32(t.scale)).astype(np.float32)
        rows, outs = reference_run(ckpt, x, g)
        return np.stack([row[outs[0]] for row in rows]).astype(np.float64)
    import torch

    from edgefmr.nas.train import load_checkpoint

    if len(g.inputs) != 1:
        raise EdgefmrError("--float-model compares single-input models")
    model, info = load_checkpoint(ckpt)
    t = g.tensor(g.inputs[0])
    x = np.stack([rec[0] for rec in records]).astype(np.float32)
    if t.quant is not None:
        x = (x - np.float32(t.zero_point)) * np.float32(t.scale)
    ir = tuple(t.shape[1:]) if len(t.shape) > 1 and t.shape[0] == 1 else tuple(t.shape)
    want = tuple(int(s) for s in info["input_shape"])
    x = x.reshape(len(x), *ir)
    if ir != want:
        if len(ir) == 3 and (ir[2], ir[0], ir[1]) == want:
            x = x.transpose(0, 3, 1, 2)          # NHWC (IR) -> NCHW (PyTorch)
        elif int(np.prod(ir)) == int(np.prod(want)):
            x = x.reshape(len(x), *want)
        else:
            raise EdgefmrError(f"{ckpt}: the float model takes inputs {list(want)}, the quantized model {list(ir)}")
    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x)))
    return y.numpy().astype(np.float64)


def _compare_float(yq: np.ndarray, yf: np.ndarray) -> dict[str, float]:
    yq = yq.reshape(len(yq), -1).astype(np.float64)
    yf = yf.reshape(len(yf), -1).astype(np.float64)
    if yq.shape != yf.shape:
        raise EdgefmrError(f"the float model's outputs {list(yf.shape[1:])} do not match the quantized model's "
                           f"{list(yq.shape[1:])}")
    nf = np.linalg.norm(yf, axis=1)
    nq = np.linalg.norm(yq, axis=1)
    l2r = np.linalg.norm(yq - yf, axis=1) / np.maximum(nf, 1e-30)
    cos = (yq * yf).sum(axis=1) / np.maximum(nq * nf, 1e-30)
    return {"l2r_mean": float(l2r.mean()), "l2r_max": float(l2r.max()), "cosine_mean": float(cos.mean()),
            "cosine_min": float(cos.min()), "top1_agreement": float((yq.argmax(1) == yf.argmax(1)).mean())}


def _accuracy(path: str, board_outputs: list[list[np.ndarray]]) -> dict[str, Any]:
    """Top-1 accuracy of the board's first output against labels .npy [N] (integer classes)."""
    try:
        y = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise EdgefmrError(f"{path}: cannot read as .npy ({e})") from None
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise EdgefmrError(f"{path}: labels must be integer classes [N], got {y.dtype}{list(y.shape)}")
    if len(y) < len(board_outputs):
        raise EdgefmrError(f"{path}: {len(y)} labels for {len(board_outputs)} inputs")
    pred = np.array([o[0].reshape(-1).argmax() for o in board_outputs])
    correct = int((pred == y[: len(pred)]).sum())
    return {"labels": str(path), "correct": correct, "total": len(pred), "accuracy": correct / max(1, len(pred))}


# ------------------------------------------------------------------------------------------------ session

def profile_artifact(artifact: str | Path, board: str | None = None, *, port: str | None = None,
                     inputs: str | None = None, count: int = DEFAULT_COUNT, runs: int = 10,
                     float_model: str | None = None, write_calibration: bool = False, timeout: float = 2.0,
                     labels: str | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     wrap: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Profile a protocol-firmware artifact on its board (QEMU started here, or a real board on `port`).

    Every input is loaded, run once with per-layer timing and its outputs read back and compared with the reference
    interpreter; then `runs` inferences of the first input are timed as a whole (no per-layer timing). `wrap` may
    wrap the link (fault injection). Returns the report (see docs/calibration.md, "Profile report")."""

    t0 = time.monotonic()
    if runs < 0:
        raise EdgefmrError(f"--runs must be >= 0, got {runs}")
    art, manifest = artifact_manifest(artifact, board)
    b = load_board(str(manifest["board"]))
    g = target_graph(art)
    records, source = load_inputs(g, inputs, count)
    if not records:
        raise EdgefmrError(f"{inputs}: no inputs")
    refs = [[run_graph(g, rec)[o] for o in g.outputs] for rec in records]
    outs_meta = [(g.tensor(o).shape, np_dtype(g.tensor(o).dtype)) for o in g.outputs]
    arm = manifest.get("arm_kernels")
    work = node_work(g, None if arm is None else frozenset(arm))  # keyed by the kernel paths this build runs

    per_input: list[int] = []
    layer_counts: list[list[float]] = []
    board_outputs: list[list[np.ndarray]] = []
    mismatched: list[int] = []
    max_diff = 0
    with board_session(art, manifest, port, timeout=timeout, wrap=wrap) as dev:
        info = dev.info()
        want = manifest.get("model_hash")
        if want and info.model_hash != want:
            raise EdgefmrError(f"board {b.name} runs model {info.model_hash[:16]}…, the artifact is {str(want)[:16]}…: "
                               f"flash the artifact first (edgefmr flash {art})")
        layers = dev.layers()
        dev.stack(repaint=True)
        for k, rec in enumerate(records):
            for i, x in enumerate(rec):
                dev.load_input(x, i)
            r = dev.run(1, profile=True)
            per_input.append(int(r.total))
            layer_counts.append([lp.count for lp in dev.profile().layers])
            got = [np.frombuffer(dev.read_output(o), dt).reshape(shape).copy()
                   for o, (shape, dt) in enumerate(outs_meta)]
            board_outputs.append(got)
            if not all(np.array_equal(a, w) for a, w in zip(got, refs[k], strict=True)):
                mismatched.append(k)
                max_diff = max(max_diff, max(int(np.abs(a.astype(np.int64) - w.astype(np.int64)).max())
                                             for a, w in zip(got, refs[k], strict=True)))
            if progress:
                progress(k + 1, len(records))
        whole = None
        if runs:
            for i, x in enumerate(records[0]):
                dev.load_input(x, i)
            rr = dev.run(runs)
            whole = {"runs": rr.runs, "mean": rr.total / rr.runs, "min": rr.min, "max": rr.max}
        stack = dev.stack()
        link = dev.stats

    counter = Counter(info.counter)
    timed = counter != Counter.NONE
    lc = np.array(layer_counts, dtype=np.float64)                     # [inputs, layers]
    mlayers = manifest.get("layers") or []
    nodes_of = [row.get("nodes", []) for row in mlayers] if len(mlayers) == len(layers) else [[] for _ in layers]
    known = len(mlayers) == len(layers)
    kernel_of = [row.get("kernel", "") for row in mlayers] if known else ["" for _ in layers]
    pairs = (("flash_bytes", "const_bytes"), ("activation_bytes", "activation_bytes"),
             ("scratch_bytes", "scratch_bytes"))
    bytes_of = [{k: row.get(src) for k, src in pairs} for row in mlayers] if known else [{} for _ in layers]
    # ms at the board clock: exact for cycle counters; for executed instructions (QEMU) at 1 instruction per cycle
    ms = (lambda c: c / info.core_clock_hz * 1e3) if counter != Counter.NONE and info.core_clock_hz else None
    macs_of = [sum(work[i][2] for i in nodes if work[i][1] == "mac") for nodes in nodes_of]
    total_macs = sum(w[2] for w in work if w[1] == "mac")
    mean_total = float(np.mean(per_input))
    layer_rows = []
    for li, lay in enumerate(layers):
        m = float(lc[:, li].mean()) if len(lc) else 0.0
        layer_rows.append({
            "index": li, "name": lay.name, "op": lay.op, "kernel": kernel_of[li], "nodes": nodes_of[li],
            "count_mean": m, "count_min": float(lc[:, li].min()), "count_max": float(lc[:, li].max()),
            "share": m / float(lc.mean(0).sum()) if timed and lc.sum() else 0.0,
            "macs": macs_of[li], "per_mac": m / macs_of[li] if timed and macs_of[li] else None,
            "ms": ms(m) if ms and timed else None, **bytes_of[li],
        })
    seconds = (lambda c: c / info.core_clock_hz) if counter in (Counter.DWT_CYCLES, Counter.SYSTICK_CYCLES) else None
    report: dict[str, Any] = {
        "format": REPORT_FORMAT, "version": REPORT_VERSION,
        "board": b.name, "artifact": str(art), "model": manifest.get("model"), "model_hash": info.model_hash,
        "firmware_version": info.firmware_version, "core": b.core, "core_clock_hz": info.core_clock_hz,
        "tricks": manifest.get("tricks"),
        "counter": {"kind": counter.name, "unit": counter.unit, "label": counter.label,
                    "quantum": info.counter_quantum},
        "inputs": {"count": len(records), "source": source},
        "agreement": {"bit_exact": len(records) - len(mismatched), "total": len(records),
                      "mismatched_inputs": mismatched[:20], "max_abs_diff": max_diff},
        "latency": {
            "unit": counter.unit, "what": "per inference, layer by layer (sum of the per-layer counts)",
            "mean": mean_total if timed else None, "min": min(per_input) if timed else None,
            "max": max(per_input) if timed else None,
            "seconds_mean": seconds(mean_total) if seconds and timed else None,
            "whole_run": whole if timed else None,
            "ms_mean": ms(mean_total) if ms and timed else None,
            "ms_basis": (None if not (ms and timed) else
                         f"{counter.unit} / {info.core_clock_hz / 1e6:g} MHz board clock" +
                         (" (1 executed instruction taken as 1 cycle: QEMU does not model cycles)"
                          if counter.unit == "instructions" else "")),
        },
        "layers": layer_rows,
        "macs": total_macs,
        "per_mac": mean_total / total_macs if timed and total_macs else None,
        "memory": {"arena_bytes": info.arena_bytes,
                   "arena_predicted": manifest.get("predicted", {}).get("arena_total"),
                   "stack_bytes": stack.stack_bytes, "stack_used": stack.used_bytes,
                   "stack_predicted": manifest.get("predicted", {}).get("stack")},
        "link": link,
    }
    if float_model:
        yf = _float_outputs(g, float_model, records)
        t = g.tensor(g.outputs[0])
        yq = np.stack([o[0] for o in board_outputs]).astype(np.float64)
        if t.quant is not None:
            yq = (yq - t.zero_point) * t.scale
        report["float"] = {"model": str(float_model), **_compare_float(yq, yf)}
    if labels is not None:
        report["accuracy"] = _accuracy(labels, board_outputs)
    if timed and write_calibration:
        rows = [{"count": r["count_mean"], "nodes": r["nodes"]} for r in layer_rows if r["nodes"]]
        if rows:
            src = {"model_hash": info.model_hash, "artifact": str(art), "model": manifest.get("model"),
                   "tricks": manifest.get("tricks"), "inputs": len(records),
                   "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "counter": counter.name}
            table = make_table(b, counter.unit, layer_equations(rows, work), src)
            path = save_calibration(table)
            import json

            report["calibration"] = json.loads(path.read_text())
            report["calibration_path"] = str(path)
    report["seconds"] = round(time.monotonic() - t0, 3)
    return report
