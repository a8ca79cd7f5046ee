"""The `.efm` file: one zip holding `model.json` (graph, versioned) and `arrays/<i>.npy` (constant data)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.errors import IRError
from edgefmr.ir.graph import Graph, Node, Quant, Tensor
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


def _req(d: dict, key: str, typ: type | tuple, where: str) -> Any:
    if key not in d:
        raise IRError(f"{where}: missing key {key!r}")
    if not isinstance(d[key], typ):
        raise IRError(f"{where}: key {key!r} has the wrong type ({type(d[key]).__name__})")
    return d[key]


def from_json(doc: dict[str, Any], arrays: list[np.ndarray] | dict[int, np.ndarray], where: str = "model") -> Graph:
    """Rebuild and validate a graph from its JSON document and arrays."""
    if doc.get("format") != FORMAT:
        raise IRError(f"{where}: not an edgefmr IR document (format {doc.get('format')!r})")
    if doc.get("version") != VERSION:
        raise IRError(f"{where}: IR version {doc.get('version')!r} is not supported (this edgefmr reads {VERSION})")
    g = Graph(metadata=doc.get("metadata", {}))
    for i, td in enumerate(_req(doc, "tensors", list, where)):
        tw = f"{where}: tensors[{i}]"
        name = _req(td, "name", str, tw)
        q = None
        if td.get("quant") is not None:
            qd = td["quant"]
            q = Quant(_req(qd, "scale", list, tw), _req(qd, "zero_point", list, tw), int(qd.get("axis", 0)))
        data = None
        if td.get("data") is not None:
            try:
                data = arrays[td["data"]]
            except (IndexError, KeyError):
                raise IRError(f"{tw}: data array {td['data']} is missing") from None
        if name in g.tensors:
            raise IRError(f"{tw}: duplicate tensor name {name!r}")
        g.tensors[name] = Tensor(name, tuple(_req(td, "shape", list, tw)), _req(td, "dtype", str, tw), q, data)
    for i, nd in enumerate(_req(doc, "nodes", list, where)):
        nw = f"{where}: nodes[{i}]"
        g.nodes.append(Node(_req(nd, "op", str, nw), list(_req(nd, "inputs", list, nw)),
                            list(_req(nd, "outputs", list, nw)), dict(nd.get("attrs", {})), nd.get("name", "")))
    g.inputs = list(_req(doc, "inputs", list, where))
    g.outputs = list(_req(doc, "outputs", list, where))
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
            doc = json.loads(z.read("model.json"))
            arrays = {}
            for name in z.namelist():
                if name.startswith("arrays/") and name.endswith(".npy"):
                    arrays[int(name[7:-4])] = np.load(io.BytesIO(z.read(name)), allow_pickle=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise IRError(f"{where}: not a valid .efm file ({e})") from None
    return from_json(doc, arrays, where)


def graph_hash(g: Graph) -> str:
    """SHA-256 of the graph's canonical content (structure, quantization and weights)."""
    doc, arrays = to_json(g)
    h = hashlib.sha256(json.dumps(doc, sort_keys=True).encode())
    for a in arrays:
        h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()
