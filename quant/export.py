"""Export: the float model to ONNX, the integer model to ONNX QDQ (where its ops map) and to ``.tflite`` (where it is
made only of TFLite builtins), each checked by running it (onnxruntime, LiteRT) against the reference.

* Float ONNX: the float program (``edgefmr.quant.lowering`` in float mode: the PyTorch model, with LIF as plain
  tensor ops and the LMU memory as its recurrence, so it traces) through ``torch.onnx.export``, batch 1 (the
  program's shapes are static); checked against the float program with onnxruntime (max |logit difference|, equal
  predictions).
* ONNX QDQ: every int8 tensor of the IR stays an int8 tensor; each op reads its inputs through DequantizeLinear
  (weights int8 per channel, biases int32), computes in float and writes through QuantizeLinear with the IR
  tensor's quantization; data movement (Reshape, Transpose, Slice, Concat) runs on int8 and LUT is an exact
  int8 Gather. The model takes float input and returns the int8 logits. The check runs onnxruntime at its basic
  graph optimizations (the graph as written: float math between QuantizeLinear nodes) and at all optimizations
  (where it fuses QDQ patterns into its own integer kernels, which round their own way) and reports each one's
  agreement with the IR interpreter (exact samples, max difference in LSBs, equal predictions). Ops without an ONNX
  form (HASH_ATTENTION, LIF, LMU_UPDATE) make the export an error that names them.
* ``.tflite``: ``edgefmr.tflite.to_tflite`` (a ViT lowered with ``layernorm="decomposed"`` and ReLU is made of
  builtins); checked with LiteRT's reference kernels, which must equal the interpreter bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgefmr.errors import EdgefmrError
from edgefmr.ir import Graph, run
from edgefmr.ops.binary_fully_connected import unpack_bits
from edgefmr.ops.quantize import affine_quantize
from edgefmr.quant.lowering import FLOAT, Lowering
from edgefmr.tflite import to_tflite
from edgefmr.tflite.litert import litert_interpreter

OPSET = 17
#: Name of the float input of the QDQ model (quantized to the IR's int8 input tensor).
FLOAT_INPUT = "input_float"
#: IR ops with an ONNX (QDQ) form.
QDQ_OPS = ("FULLY_CONNECTED", "SPIKE_FULLY_CONNECTED", "BINARY_FULLY_CONNECTED", "CONV_2D", "ADD", "SUB", "MUL",
           "SQUARED_DIFFERENCE", "MEAN", "RSQRT", "RESHAPE", "TRANSPOSE", "STRIDED_SLICE", "CONCATENATION",
           "BATCH_MATMUL", "SOFTMAX", "CLIPPED_SOFTMAX", "ATTENTION_GATE", "LAYER_NORM", "LUT")


def _need_onnx() -> Any:
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError:
        raise EdgefmrError("ONNX export needs the onnx and onnxruntime packages (pip install onnx onnxruntime)"
                           ) from None
    return onnx


class FloatProgram(nn.Module):
    """The float program of a quantized model as a module: ``forward(x) -> logits``."""

    def __init__(self, qm: Any) -> None:
        super().__init__()
        self.qm = qm
        self.model = qm.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:

        ctx = Lowering(FLOAT, binarize=self.qm.options.binarize, record=False)
        return self.qm.program(ctx, self.model, x, self.qm.options.program_options()).f


def export_float_onnx(qm: Any, path: str | Path, x_check: np.ndarray) -> dict[str, Any]:
    """Write the float model as ONNX and compare onnxruntime with the float program on ``x_check``."""
    _need_onnx()
    import warnings

    import onnxruntime as ort

    wrapper = FloatProgram(qm).eval()
    x0 = torch.zeros(1, *qm.input_shape)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (x0,), str(path), input_names=["input"], output_names=["logits"],
                          opset_version=OPSET, dynamo=False)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = np.asarray(x_check, np.float32)
    got = np.concatenate([sess.run(None, {"input": xi[None]})[0] for xi in xs])
    ref = qm.float_logits(xs).numpy()
    return {"path": str(path), "check": "onnxruntime vs the float model", "samples": len(xs),
            "max_abs_diff": float(np.abs(got - ref).max()),
            "prediction_agreement": float((got.argmax(-1) == ref.argmax(-1)).mean())}


class _QDQ:
    """IR graph -> ONNX QDQ graph."""

    def __init__(self, g: Graph) -> None:
        from onnx import helper

        self.g, self.h = g, helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._deq: dict[str, str] = {}
        self._n = 0

    def uid(self, base: str) -> str:
        self._n += 1
        return f"{base}__{self._n}"

    def init(self, name: str, arr: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(self, op: str, inputs: list[str], out: str | None = None, **attrs: Any) -> str:
        out = out or self.uid(op)
        self.nodes.append(self.h.make_node(op, inputs, [out], **attrs))
        return out

    def deq(self, name: str) -> str:
        """The float form of an IR tensor (DequantizeLinear; constants become int8/int32 initializers)."""
        if name in self._deq:
            return self._deq[name]
        t = self.g.tensors[name]
        src = name
        if t.is_const:
            src = self.init(self.uid(name), t.data)
        if t.quant is None:
            out = self.node("Cast", [src], self.uid(f"{name}_f"), to=1)
        else:
            zdt = np.int32 if t.dtype == "int32" else np.dtype(t.dtype).type
            s = self.init(self.uid(f"{name}_scale"), np.asarray(t.quant.scale, np.float32).reshape(-1)
                          if t.quant.per_axis else np.float32(t.quant.scale[0]))
            z = self.init(self.uid(f"{name}_zp"), np.asarray(t.quant.zero_point, zdt).reshape(-1)
                          if t.quant.per_axis else zdt(t.quant.zero_point[0]))
            attrs = {"axis": t.quant.axis} if t.quant.per_axis else {}
            out = self.node("DequantizeLinear", [src, s, z], self.uid(f"{name}_f"), **attrs)
        self._deq[name] = out
        return out

    def quant(self, f: str, name: str) -> None:
        t = self.g.tensors[name]
        s = self.init(self.uid(f"{name}_scale"), np.float32(t.scale))
        z = self.init(self.uid(f"{name}_zp"), np.int8(t.zero_point))
        self.node("QuantizeLinear", [f, s, z], name)

    def act(self, f: str, activation: str) -> str:
        if activation == "RELU":
            return self.node("Relu", [f])
        if activation == "RELU6":
            return self.node("Clip", [f, self.init(self.uid("zero"), np.float32(0)),
                                      self.init(self.uid("six"), np.float32(6))])
        if activation == "NONE":
            return f
        raise EdgefmrError(f"ONNX QDQ export: fused activation {activation} is not mapped")

    def i64(self, values: Any) -> str:
        return self.init(self.uid("shape"), np.asarray(values, np.int64))

    def convert(self) -> Any:
        from onnx import TensorProto

        g, h = self.g, self.h
        missing = sorted({n.op for n in g.nodes if n.op not in QDQ_OPS})
        if missing:
            raise EdgefmrError(f"cannot export to ONNX QDQ: ops without an ONNX form: {', '.join(missing)}")
        (xin,) = g.inputs
        tin = g.tensors[xin]
        self.quant(FLOAT_INPUT, xin)
        for node in g.nodes:
            getattr(self, f"op_{node.op.lower()}")(node)
        inputs = [h.make_tensor_value_info(FLOAT_INPUT, TensorProto.FLOAT, list(tin.shape))]
        outputs = [h.make_tensor_value_info(o, TensorProto.INT8, list(g.tensors[o].shape)) for o in g.outputs]
        graph = h.make_graph(self.nodes, g.metadata.get("name", "edgefmr"), inputs, outputs, self.inits)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], producer_name="edgefmr")
        model.ir_version = 8
        return model

    # ------------------------------------------------------------------------------------------------- ops
    def weight(self, name: str, data: np.ndarray, scales: Any, perm: list[int] | None = None,
               axis: int = 0) -> str:
        """DequantizeLinear of a constant int8 weight, its data permuted by ``perm`` (per-channel scales on the
        output-channel axis, which lands at ``axis``)."""
        arr = np.ascontiguousarray(np.transpose(data, perm) if perm else data)
        src = self.init(self.uid(name), arr)
        sc = np.asarray(scales, np.float32).reshape(-1)
        s = self.init(self.uid(f"{name}_scale"), sc if len(sc) > 1 else sc[0])
        z = self.init(self.uid(f"{name}_zp"), np.zeros(len(sc), np.int8) if len(sc) > 1 else np.int8(0))
        return self.node("DequantizeLinear", [src, s, z], **({"axis": axis} if len(sc) > 1 else {}))

    def _fc(self, node: Any, w: str) -> None:
        x, _, b = (*node.inputs, "")[:3]
        y = self.node("MatMul", [self.deq(x), w])
        if b:
            y = self.node("Add", [y, self.deq(b)])
        self.quant(self.act(y, node.attrs.get("activation", "NONE")), node.outputs[0])

    def op_fully_connected(self, node: Any) -> None:
        if not node.attrs.get("keep_num_dims", False):
            raise EdgefmrError("ONNX QDQ export: FULLY_CONNECTED without keep_num_dims is not mapped")
        self._fc_int8(node)

    def _fc_int8(self, node: Any) -> None:
        t = self.g.tensors[node.inputs[1]]
        self._fc(node, self.weight(node.inputs[1], t.data, t.quant.scale, [1, 0], axis=1))

    def op_spike_fully_connected(self, node: Any) -> None:
        self._fc_int8(node)

    def op_binary_fully_connected(self, node: Any) -> None:

        t = self.g.tensors[node.inputs[1]]
        n_in = self.g.tensors[node.inputs[0]].shape[-1]
        signs = (2 * unpack_bits(t.data, n_in) - 1).astype(np.int8)
        self._fc(node, self.weight(node.inputs[1], signs, t.quant.scale, [1, 0], axis=1))

    def op_conv_2d(self, node: Any) -> None:
        x, w, b = node.inputs
        wt = self.g.tensors[w]
        kh, kw = wt.shape[1], wt.shape[2]
        pads = [kh // 2, kw // 2, kh // 2, kw // 2] if node.attrs.get("padding") == "SAME" else [0, 0, 0, 0]
        if node.attrs.get("padding") == "SAME" and (kh % 2 == 0 or kw % 2 == 0):
            raise EdgefmrError("ONNX QDQ export: SAME padding with an even kernel is not mapped")
        wf = self.weight(w, wt.data, wt.quant.scale, [0, 3, 1, 2], axis=0)
        xf = self.node("Transpose", [self.deq(x)], perm=[0, 3, 1, 2])
        y = self.node("Conv", [xf, wf, self.deq(b)], pads=pads,
                      strides=[node.attrs.get("stride_h", 1), node.attrs.get("stride_w", 1)])
        y = self.node("Transpose", [y], perm=[0, 2, 3, 1])
        self.quant(self.act(y, node.attrs.get("activation", "NONE")), node.outputs[0])

    def _binary(self, node: Any, op: str) -> None:
        y = self.node(op, [self.deq(node.inputs[0]), self.deq(node.inputs[1])])
        self.quant(self.act(y, node.attrs.get("activation", "NONE")), node.outputs[0])

    def op_add(self, node: Any) -> None:
        self._binary(node, "Add")

    def op_sub(self, node: Any) -> None:
        self._binary(node, "Sub")

    def op_mul(self, node: Any) -> None:
        self._binary(node, "Mul")

    def op_squared_difference(self, node: Any) -> None:
        d = self.node("Sub", [self.deq(node.inputs[0]), self.deq(node.inputs[1])])
        self.quant(self.node("Mul", [d, d]), node.outputs[0])

    def op_mean(self, node: Any) -> None:
        axes = [int(a) for a in np.atleast_1d(self.g.tensors[node.inputs[1]].data)]
        y = self.node("ReduceMean", [self.deq(node.inputs[0])], axes=axes,
                      keepdims=int(bool(node.attrs.get("keep_dims", False))))
        self.quant(y, node.outputs[0])

    def op_rsqrt(self, node: Any) -> None:
        self.quant(self.node("Reciprocal", [self.node("Sqrt", [self.deq(node.inputs[0])])]), node.outputs[0])

    def op_reshape(self, node: Any) -> None:
        shape = list(self.g.tensors[node.outputs[0]].shape)
        self.node("Reshape", [node.inputs[0], self.i64(shape)], node.outputs[0])

    def op_transpose(self, node: Any) -> None:
        perm = [int(p) for p in self.g.tensors[node.inputs[1]].data]
        self.node("Transpose", [node.inputs[0]], node.outputs[0], perm=perm)

    def op_strided_slice(self, node: Any) -> None:
        a = node.attrs
        if any(a.get(k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "offset")):
            raise EdgefmrError("ONNX QDQ export: STRIDED_SLICE with masks is not mapped")
        begin, end, strides = (self.g.tensors[n].data for n in node.inputs[1:4])
        axes = list(range(len(begin)))
        y = self.node("Slice", [node.inputs[0], self.i64(begin), self.i64(end), self.i64(axes), self.i64(strides)])
        shrink = [i for i in axes if a.get("shrink_axis_mask", 0) >> i & 1]
        if shrink:
            y = self.node("Squeeze", [y, self.i64(shrink)])
        self.node("Identity", [y], node.outputs[0])

    def op_concatenation(self, node: Any) -> None:
        ins = []
        for n in node.inputs:
            t = self.g.tensors[n]
            ins.append(self.init(self.uid(n), t.data) if t.is_const else n)
        self.node("Concat", ins, node.outputs[0], axis=int(node.attrs.get("axis", 0)))

    def op_batch_matmul(self, node: Any) -> None:
        a, b = (self.deq(n) for n in node.inputs)
        for flag, which in (("adj_x", 0), ("adj_y", 1)):
            if node.attrs.get(flag):
                rank = len(self.g.tensors[node.inputs[which]].shape)
                perm = [*range(rank - 2), rank - 1, rank - 2]
                if which == 0:
                    a = self.node("Transpose", [a], perm=perm)
                else:
                    b = self.node("Transpose", [b], perm=perm)
        self.quant(self.node("MatMul", [a, b]), node.outputs[0])

    def _softmax(self, node: Any) -> str:
        x = self.deq(node.inputs[0])
        beta = float(node.attrs.get("beta", 1.0))
        if beta != 1.0:
            x = self.node("Mul", [x, self.init(self.uid("beta"), np.float32(beta))])
        return self.node("Softmax", [x], axis=-1)

    def op_softmax(self, node: Any) -> None:
        self.quant(self._softmax(node), node.outputs[0])

    def op_clipped_softmax(self, node: Any) -> None:
        gamma, zeta = float(node.attrs.get("gamma", 0.0)), float(node.attrs.get("zeta", 1.0))
        p = self.node("Mul", [self._softmax(node), self.init(self.uid("span"), np.float32(zeta - gamma))])
        p = self.node("Add", [p, self.init(self.uid("gamma"), np.float32(gamma))])
        p = self.node("Clip", [p, self.init(self.uid("lo"), np.float32(0)), self.init(self.uid("hi"), np.float32(1))])
        self.quant(p, node.outputs[0])

    def op_attention_gate(self, node: Any) -> None:
        gate = self.node("Unsqueeze", [self.node("Sigmoid", [self.deq(node.inputs[1])]), self.i64([-1])])
        self.quant(self.node("Mul", [self.deq(node.inputs[0]), gate]), node.outputs[0])

    def op_layer_norm(self, node: Any) -> None:
        x, gamma, beta = (*node.inputs, "")[:3]
        ins = [self.deq(x), self.deq(gamma)] + ([self.deq(beta)] if beta else [])
        y = self.node("LayerNormalization", ins, axis=-1, epsilon=float(node.attrs.get("epsilon", 1e-5)))
        self.quant(y, node.outputs[0])

    def op_lut(self, node: Any) -> None:
        table = self.init(self.uid(node.inputs[1]), self.g.tensors[node.inputs[1]].data)
        idx = self.node("Add", [self.node("Cast", [node.inputs[0]], to=6), self.init(self.uid("off"), np.int32(128))])
        self.node("Gather", [table, idx], node.outputs[0], axis=0)


def to_onnx_qdq(g: Graph) -> Any:
    """The ONNX QDQ model (an ``onnx.ModelProto``) of an IR graph; EdgefmrError naming the ops without a form."""
    onnx = _need_onnx()
    model = _QDQ(g).convert()
    onnx.checker.check_model(model)
    return model


def export_qdq_onnx(g: Graph, path: str | Path, x_check: np.ndarray) -> dict[str, Any]:
    """Write the integer model as ONNX QDQ and compare onnxruntime's int8 logits with the IR interpreter's, at
    onnxruntime's basic graph optimizations (the QDQ graph as written) and at all optimizations (its QDQ fusions
    into its own quantized kernels, which round their own way)."""
    import onnxruntime as ort

    model = to_onnx_qdq(g)
    Path(path).write_bytes(model.SerializeToString())
    t = g.tensors[g.inputs[0]]
    xs = [xi.reshape(t.shape) for xi in np.asarray(x_check, np.float32)]
    refs = [run(g, [affine_quantize(xi, t.scale, t.zero_point, t.dtype)])[g.outputs[0]].astype(np.int64) for xi in xs]
    res: dict[str, Any] = {"path": str(path), "check": "onnxruntime vs the IR interpreter (int8 logits)",
                           "samples": len(xs)}
    for label, level in (("basic", ort.GraphOptimizationLevel.ORT_ENABLE_BASIC),
                         ("all", ort.GraphOptimizationLevel.ORT_ENABLE_ALL)):
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        exact, diff, agree = 0, 0, 0
        for xi, ref in zip(xs, refs, strict=True):
            got = sess.run(None, {FLOAT_INPUT: xi})[0].astype(np.int64)
            exact += int(np.array_equal(got, ref))
            diff = max(diff, int(np.abs(got - ref).max()))
            agree += int(got.reshape(-1).argmax() == ref.reshape(-1).argmax())
        res[label] = {"exact_samples": exact, "max_lsb_diff": diff,
                      "prediction_agreement": round(agree / max(len(xs), 1), 4)}
    return res


def export_tflite(g: Graph, path: str | Path, x_check: np.ndarray) -> dict[str, Any]:
    """Write the integer model as .tflite and check LiteRT's reference kernels against the interpreter."""

    buf = to_tflite(g)
    Path(path).write_bytes(buf)
    it = litert_interpreter(buf)
    t = g.tensors[g.inputs[0]]
    inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    exact = 0
    for xi in np.asarray(x_check, np.float32):
        xq = affine_quantize(xi.reshape(t.shape), t.scale, t.zero_point, t.dtype)
        it.set_tensor(inp, xq)
        it.invoke()
        exact += int(np.array_equal(it.get_tensor(out), run(g, [xq])[g.outputs[0]]))
    return {"path": str(path), "check": "LiteRT (reference kernels) vs the IR interpreter", "samples": len(x_check),
            "bit_exact_samples": exact, "bit_exact": exact == len(x_check)}


def export_all(res: Any, task: Any, *, onnx_path: str | None = None, qdq_path: str | None = None,
               tflite_path: str | None = None, samples: int = 64,
               progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run the requested exports of a :class:`~edgefmr.quant.pipeline.QuantResult`; a failed one is reported with
    its ``error`` (the others still run)."""
    x = task.x_test[:samples]
    jobs = [("onnx", onnx_path, lambda p: export_float_onnx(res.qm, p, x)),
            ("onnx_qdq", qdq_path, lambda p: export_qdq_onnx(res.graph, p, x)),
            ("tflite", tflite_path, lambda p: export_tflite(res.graph, p, x))]
    out: dict[str, Any] = {}
    todo = [j for j in jobs if j[1]]
    for i, (name, path, fn) in enumerate(todo):
        try:
            out[name] = fn(path)
        except EdgefmrError as e:
            out[name] = {"path": None, "error": str(e)}
        if progress:
            progress("export", i + 1, len(todo))
    return out
