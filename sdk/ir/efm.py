"""The `.efm` file: one zip holding `model.json` (graph, versioned) and `arrays/<i>.npy` (constant data)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.errors import IRError
from edgefmr.ir.graph import Graph, Node, Quant, Tensor
from edgefmr.ir.schema import check_document
from edgefmr.ir.validate import validate

FORMAT = "edgefmr-ir"
VERSION = 1


def to_json(g: Graph) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The JSON document and the constant arrays it refers to by index."""
    arrays: list[np.ndarray] = []
    tensors = []
    for t in g.tensors.values():
        d: dict[str, Any] = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
        if t.quant is not None:
            d["quant"] = {"scale": t.quant.scale, "zero_point": t.quant.zero_point, "axis": t.quant.axis}
        if t.data is not None:
            d["data"] = len(arrays)
            arrays.append(np.array(t.data, order="C"))  # keeps 0-d arrays 0-d
        tensors.append(d)
    nodes = [{"name": n.name, "op": n.op, "inputs": n.inputs, "outputs": n.outputs, "attrs": n.attrs} for n in g.nodes]
    doc = {"format": FORMAT, "version": VERSION, "metadata": g.metadata, "inputs": g.inputs,
           "outputs": g.outputs, "tensors": tensors, "nodes": nodes}
    return doc, arrays


def save(g: Graph, path: str | Path) -> None:
    """Validate and write `g` to `path` (written to a temporary name first, so a crash leaves no half file)."""
    validate(g)
    doc, arrays = to_json(g)
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.json", json.dumps(doc, indent=1))
        for i, a in enumerate(arrays):
            buf = io.BytesIO()
            np.save(buf, a, allow_pickle=False)
            z.writestr(f"arrays/{i}.npy", buf.getvalue())
    tmp.replace(path)


def from_json(doc: dict[str, Any], arrays: list[np.ndarray] | dict[int, np.ndarray], where: str = "model") -> Graph:
    """Check `doc` against the schema (edgefmr.ir.schema), rebuild the graph and validate it."""
    if isinstance(doc, dict) and doc.get("format") != FORMAT:
        raise IRError(f"{where}: not an edgefmr IR document (model.json $.format is {doc.get('format')!r}, "
                      f"valid: {FORMAT!r})")
    if isinstance(doc, dict) and not (type(doc.get("version")) is int and doc["version"] == VERSION):
        raise IRError(f"{where}: IR version {doc.get('version')!r} is not supported (model.json $.version; this "
                      f"edgefmr reads {VERSION})")
    check_document(doc, range(len(arrays)) if isinstance(arrays, list) else arrays.keys(), where)
    g = Graph(metadata=dict(doc.get("metadata", {})))
    for td in doc["tensors"]:
        qd = td.get("quant")
        q = None if qd is None else Quant(qd["scale"], qd["zero_point"], qd.get("axis", 0))
        data = None if td.get("data") is None else arrays[td["data"]]
        g.tensors[td["name"]] = Tensor(td["name"], tuple(td["shape"]), td["dtype"], q, data)
    for nd in doc["nodes"]:
        g.nodes.append(Node(nd["op"], list(nd["inputs"]), list(nd["outputs"]), dict(nd.get("attrs", {})),
                            nd.get("name", "")))
    g.inputs = list(doc["inputs"])
    g.outputs = list(doc["outputs"])
    try:
        validate(g)
    except IRError as e:
        raise IRError(f"{where}: {e}") from None
    return g


def load(path: str | Path) -> Graph:
    """Read and validate an `.efm` file; IRError naming the file on any problem."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise IRError(f"{where}: no such file")
    try:
        with zipfile.ZipFile(path) as z:
            doc = json.loads(z.read("model.json"), parse_constant=_json_constant)
            arrays = {}
            for name in z.namelist():
                if name.startswith("arrays/") and name.endswith(".npy"):
                    stem = name[7:-4]
                    if not stem.isdigit():
                        raise IRError(f"{where}: {name}: not an array of this format (valid: arrays/<index>.npy)")
                    try:
                        arrays[int(stem)] = np.load(io.BytesIO(z.read(name)), allow_pickle=False)
                    except (ValueError, OSError, EOFError) as e:
                        raise IRError(f"{where}: {name}: not a valid .npy array ({e})") from None
    except KeyError:
        raise IRError(f"{where}: not a valid .efm file (no model.json in the zip)") from None
    except json.JSONDecodeError as e:
        raise IRError(f"{where}: model.json is not valid JSON ({e})") from None
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, ValueError, OSError, EOFError, RecursionError) as e:
        raise IRError(f"{where}: not a valid .efm file ({type(e).__name__}: {e})") from None
    return from_json(doc, arrays, where)


def _json_constant(name: str) -> float:
    """NaN, Infinity and -Infinity (not JSON, but Python's json writes them): kept, so the schema names the field."""
    return float(name.replace("Infinity", "inf"))


def graph_hash(g: Graph) -> str:
    """SHA-256 of the graph's canonical content (structure, quantization and weights)."""
    doc, arrays = to_json(g)
    h = hashlib.sha256(json.dumps(doc, sort_keys=True).encode())
    for a in arrays:
        h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()
