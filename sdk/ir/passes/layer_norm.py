"""Fuse TensorFlow's int8 LayerNorm chains into LAYER_NORM_CHAIN nodes (bit-identical: the node's reference kernel is
the chain's own ops, docs/ops/LAYER_NORM_CHAIN.md).

Recognized, over the last axis of an int8 tensor x (the converter writes the nodes in either order):

    m = MEAN(x, last, keep_dims)                  c = SUB(x, m)
    s = SQUARED_DIFFERENCE(x, m)   or   s = MUL(c, c)
    v = MEAN(s, last, keep_dims) ;  e = ADD(v, eps) ;  r = RSQRT(e) ;  n = MUL(c, r)
    [n = MUL(n, gamma)] [n = ADD(n, beta)]
    or, gamma on the reciprocal root:  n = MUL(c, MUL(r, gamma)) [n = ADD(n, beta)]

with eps a one-value constant, gamma and beta constants of one value or one per channel, no fused activations, and
every intermediate read by the chain alone (not a graph output).
"""

from __future__ import annotations

import copy

import numpy as np

from edgefmr.errors import IRError
from edgefmr.ir.graph import Graph, Node
from edgefmr.ops.registry import call

OP = "LAYER_NORM_CHAIN"


class _View:
    """Producers and consumers of a graph, and small predicates over its nodes."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.prod = g.producers()
        self.cons = g.consumers()
        self.outputs = set(g.outputs)

    def users(self, t: str) -> list[int]:
        return self.cons.get(t, [])

    def only_user(self, t: str) -> int | None:
        """The node reading `t`, when exactly one node does (once or twice) and `t` is not a graph output."""
        u = set(self.users(t))
        return next(iter(u)) if len(u) == 1 and t not in self.outputs else None

    def plain(self, i: int, op: str) -> bool:
        n = self.g.nodes[i]
        return n.op == op and n.attrs.get("activation", "NONE") == "NONE" and len(n.outputs) == 1

    def last_axis_mean(self, i: int, x: str) -> bool:
        n = self.g.nodes[i]
        if n.op != "MEAN" or n.inputs[0] != x or not n.attrs.get("keep_dims", False):
            return False
        ax = self.g.tensors[n.inputs[1]]
        rank = len(self.g.tensors[x].shape)
        if ax.data is None or rank == 0:
            return False
        axes = {int(a) % rank for a in np.asarray(ax.data).ravel()}
        return axes == {rank - 1}

    def other(self, i: int, t: str) -> str | None:
        """The input of binary node i that is not `t` (None unless exactly one input is `t`)."""
        a, b = self.g.nodes[i].inputs[:2]
        if a == t and b != t:
            return b
        if b == t and a != t:
            return a
        return None

    def const_values(self, t: str, channels: int) -> bool:
        """`t` is an int8 constant of one value or one per channel (broadcasting over the last axis only)."""
        c = self.g.tensors[t]
        if not c.is_const or c.dtype != "int8" or c.quant is None or c.quant.per_axis:
            return False
        return c.size == 1 or (c.size == channels and c.shape[-1] == channels)


def _match(v: _View, i_mean: int) -> tuple[list[int], Node] | None:
    """The chain starting at MEAN node `i_mean` and its fused node, or None."""
    g = v.g
    mean = g.nodes[i_mean]
    x = mean.inputs[0]
    xt = g.tensors[x]
    if xt.dtype != "int8" or not v.last_axis_mean(i_mean, x) or mean.outputs[0] in v.outputs:
        return None
    m = mean.outputs[0]
    ch = xt.shape[-1]
    users = sorted(set(v.users(m)))
    subs = [i for i in users if v.plain(i, "SUB") and g.nodes[i].inputs[:2] == [x, m]]
    if len(subs) != 1:
        return None
    i_sub = subs[0]
    cen = g.nodes[i_sub].outputs[0]
    if g.tensors[cen].shape != xt.shape or cen in v.outputs:
        return None
    rest = [i for i in users if i != i_sub]
    if len(rest) == 1 and g.nodes[rest[0]].op == "SQUARED_DIFFERENCE" and v.other(rest[0], m) == x:
        i_sq, form = rest[0], "squared_difference"
    elif not rest:
        sq_users = [i for i in set(v.users(cen)) if v.plain(i, "MUL") and g.nodes[i].inputs[:2] == [cen, cen]]
        if len(sq_users) != 1:
            return None
        i_sq, form = sq_users[0], "mul"
    else:
        return None
    s = g.nodes[i_sq].outputs[0]
    i_var = v.only_user(s)
    if i_var is None or not v.last_axis_mean(i_var, s):
        return None
    var = g.nodes[i_var].outputs[0]
    i_add = v.only_user(var)
    if i_add is None or not v.plain(i_add, "ADD"):
        return None
    eps = v.other(i_add, var)
    if eps is None or not g.tensors[eps].is_const or g.tensors[eps].size != 1:
        return None
    ve = g.nodes[i_add].outputs[0]
    i_rsqrt = v.only_user(ve)
    if i_rsqrt is None or g.nodes[i_rsqrt].op != "RSQRT":
        return None
    r = g.nodes[i_rsqrt].outputs[0]
    quant = {"mean": m, "square": s, "variance": var, "variance_eps": ve, "rsqrt": r, "centered": cen}
    nodes = [i_mean, i_sub, i_sq, i_var, i_add, i_rsqrt]
    gamma = beta = ""
    gamma_form = "normalized"
    i_norm = v.only_user(r)
    if i_norm is None or not v.plain(i_norm, "MUL"):
        return None
    k = v.other(i_norm, r)
    if k is not None and k != cen and v.const_values(k, ch):  # gamma on the reciprocal root: MUL(c, MUL(r, gamma))
        inv = g.nodes[i_norm].outputs[0]
        gamma, quant["scaled"], gamma_form = k, inv, "rsqrt"
        nodes.append(i_norm)
        i_norm = v.only_user(inv)
        if i_norm is None or not v.plain(i_norm, "MUL") or v.other(i_norm, inv) != cen:
            return None
    elif k != cen:
        return None
    cen_users = set(v.users(cen))
    if cen_users != ({i_norm, i_sq} if form == "mul" else {i_norm}):
        return None
    nodes.append(i_norm)
    out = g.nodes[i_norm].outputs[0]
    if g.tensors[out].shape != xt.shape:
        return None
    i_g = v.only_user(out) if not gamma else None
    if i_g is not None and v.plain(i_g, "MUL"):
        k = v.other(i_g, out)
        if k is not None and v.const_values(k, ch) and g.tensors[g.nodes[i_g].outputs[0]].shape == xt.shape:
            gamma, quant["normalized"] = k, out
            nodes.append(i_g)
            out = g.nodes[i_g].outputs[0]
    i_b = v.only_user(out)
    if i_b is not None and v.plain(i_b, "ADD"):
        k = v.other(i_b, out)
        if k is not None and v.const_values(k, ch) and g.tensors[g.nodes[i_b].outputs[0]].shape == xt.shape:
            beta = k
            quant["scaled" if gamma and "scaled" not in quant else "normalized"] = out
            nodes.append(i_b)
            out = g.nodes[i_b].outputs[0]
    attrs: dict = {k: [g.tensors[t].scale, g.tensors[t].zero_point] for k, t in quant.items()}
    attrs["square_form"] = form
    if gamma_form != "normalized":
        attrs["gamma_form"] = gamma_form
    inputs = [x, eps, gamma, beta]
    while inputs[-1] == "":
        inputs.pop()
    node = Node(OP, inputs, [out], attrs, out)
    try:
        c = call(node, g)
        c.opdef.check(c)
        if c.opdef.infer(c)[0] != g.tensors[out].shape:
            return None
    except IRError:
        return None
    return nodes, node


def _residual(v: _View, nodes: list[int], fused: Node) -> tuple[list[int], Node] | None:
    """The chain with the ADD that makes its input (ADD_LAYER_NORM_CHAIN: outputs the sum and the normalized rows),
    when that input is the output of a plain int8 ADD whose inputs have the sum's number of elements."""
    g = v.g
    x = fused.inputs[0]
    i_add = v.prod.get(x)
    if i_add is None or not v.plain(i_add, "ADD"):
        return None
    a, b = g.nodes[i_add].inputs[:2]
    if g.tensors[a].is_const:  # ADD is symmetric; the node takes a constant as b only
        a, b = b, a
    size = g.tensors[x].size
    if g.tensors[a].is_const or any(g.tensors[t].size != size or g.tensors[t].dtype != "int8" for t in (a, b)):
        return None
    inputs = [a, b, *fused.inputs[1:]]
    node = Node("ADD_LAYER_NORM_CHAIN", inputs, [x, *fused.outputs], dict(fused.attrs), fused.name)
    try:
        c = call(node, g)
        c.opdef.check(c)
        if [tuple(s) for s in c.opdef.infer(c)] != [g.tensors[t].shape for t in node.outputs]:
            return None
    except IRError:
        return None
    return [i_add, *nodes], node


def fuse_layer_norm(g: Graph, residual: bool = True) -> Graph:
    """A copy of `g` with every recognized LayerNorm chain replaced by one LAYER_NORM_CHAIN node (placed where the
    chain's last node was; its output keeps the chain output's name), or, with `residual`, together with the ADD
    that makes its input by one ADD_LAYER_NORM_CHAIN node (placed where the ADD was; outputs the sum and the
    chain's output, names kept). Tensors only the fused nodes used are dropped."""
    return fuse_layer_norm_origin(g, residual)[0]


def fuse_layer_norm_origin(g: Graph, residual: bool = True) -> tuple[Graph, list[list[int]]]:
    """fuse_layer_norm, and for each node of the new graph the indices of the nodes of `g` it stands for."""
    g = copy.copy(g)
    g.tensors, g.nodes = dict(g.tensors), list(g.nodes)
    origin = [[i] for i in range(len(g.nodes))]
    while True:
        v = _View(g)
        found = None
        for i, n in enumerate(g.nodes):
            if n.op == "MEAN":
                found = _match(v, i)
                if found is not None:
                    break
        if found is None:
            return g, origin
        nodes, fused = found
        with_add = _residual(v, nodes, fused) if residual else None
        if with_add is not None:
            nodes, fused = with_add
        drop = set(nodes)
        last = min(nodes) if with_add is not None else max(nodes)
        old_inputs = {t for i in nodes for t in g.nodes[i].inputs if t}
        old_outputs = {t for i in nodes for t in g.nodes[i].outputs} - set(fused.outputs)
        merged = sorted(o for i in nodes for o in origin[i])
        origin = [merged if i == last else o for i, o in enumerate(origin) if i not in drop or i == last]
        g.nodes = [fused if i == last else n for i, n in enumerate(g.nodes) if i not in drop or i == last]
        used = {t for n in g.nodes for t in [*n.inputs, *n.outputs] if t} | set(g.inputs) | set(g.outputs)
        for t in (old_inputs | old_outputs) - used:
            g.tensors.pop(t, None)
