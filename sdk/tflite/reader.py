"""`.tflite` (full-integer) -> IR. Every unsupported op or dtype is reported in one message."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir.graph import Graph, Node, Quant, Tensor
from edgefmr.ir.validate import validate
from edgefmr.ops.registry import all_ops, call
from edgefmr.tflite.schema import BUILTIN_NAMES, TFL_TO_DTYPE, TFL_TYPE_NAMES, S, enum_name


def _by_tflite_name() -> dict[str, str]:
    return {d.tflite_op: name for name, d in all_ops().items() if d.tflite_op}


def _parse(buf: bytes, where: str) -> S.ModelT:
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        ident = buf[4:8] if len(buf) >= 8 else b""
        raise EdgefmrError(f"{where}: not a .tflite file (file identifier {ident!r}, expected b'TFL3')")
    try:
        model = S.ModelT.InitFromPackedBuf(buf, 0)
        model.subgraphs[0].tensors  # noqa: B018 - touch the root so a truncated file fails here
    except Exception as e:  # the flatbuffer reader raises many kinds on corrupt input
        raise EdgefmrError(f"{where}: corrupt or truncated .tflite file ({type(e).__name__})") from None
    return model


def _buffer_data(model: S.ModelT, buf: bytes, index: int) -> bytes | None:
    if index <= 0 or index >= len(model.buffers):
        return None
    b = model.buffers[index]
    if b.offset > 1:
        return buf[b.offset : b.offset + b.size]
    if b.data is None or len(b.data) == 0:
        return None
    return np.asarray(b.data, np.uint8).tobytes()


def from_tflite(buf: bytes, where: str = "model.tflite") -> Graph:
    """Parse a full-integer TFLite flatbuffer into a validated IR graph."""
    model = _parse(buf, where)
    try:
        return _to_graph(model, buf, where)
    except (UnicodeDecodeError, ValueError, IndexError, TypeError, KeyError, OverflowError, AttributeError,
            MemoryError) as e:
        # a flatbuffer has no checksum: a damaged file can parse and still hold impossible tables
        raise EdgefmrError(f"{where}: corrupt .tflite file (a table or buffer is damaged: {type(e).__name__}: "
                           f"{str(e)[:120]})") from None


def _to_graph(model: S.ModelT, buf: bytes, where: str) -> Graph:
    if len(model.subgraphs) != 1:
        raise EdgefmrError(f"{where}: {len(model.subgraphs)} subgraphs; only single-subgraph models are supported")
    sg = model.subgraphs[0]
    problems: dict[str, list[str]] = {}  # reason -> where it happens

    def problem(reason: str, where_: str) -> None:
        problems.setdefault(reason, []).append(where_)

    g = Graph(metadata={"source": Path(where).name, "format": "tflite"})
    names: list[str] = []
    for i, tt in enumerate(sg.tensors or []):
        name = tt.name.decode() if isinstance(tt.name, bytes) else (tt.name or f"t{i}")
        if name in g.tensors:
            name = f"{name}#{i}"
        names.append(name)
        dtype = TFL_TO_DTYPE.get(tt.type)
        if dtype is None:
            problem(f"dtype {TFL_TYPE_NAMES.get(tt.type, tt.type)}", f"tensor {name!r}")
            dtype = "int8"
        shape = tuple(int(d) for d in (tt.shape if tt.shape is not None else []))
        q = None
        qp = tt.quantization
        if qp is not None and qp.scale is not None and len(qp.scale) > 0:
            zp = qp.zeroPoint if qp.zeroPoint is not None else [0] * len(qp.scale)
            q = Quant([float(s) for s in qp.scale], [int(z) for z in zp], int(qp.quantizedDimension))
        data = _buffer_data(model, buf, tt.buffer)
        if data is None and tt.buffer > 0 and 0 in shape:
            data = b""  # a constant with no elements (e.g. RESHAPE to a scalar)
        arr = None
        if data is not None and dtype in TFL_TO_DTYPE.values():
            arr = np.frombuffer(data, np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
        g.tensors[name] = Tensor(name, shape, dtype, q, arr)
    ops = _by_tflite_name()
    for k, op in enumerate(sg.operators or []):
        oc = model.operatorCodes[op.opcodeIndex]
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        tfl = BUILTIN_NAMES.get(code, str(code))
        if tfl == "CUSTOM":
            tfl = f"CUSTOM:{oc.customCode.decode() if isinstance(oc.customCode, bytes) else oc.customCode}"
        outs = [names[j] for j in op.outputs]
        if tfl not in ops:
            problem(f"op {tfl}", f"node {k}")
            continue
        opdef = all_ops()[ops[tfl]]
        attrs = {}
        opts = op.builtinOptions
        for a_name, a in opdef.attrs.items():
            if a.tflite and opts is not None and hasattr(opts, a.tflite):
                v = getattr(opts, a.tflite)
                v = enum_name(a.enum, v) if a.enum else v
                v = v.tolist() if isinstance(v, np.ndarray) else v
                if v != a.default:  # keep attrs canonical: defaults are left out
                    attrs[a_name] = v
        node = Node(ops[tfl], [names[j] if j >= 0 else "" for j in op.inputs], outs, attrs, outs[0] if outs else "")
        try:
            c = call(node, g)
            c.opdef.check(c)
        except IRError as e:
            problem(f"op {tfl} ({str(e).split(': ', 1)[-1]})", f"node {k}")
            continue
        g.nodes.append(node)
    g.inputs = [names[j] for j in sg.inputs]
    g.outputs = [names[j] for j in sg.outputs]
    if problems:
        parts = [f"{r} at {w[0]}" + (f" and {len(w) - 1} more" if len(w) > 1 else "") for r, w in problems.items()]
        raise EdgefmrError(f"{where}: unsupported: " + "; ".join(parts))
    # Drop tensors nothing refers to (TFLite files may carry leftovers).
    used = set(g.inputs) | set(g.outputs) | {t for n in g.nodes for t in n.inputs + n.outputs if t}
    g.tensors = {k: v for k, v in g.tensors.items() if k in used}
    try:
        validate(g)
    except IRError as e:
        raise EdgefmrError(f"{where}: {e}") from None
    return g


def load_tflite(path: str | Path) -> Graph:
    """Read a `.tflite` file into the IR (EdgefmrError naming the file on any problem)."""
    p = Path(path)
    if not p.is_file():
        raise EdgefmrError(f"{p}: no such file")
    return from_tflite(p.read_bytes(), str(p))
