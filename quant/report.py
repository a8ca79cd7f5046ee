"""The quantization report (``q.json``): accuracies, per-layer activation statistics and op counts on the IR.

Op counts come from the IR graph, node by node: an op definition's ``op_counts`` when it has one (the ops of
issue 4 state exactly what they multiply and add), else from the op's arithmetic: FULLY_CONNECTED, CONV_2D and
BATCH_MATMUL do ``macs`` multiplications and additions, ADD/SUB one addition per output, MUL one multiplication,
MEAN one addition per input, SOFTMAX (as CLIPPED_SOFTMAX without the affine) ``size`` exps and multiplications,
``R (2N - 1)`` additions and one reciprocal per row; data movement and LUT count nothing. The MUL of two spike
tensors (SDSA's ``Q AND K`` and the mask) is a logical AND, counted as ``ands``.

Attention: the lowering tags every node of an attention layer's core (from Q, K, V to the attention output) with
the layer and part ``qk`` (the similarity op: BATCH_MATMUL(Q, K) or HASH_ATTENTION) or ``attention`` (the rest:
softmax, P.V, gate, hash encoding). ``qk_mults`` are the multiplications of the ``qk`` ops (HASH_ATTENTION states
0); ``mults``/``adds`` cover the whole core.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ir import Graph
from edgefmr.ops.registry import OpDef, call

COUNT_KEYS = ("mults", "adds", "ands", "exps", "divs", "sqrts", "requant")


def node_counts(g: Graph, i: int) -> dict[str, int]:
    """Arithmetic of node ``i`` of ``g`` (see the module docstring)."""
    node = g.nodes[i]
    c = call(node, g)
    logic = g.metadata.get("attention_tags", {}).get(node.outputs[0], {}).get("logic")
    size = c.out(0).size
    if logic == "and":
        return {"ands": size}
    if type(c.opdef).op_counts is not OpDef.op_counts:  # the op states its own arithmetic
        return {k: int(v) for k, v in c.opdef.op_counts(c).items()}
    op = node.op
    if op in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL"):
        m = int(c.opdef.macs(c))
        return {"mults": m, "adds": m, "requant": size}
    if op in ("ADD", "SUB"):
        return {"adds": size, "requant": size}
    if op in ("MUL", "SQUARED_DIFFERENCE"):
        return {"mults": size, "requant": size}
    if op == "MEAN":
        return {"adds": c.inp(0).size, "requant": size}
    if op == "SOFTMAX":
        n = max(c.inp(0).shape[-1], 1)
        rows = size // n
        return {"exps": size, "mults": size, "adds": rows * (2 * n - 1), "divs": rows}
    return {}


def graph_counts(g: Graph) -> dict[str, Any]:
    """MACs, op histogram, totals and the per-attention-layer counts of an IR graph."""
    tags = g.metadata.get("attention_tags", {})
    totals = dict.fromkeys(COUNT_KEYS, 0)
    macs = 0
    ops: dict[str, int] = {}
    layers: dict[str, dict[str, int]] = {}
    for i, node in enumerate(g.nodes):
        c = call(node, g)
        macs += int(c.opdef.macs(c))
        ops[node.op] = ops.get(node.op, 0) + 1
        cnt = node_counts(g, i)
        for k in COUNT_KEYS:
            totals[k] += cnt.get(k, 0)
        tag = tags.get(node.outputs[0], {})
        part = tag.get("part")
        if tag.get("layer") and part in ("qk", "attention"):
            lay = layers.setdefault(tag["layer"], {"mults": 0, "adds": 0, "ands": 0, "qk_mults": 0, "qk_adds": 0,
                                                   "exps": 0, "divs": 0, "qk_ops": []})
            for k in ("mults", "adds", "ands", "exps", "divs"):
                lay[k] += cnt.get(k, 0)
            if part == "qk":
                lay["qk_mults"] += cnt.get("qk_mults", cnt.get("mults", 0))
                lay["qk_adds"] += cnt.get("adds", 0)
                lay["qk_ops"].append(node.op)
    att_tot = {k: sum(v[k] for v in layers.values()) for k in ("mults", "adds", "ands", "qk_mults", "qk_adds")}
    return {"macs": macs, "ops": dict(sorted(ops.items())), "totals": totals, "attention_layers": layers,
            "attention": att_tot, "nodes": len(g.nodes), "weight_bytes": g.weight_bytes()}


def activation_stats(qm: Any) -> list[dict[str, Any]]:
    """Per activation tensor of the float model on the calibration data: max |x|, kurtosis and its int8
    quantization."""
    rows = []
    for key, obs in qm.observers.items():
        s, z = qm.qparams[key]
        rows.append({"tensor": key, "max_abs": round(obs.max_abs, 6), "kurtosis": round(obs.kurtosis, 4),
                     "min": round(obs.lo, 6), "max": round(obs.hi, 6), "scale": s, "zero_point": z,
                     "residual": key in qm.residual_keys})
    return rows


def outlier_summary(qm: Any) -> dict[str, float]:
    """Max |x| over the residual stream (the block outputs, where attention outliers show) and the mean
    kurtosis of those tensors."""
    keys = [k for k in qm.residual_keys if k in qm.observers] or list(qm.observers)
    return {"max_abs_activation": float(max(qm.observers[k].max_abs for k in keys)),
            "kurtosis": float(np.mean([qm.observers[k].kurtosis for k in keys]))}
