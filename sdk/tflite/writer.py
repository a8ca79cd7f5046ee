"""IR -> `.tflite` for graphs made of TFLite builtin ops (so models can go to TFLite Micro or LiteRT)."""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ir.graph import Graph
from edgefmr.ir.validate import validate
from edgefmr.ops.registry import get_op
from edgefmr.tflite.schema import DTYPE_TO_TFL, S, enum_value


def to_tflite(g: Graph) -> bytes:
    """Serialize `g` as a TFLite flatbuffer; an EdgefmrError lists the ops TFLite does not have."""
    validate(g)
    missing = sorted({n.op for n in g.nodes if get_op(n.op).tflite_op is None})
    if missing:
        raise EdgefmrError(f"cannot export to .tflite: ops without a TFLite builtin: {', '.join(missing)}")
    model = S.ModelT()
    model.version = 3
    model.description = "edgefmr"
    model.buffers = [S.BufferT()]
    sg = S.SubGraphT()
    sg.name = g.metadata.get("name", "main")
    sg.tensors = []
    index: dict[str, int] = {}
    for t in g.tensors.values():
        tt = S.TensorT()
        tt.name = t.name
        tt.shape = np.array(t.shape, np.int32)
        tt.type = DTYPE_TO_TFL[t.dtype]
        tt.buffer = 0
        if t.data is not None:
            buf = S.BufferT()
            buf.data = np.frombuffer(t.data.astype(t.data.dtype.newbyteorder("<")).tobytes(), np.uint8)
            tt.buffer = len(model.buffers)
            model.buffers.append(buf)
        if t.quant is not None:
            q = S.QuantizationParametersT()
            q.scale = np.array(t.quant.scale, np.float32)
            q.zeroPoint = np.array(t.quant.zero_point, np.int64)
            q.quantizedDimension = t.quant.axis
            tt.quantization = q
        index[t.name] = len(sg.tensors)
        sg.tensors.append(tt)
    codes: dict[str, int] = {}
    model.operatorCodes = []
    sg.operators = []
    for n in g.nodes:
        opdef = get_op(n.op)
        if opdef.tflite_op not in codes:
            oc = S.OperatorCodeT()
            oc.builtinCode = getattr(S.BuiltinOperator, opdef.tflite_op)
            oc.deprecatedBuiltinCode = min(oc.builtinCode, 127)
            oc.version = 1
            codes[opdef.tflite_op] = len(model.operatorCodes)
            model.operatorCodes.append(oc)
        op = S.OperatorT()
        op.opcodeIndex = codes[opdef.tflite_op]
        inputs = list(n.inputs)
        while inputs and not inputs[-1]:  # LiteRT wants trailing optional inputs left out, not -1
            inputs.pop()
        op.inputs = np.array([index[i] if i else -1 for i in inputs], np.int32)
        op.outputs = np.array([index[o] for o in n.outputs], np.int32)
        if opdef.tflite_options:
            opts = getattr(S, opdef.tflite_options + "T")()
            for k, a in opdef.attrs.items():
                if a.tflite is None:
                    continue
                v = n.attrs.get(k, a.default)
                setattr(opts, a.tflite, enum_value(a.enum, v) if a.enum else v)
            op.builtinOptionsType = getattr(S.BuiltinOptions, opdef.tflite_options)
            op.builtinOptions = opts
        sg.operators.append(op)
    sg.inputs = np.array([index[i] for i in g.inputs], np.int32)
    sg.outputs = np.array([index[o] for o in g.outputs], np.int32)
    model.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def save_tflite(g: Graph, path: str | Path) -> None:
    Path(path).write_bytes(to_tflite(g))
