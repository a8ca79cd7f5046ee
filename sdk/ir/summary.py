"""A model summary: ops, tensors, parameters, MACs and weight bytes (what `edgefmr inspect` shows)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from edgefmr.ir import Graph, graph_hash
from edgefmr.ops.registry import call


def _tensor_info(g: Graph, name: str) -> dict[str, Any]:
    t = g.tensors[name]
    d: dict[str, Any] = {"name": name, "shape": list(t.shape), "dtype": t.dtype}
    if t.quant is not None:
        d["scale"] = t.quant.scale if t.quant.per_axis else t.quant.scale[0]
        d["zero_point"] = t.quant.zero_point if t.quant.per_axis else t.quant.zero_point[0]
    return d


def summarize(g: Graph) -> dict[str, Any]:
    """A JSON-able summary of `g`, with one row per node."""
    layers = []
    for i, n in enumerate(g.nodes):
        c = call(n, g)
        out = g.tensors[n.outputs[0]]
        layers.append({"index": i, "name": n.name or n.outputs[0], "op": n.op, "output_shape": list(out.shape),
                       "output_dtype": out.dtype, "macs": int(c.opdef.macs(c)),
                       "weight_bytes": sum(g.tensors[t].nbytes for t in n.inputs if t and g.tensors[t].is_const)})
    consts = [t for t in g.tensors.values() if t.is_const]
    return {
        "model_hash": graph_hash(g),
        "inputs": [_tensor_info(g, n) for n in g.inputs],
        "outputs": [_tensor_info(g, n) for n in g.outputs],
        "ops": dict(Counter(n.op for n in g.nodes)),
        "nodes": len(g.nodes),
        "tensors": len(g.tensors),
        "parameters": sum(t.size for t in consts),
        "weight_bytes": sum(t.nbytes for t in consts),
        "macs": sum(r["macs"] for r in layers),
        "layers": layers,
        "metadata": g.metadata,
    }
