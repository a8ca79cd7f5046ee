"""`edgefmr validate`: the integer model against a float reference, layer by layer (like ST's `stedgeai validate`).

The reference is the float model the user has: a float ``.tflite`` (run on LiteRT with every tensor kept), an
``.onnx`` (run on onnxruntime with every node output made a graph output) or an edgefmr ``.pt`` checkpoint (its
family's float program, the one the quantizer lowered, with every activation recorded by key). The integer model
runs on the reference interpreter, or on a board (each layer's output read back over the serial protocol).

A tensor of the integer model is *mapped* to a reference tensor of the same name; else (converters rename fused
ops: "ln/mul_1;attn/q/Tensordot;attn/q/BiasAdd1" vs "attn/q/Tensordot;attn/q/BiasAdd") to the reference tensor of
the same element count sharing the most ';'-separated name parts (trailing digits ignored), when that one is unique.
The metrics (docs/validate.md) compare the dequantized integer values q with the float values f over all inputs:
cosine similarity, l2r = ||q - f|| / ||f|| (relative L2 error), max |q - f| and top-1 agreement (argmax over the
last axis, per row).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ir import Graph
from edgefmr.ir import run as run_graph
from edgefmr.ir.graph import np_dtype
from edgefmr.ir.model_io import as_records
from edgefmr.ops.quantize import affine_quantize

REFERENCE_KINDS = (".tflite", ".onnx", ".pt")


# ------------------------------------------------------------------------------------------------ references

def _float_inputs(g: Graph, x: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(float inputs [N, *shape], integer inputs [N, *shape]) of the model's single input from x.npy."""
    if len(g.inputs) != 1:
        raise EdgefmrError(f"validate compares single-input models; the model has {len(g.inputs)} inputs")
    t = g.tensor(g.inputs[0])
    shape = tuple(t.shape)
    if x.ndim == len(shape) - 1 and shape[0] == 1 and x.shape == shape[1:]:
        x = x[None]  # one input without its batch dimension
    x = as_records(t, x, where)
    if t.quant is None:
        raise EdgefmrError(f"{where}: the model input {t.name!r} has no quantization, so there is no float input")
    if np.issubdtype(x.dtype, np.floating):
        xf = x.astype(np.float32)
        xq = np.stack([affine_quantize(xi, t.scale, t.zero_point, t.dtype) for xi in xf])
    elif x.dtype == np_dtype(t.dtype):
        xq = x
        xf = ((x.astype(np.float32) - np.float32(t.zero_point)) * np.float32(t.scale)).astype(np.float32)
    else:
        raise EdgefmrError(f"{where}: dtype {x.dtype}; the model input is {t.dtype} (or float to be quantized)")
    return xf, xq


def _fit(x: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    """One float input reshaped (or NHWC -> NCHW transposed) to a reference input's shape."""
    shape = tuple(int(d) for d in shape)
    if x.shape == shape:
        return x
    if x.ndim == 4 and len(shape) == 4 and (x.shape[0], x.shape[3], x.shape[1], x.shape[2]) == shape:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if x.size == int(np.prod(shape)):
        return x.reshape(shape)
    raise EdgefmrError(f"{where}: the reference takes inputs {list(shape)}, the integer model {list(x.shape)}")


#: A reference run: per input, every tensor by name (float64, dequantized when the reference is quantized), and the
#: names of the reference's outputs in order.
Reference = tuple[list[dict[str, np.ndarray]], list[str]]


def tflite_reference(path: str, xf: np.ndarray) -> Reference:
    """Every op output of a float .tflite on LiteRT (BUILTIN_REF kernels) per input, by tensor name."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        it = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                         experimental_preserve_all_tensors=True)
        it.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise EdgefmrError(f"{path}: LiteRT cannot load it ({e})") from None
    inp = it.get_input_details()
    if len(inp) != 1:
        raise EdgefmrError(f"{path}: the reference has {len(inp)} inputs; validate compares single-input models")
    d = inp[0]
    outs = sorted({i for op in it._get_ops_details() for i in op["outputs"] if i >= 0})
    details = {t["index"]: t for t in it.get_tensor_details()}
    res = []
    for x in xf:
        xi = _fit(x[None] if tuple(d["shape"])[0] == 1 and x.shape != tuple(d["shape"]) else x, tuple(d["shape"]),
                  path)
        if d["dtype"] != np.float32:
            s, z = d["quantization"]
            xi = affine_quantize(xi, s, z, np.dtype(d["dtype"]).name)
        it.set_tensor(d["index"], xi.astype(d["dtype"]))
        it.invoke()
        row = {}
        for i in outs:
            v = it.get_tensor(i)
            s, z = details[i]["quantization"]
            row[details[i]["name"]] = ((v.astype(np.float64) - z) * s if s and v.dtype != np.float32
                                       else v.astype(np.float64))
        res.append(row)
    return res, [o["name"] for o in it.get_output_details()]


def onnx_reference(path: str, xf: np.ndarray) -> Reference:
    """Every node output of an .onnx on onnxruntime (CPU) per input, by tensor name."""
    import onnx
    import onnxruntime as ort

    try:
        m = onnx.load(path)
        m = onnx.shape_inference.infer_shapes(m)
    except Exception as e:  # onnx raises many types for foreign files
        raise EdgefmrError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    have = {o.name for o in m.graph.output}
    typed = {v.name: v for v in m.graph.value_info}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have and o in typed:
                m.graph.output.append(typed[o])
                have.add(o)
    try:
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise EdgefmrError(f"{path}: onnxruntime cannot load it ({type(e).__name__}: {e})") from None
    (inp,) = sess.get_inputs() if len(sess.get_inputs()) == 1 else (None,)
    if inp is None:
        raise EdgefmrError(f"{path}: validate compares single-input models")
    shape = tuple(int(d) if isinstance(d, int) else 1 for d in inp.shape)
    names = [o.name for o in sess.get_outputs()]
    res = []
    for x in xf:
        ys = sess.run(names, {inp.name: _fit(x, shape, path).astype(np.float32)})
        res.append({n: np.asarray(y, np.float64) for n, y in zip(names, ys, strict=True) if np.asarray(y).size})
    return res, [o.name for o in onnx.load(path).graph.output]


def pt_reference(path: str, xf: np.ndarray, g: Graph) -> Reference:
    """Every activation of an edgefmr checkpoint's float program (the function the quantizer lowered) per input,
    by the IR tensor names the lowering gives them (a key, then key_1, key_2, ... when it repeats)."""
    import torch

    from edgefmr.nas.train import load_checkpoint
    from edgefmr.quant.lowering import FLOAT, Lowering
    from edgefmr.quant.quantizer import QuantOptions, program_of

    model, info = load_checkpoint(path)
    program = program_of(info["family"])
    opts = QuantOptions(binarize=tuple(g.metadata.get("binarized") or ())).program_options()

    class _Record(Lowering):
        def __init__(self) -> None:
            super().__init__(FLOAT, binarize=opts.get("binarize", ()))
            self.seen: dict[str, np.ndarray] = {}

        def observe(self, key: str, f: torch.Tensor) -> None:
            name, i = key, 1
            while name in self.seen:
                name, i = f"{key}_{i}", i + 1
            self.seen[name] = f.detach().cpu().numpy().astype(np.float64)

    want = tuple(int(s) for s in info["input_shape"])
    res = []
    model.eval()
    with torch.no_grad():
        for x in xf:
            ctx = _Record()
            out = program(ctx, model, torch.from_numpy(_fit(x, (1, *want), path).astype(np.float32)), opts)
            row = {k: v[0] if v.shape[:1] == (1,) else v for k, v in ctx.seen.items()}
            row[g.outputs[0]] = out.f.detach().cpu().numpy().astype(np.float64)[0]
            res.append(row)
    return res, [g.outputs[0]]


def reference_run(path: str, xf: np.ndarray, g: Graph) -> Reference:
    """Run the float reference `path` (.tflite, .onnx or edgefmr .pt) on float inputs xf [N, ...]."""
    suffix = Path(path).suffix
    if suffix not in REFERENCE_KINDS:
        raise EdgefmrError(f"{path}: unknown reference format {suffix!r}; use a float .tflite, an .onnx or an "
                           f"edgefmr .pt checkpoint")
    if not Path(path).is_file():
        raise EdgefmrError(f"{path}: reference model not found")
    if suffix == ".tflite":
        return tflite_reference(path, xf)
    return onnx_reference(path, xf) if suffix == ".onnx" else pt_reference(path, xf, g)


# ------------------------------------------------------------------------------------------------ integer side

def _dequant(g: Graph, name: str, v: np.ndarray) -> np.ndarray:
    t = g.tensor(name)
    if t.quant is None:
        return v.astype(np.float64)
    return (v.astype(np.float64) - float(t.zero_point)) * float(t.scale)


def interpreter_tensors(g: Graph, xq: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Every node output of the integer model on the reference interpreter, dequantized, per input."""
    outs = [t for n in g.nodes for t in n.outputs if t]
    res = []
    for x in xq:
        env = run_graph(g, [x], keep_all=True)
        res.append({t: _dequant(g, t, env[t]) for t in outs if t in env})
    return res


def board_tensors(model: str, g: Graph, xq: np.ndarray, board: str, port: str | None = None,
                  progress: Callable[[int, int], None] | None = None) -> list[dict[str, np.ndarray]]:
    """Each layer's output as the board computes it (protocol firmware built here unless `model` is an artifact
    folder; a QEMU board is started here), dequantized, per input: layer l is run alone up to l and read back."""
    from edgefmr.device.connection import artifact_manifest, board_session
    from edgefmr.firmware.build import build, run_host

    with tempfile.TemporaryDirectory(prefix="edgefmr-validate-") as tmp:
        art = Path(model)
        if board == "host":  # the native C build: every layer's output from one run per input
            if not art.is_dir():
                build(model, None, tmp)
                art = Path(tmp)
            manifest = json.loads((art / "manifest.json").read_text()) if (art / "manifest.json").is_file() else {}
            if manifest.get("board") != "host":
                raise EdgefmrError(f"{art}: not a host build (edgefmr build MODEL --board host)")
            rows = [r for r in manifest["layers"] if r["output"] in g.tensors]
            if len(rows) != len(manifest["layers"]):
                raise EdgefmrError(f"{art}: its layers write tensors the model does not name; validate MODEL itself")
            outs = run_host(art, g, [[x] for x in xq], layers=True, manifest=manifest)
            if progress:
                progress(len(xq), len(xq))
            return [{r["output"]: _dequant(g, r["output"], v) for r, v in zip(rows, rec, strict=True)} for rec in outs]
        if not art.is_dir():
            build(model, board, tmp)
            art = Path(tmp)
        art, manifest = artifact_manifest(art, board)
        rows = manifest["layers"]
        res = []
        with board_session(art, manifest, port) as dev:
            for k, x in enumerate(xq):
                row = {}
                for li, lay in enumerate(rows):
                    name = lay["output"]
                    if name not in g.tensors or not lay.get("output_bytes"):
                        continue
                    dev.load_input(x, 0)
                    dev.run(1, last_layer=li)
                    t = g.tensor(name)
                    raw = np.frombuffer(dev.read_tensor(li), np_dtype(t.dtype)).reshape(t.shape)
                    row[name] = _dequant(g, name, raw)
                dev.load_input(x, 0)
                dev.run(1)
                for o, name in enumerate(g.outputs):
                    t = g.tensor(name)
                    row[name] = _dequant(g, name, np.frombuffer(dev.read_output(o), np_dtype(t.dtype)).reshape(
                        t.shape))
                res.append(row)
                if progress:
                    progress(k + 1, len(xq))
    return res


# ------------------------------------------------------------------------------------------------ mapping

def _parts(name: str) -> set[str]:
    return {re.sub(r"\d+$", "", p) for p in name.split(";") if p}


def map_tensors(ours: dict[str, tuple[int, ...]], ref: dict[str, tuple[int, ...]]) -> dict[str, str]:
    """Integer tensor name -> reference tensor name (see the module docstring)."""
    out = {n: n for n in ours if n in ref and int(np.prod(ours[n])) == int(np.prod(ref[n]))}
    used = set(out.values())
    for n, shape in ours.items():
        if n in out:
            continue
        size = int(np.prod(shape))
        pn = _parts(n)
        scored = sorted(((len(pn & _parts(r)), r) for r, s in ref.items()
                         if r not in used and int(np.prod(s)) == size), reverse=True)
        if scored and scored[0][0] > 0 and (len(scored) == 1 or scored[1][0] < scored[0][0]):
            out[n] = scored[0][1]
            used.add(scored[0][1])
    return out


def _align(q: np.ndarray, f: np.ndarray) -> np.ndarray:
    """f in q's layout: same shape, or NCHW -> NHWC, or the same elements reshaped."""
    if f.shape == q.shape:
        return f
    fs = f.reshape(f.shape[1:]) if f.ndim == q.ndim + 1 and f.shape[0] == 1 else f
    if fs.shape == q.shape:
        return fs
    if fs.ndim == q.ndim and fs.ndim >= 3:
        perm = (0, *range(2, fs.ndim), 1) if fs.ndim == 4 else (*range(1, fs.ndim), 0)
        if tuple(fs.shape[i] for i in perm) == q.shape:
            return fs.transpose(perm)
    return f.reshape(q.shape)


def metrics(q: list[np.ndarray], f: list[np.ndarray]) -> dict[str, float]:
    """cosine, l2r, max_abs_error and top1_agreement of integer (dequantized) values q vs float values f."""
    qa = np.concatenate([a.reshape(-1) for a in q])
    fa = np.concatenate([_align(a, b).reshape(-1) for a, b in zip(q, f, strict=True)])
    nq, nf = float(np.linalg.norm(qa)), float(np.linalg.norm(fa))
    cos = float(qa @ fa / (nq * nf)) if nq > 0 and nf > 0 else float(nq == nf)
    l2r = float(np.linalg.norm(qa - fa) / nf) if nf > 0 else float(np.linalg.norm(qa - fa) > 0)
    last = q[0].shape[-1] if q[0].ndim else 1
    rq = qa.reshape(-1, last)
    rf = fa.reshape(-1, last)
    top1 = float((rq.argmax(1) == rf.argmax(1)).mean()) if last > 1 else None
    return {"cosine": cos, "l2r": l2r, "max_abs_error": float(np.abs(qa - fa).max()) if qa.size else 0.0,
            "top1_agreement": top1}


def validate(model: str, reference: str, x: np.ndarray, *, board: str | None = None, port: str | None = None,
             where: str = "x.npy", progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The validation report: per mapped tensor (in execution order) and at the outputs; see the module docstring."""
    from edgefmr.device.connection import target_graph

    g = target_graph(model)
    xf, xq = _float_inputs(g, x, where)
    refs, ref_outputs = reference_run(reference, xf, g)
    ours = (board_tensors(model, g, xq, board, port, progress) if board and board != "interpreter"
            else interpreter_tensors(g, xq))
    shapes = {n: v.shape for n, v in ours[0].items()}
    rshapes = {n: v.shape for n, v in refs[0].items()}
    mapping = map_tensors(shapes, rshapes)
    # the outputs map to the reference's outputs, in order, when their names differ
    for o, r in zip(g.outputs, ref_outputs, strict=False):
        if o in shapes and r in rshapes and int(np.prod(shapes[o])) == int(np.prod(rshapes[r])):
            mapping[o] = r
    op_of = {t: n.op for n in g.nodes for t in n.outputs}
    rows, unmapped = [], []
    for n in g.nodes:
        for t in n.outputs:
            if not t or t not in shapes:
                continue
            if t not in mapping:
                unmapped.append(t)
                continue
            m = metrics([o[t] for o in ours], [r[mapping[t]] for r in refs])
            rows.append({"tensor": t, "op": op_of[t], "reference": mapping[t], "shape": list(shapes[t]),
                         "output": t in g.outputs, **m})
    return {"model": model, "reference": reference, "backend": board or "interpreter", "inputs": len(xq),
            "tensors": rows, "outputs": [r for r in rows if r["output"]], "unmapped": unmapped,
            "mapped": len(rows), "compared": len(rows) + len(unmapped)}
