"""Graph validation: structure, constants, op arity/attributes/types, and shapes re-inferred by the op registry."""

from __future__ import annotations

from edgefmr.errors import IRError
from edgefmr.ir.graph import Graph, np_dtype
from edgefmr.ops.registry import call


def validate(g: Graph) -> None:
    """Raise IRError naming the tensor or node at fault; return silently for a valid graph."""
    for name, t in g.tensors.items():
        if name != t.name:
            raise IRError(f"tensor key {name!r} differs from its name {t.name!r}")
        np_dtype(t.dtype)
        if any((not isinstance(d, int)) or d < 0 for d in t.shape):
            raise IRError(f"tensor {name!r}: shape {t.shape} must be non-negative integers")
        if t.data is not None:
            if tuple(t.data.shape) != tuple(t.shape) or t.data.dtype != np_dtype(t.dtype):
                raise IRError(
                    f"tensor {name!r}: data is {t.data.dtype}{list(t.data.shape)}, declared {t.dtype}{list(t.shape)}"
                )
        if t.quant is not None and t.quant.per_axis:
            if not 0 <= t.quant.axis < len(t.shape) or t.shape[t.quant.axis] != len(t.quant.scale):
                n = len(t.quant.scale)
                raise IRError(f"tensor {name!r}: {n} scales do not fit axis {t.quant.axis} of {t.shape}")
    for name in g.inputs + g.outputs:
        g.tensor(name)
    available = set(g.inputs) | {n for n, t in g.tensors.items() if t.is_const}
    for name in g.inputs:
        if g.tensors[name].is_const:
            raise IRError(f"graph input {name!r} is a constant")
    for node in g.nodes:
        c = call(node, g)
        for t in node.inputs:
            if t and t not in available:
                raise IRError(f"{c.where}: input {t!r} is not computed before this node (or does not exist)")
        for t in node.outputs:
            if t in available:
                raise IRError(f"{c.where}: output {t!r} is already written by a graph input, constant or node")
            if g.tensor(t).is_const:
                raise IRError(f"{c.where}: output {t!r} is a constant")
        try:
            c.opdef.check(c)
            shapes = c.opdef.infer(c)
        except IRError:
            raise
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError, AttributeError) as e:
            # the op's own checks missed a malformed attribute or operand: still one line naming the node
            raise IRError(f"{c.where}: attributes or operands this op cannot use ({type(e).__name__}: {e}); "
                          f"see docs/ops/{node.op}.md") from None
        if len(shapes) != len(node.outputs):
            raise IRError(f"{c.where}: {len(node.outputs)} outputs declared, the op infers {len(shapes)}")
        for t, shape in zip(node.outputs, shapes, strict=True):
            if tuple(shape) != tuple(g.tensors[t].shape):
                raise IRError(f"{c.where}: output {t!r} is declared {list(g.tensors[t].shape)}, inferred {list(shape)}")
        available.update(node.outputs)
    for name in g.outputs:
        if name not in available:
            raise IRError(f"graph output {name!r} is never computed")
