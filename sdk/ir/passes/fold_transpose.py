"""Folding TRANSPOSE into BATCH_MATMUL operand addressing and HASH_ATTENTION's value and output addressing.

A TRANSPOSE whose output only feeds BATCH_MATMUL operands (e.g. a transformer's head split q/k/v
[1, T, H, d] -> [1, H, T, d], perm [0, 2, 1, 3]) is a pure copy: the matrix product can read the untransposed
tensor through strides instead. The pass removes such TRANSPOSEs and records the permutation on each consuming
BATCH_MATMUL (attributes lhs_perm / rhs_perm: the operand is read as np.transpose(stored, perm)); the C emitter
turns it into row, depth and batch strides. Likewise HASH_ATTENTION's values (v_perm) and, for a TRANSPOSE that is
the only reader of a HASH_ATTENTION's output (the head merge), the output (y_perm: the result is stored transposed),
where the permutation keeps the last axis (the value columns) last. Bit-exact by construction (the ops read and
write the very same values).
"""

from __future__ import annotations

import copy

from edgefmr.ir.graph import Graph, Node
from edgefmr.ops.registry import call


def _perm(g: Graph, i: int) -> list[int] | None:
    """The normalized constant permutation of TRANSPOSE node i, or None."""
    n = g.nodes[i]
    p = g.tensors.get(n.inputs[1]) if len(n.inputs) > 1 else None
    if p is None or not p.is_const:
        return None
    rank = len(g.tensors[n.inputs[0]].shape)
    perm = [int(v) % rank for v in p.data.reshape(-1)]
    return perm if sorted(perm) == list(range(rank)) else None


def fold_transposes(g: Graph, exclude: set[int] | frozenset[int] = frozenset()) -> Graph:
    """fold_transposes_origin's graph."""
    return fold_transposes_origin(g, exclude)[0]


def fold_transposes_origin(g: Graph, exclude: set[int] | frozenset[int] = frozenset()
                           ) -> tuple[Graph, list[list[int]]]:
    """(folded graph, for each of its nodes the indices of the nodes of `g` it computes: itself and the TRANSPOSEs
    folded into it, a TRANSPOSE folded into several products counted with the first). The graph: a copy of `g` in
    which every TRANSPOSE (not in `exclude`, node indices of `g`) whose output is read only by BATCH_MATMUL
    operands or HASH_ATTENTION values, is not a graph output and keeps the quantization, is removed and its
    permutation moved onto the consumers (composed with one they already have); and every such TRANSPOSE that is the
    only reader of a HASH_ATTENTION's output, onto that node's y_perm. `g` is left unchanged; graph inputs and
    outputs keep their names. Unused permutation constants are dropped."""
    out = copy.deepcopy(g)
    excluded = {id(out.nodes[i]) for i in exclude if 0 <= i < len(out.nodes)}
    origin = {id(n): [i] for i, n in enumerate(out.nodes)}
    while True:  # to a fixpoint: a folded TRANSPOSE may leave its producer TRANSPOSE foldable
        cons = out.consumers()
        drop: set[int] = set()
        for i, n in enumerate(out.nodes):
            if n.op != "TRANSPOSE" or id(n) in excluded:
                continue
            perm = _perm(out, i)
            src, dst = n.inputs[0], n.outputs[0]
            users = cons.get(dst, [])
            if perm is None or not users or dst in out.outputs:
                continue
            if out.tensors[src].quant != out.tensors[dst].quant or out.tensors[src].dtype != out.tensors[dst].dtype:
                continue
            prod = out.producers().get(src)
            pn = out.nodes[prod] if prod is not None else None
            if pn is not None and pn.op == "HASH_ATTENTION" and perm[-1] == len(perm) - 1 and \
                    cons.get(src, []) == [i] and src not in out.outputs:
                # the head merge: the attention stores its result transposed, under the TRANSPOSE's output name
                inner = pn.attrs.get("y_perm")
                # stored = transpose(transpose(result, inner), perm) = transpose(result, inner[perm])
                pn.attrs["y_perm"] = list(perm) if inner is None else [int(inner[j]) for j in perm]
                pn.outputs[0] = dst
                origin[id(pn)] += origin[id(n)]
                drop.add(i)
                break
            if not all(_reads_permuted(out.nodes[u], dst, perm) for u in users):
                continue
            for u in set(users):
                un = out.nodes[u]
                for k in (0, 1, 2):
                    if k >= len(un.inputs) or un.inputs[k] != dst:
                        continue
                    key = "v_perm" if un.op == "HASH_ATTENTION" else ("lhs_perm" if k == 0 else "rhs_perm")
                    inner = un.attrs.get(key)
                    # operand = transpose(transpose(src, perm), inner) = transpose(src, perm[inner])
                    un.attrs[key] = list(perm) if inner is None else [perm[int(j)] for j in inner]
                    un.inputs[k] = src
            origin[id(out.nodes[min(users)])] += origin[id(n)]
            drop.add(i)
            break  # consumers changed: recompute them
        if not drop:
            break
        out.nodes = [n for i, n in enumerate(out.nodes) if i not in drop]
    used = {t for n in out.nodes for t in n.inputs if t} | set(out.inputs) | set(out.outputs)
    used |= {t for n in out.nodes for t in n.outputs}
    out.tensors = {k: t for k, t in out.tensors.items() if k in used}
    for n in out.nodes:
        if n.op in ("BATCH_MATMUL", "HASH_ATTENTION"):
            call(n, out)  # the folded attributes describe a valid product
    return out, [sorted(origin[id(n)]) for n in out.nodes]


def _reads_permuted(n: Node, name: str, perm: list[int]) -> bool:
    """Whether node n reads tensor `name` only where it can read it through a permutation: BATCH_MATMUL operands,
    HASH_ATTENTION values (with the last axis kept last)."""
    if n.op == "BATCH_MATMUL":
        return True
    if n.op == "HASH_ATTENTION":
        return n.inputs[2] == name and name not in n.inputs[:2] and perm[-1] == len(perm) - 1
    return False
