"""GraphBuilder: write IR graphs in a few lines (output shapes come from the op registry)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgefmr.ir.graph import Graph, Node, Quant, Tensor
from edgefmr.ir.validate import validate
from edgefmr.ops.registry import call


def _quant(scale, zero_point, axis: int = 0) -> Quant | None:
    if scale is None:
        return None
    scales = list(np.atleast_1d(np.asarray(scale, np.float64)))
    zps = list(np.atleast_1d(np.asarray(0 if zero_point is None else zero_point, np.int64)))
    if len(zps) == 1 and len(scales) > 1:
        zps = zps * len(scales)
    return Quant([float(s) for s in scales], [int(z) for z in zps], axis)


class GraphBuilder:
    """Accumulates tensors and nodes; `build()` validates and returns the Graph."""

    def __init__(self, metadata: dict | None = None):
        self.g = Graph(metadata=dict(metadata or {}))

    def _name(self, base: str) -> str:
        name, i = base, 1
        while name in self.g.tensors:
            name, i = f"{base}_{i}", i + 1
        return name

    def input(self, name: str, shape: Sequence[int], dtype: str = "int8", scale=None, zero_point=0) -> str:
        name = self._name(name)
        self.g.tensors[name] = Tensor(name, tuple(int(d) for d in shape), dtype, _quant(scale, zero_point))
        self.g.inputs.append(name)
        return name

    def const(self, name: str, data: np.ndarray, scale=None, zero_point=None, axis: int = 0) -> str:
        name = self._name(name)
        data = np.asarray(data)
        self.g.tensors[name] = Tensor(name, tuple(data.shape), str(data.dtype), _quant(scale, zero_point, axis), data)
        return name

    def op(self, op: str, inputs: Sequence[str | None], *, dtype: str = "int8", scale=None, zero_point=0,
           name: str | None = None, **attrs) -> str:
        """Add a one-output node; its output tensor gets `dtype`, the given quantization and the inferred shape."""
        out = self._name(name or op.lower())
        self.g.tensors[out] = Tensor(out, (), dtype, _quant(scale, zero_point))
        node = Node(op, [i or "" for i in inputs], [out], dict(attrs), out)
        c = call(node, self.g)
        self.g.tensors[out].shape = tuple(int(d) for d in c.opdef.infer(c)[0])
        c.opdef.check(c)
        self.g.nodes.append(node)
        return out

    def op_multi(self, op: str, inputs: Sequence[str | None], outputs: Sequence[dict], *, name: str | None = None,
                 **attrs) -> list[str]:
        """Add a node with several outputs; each output is a dict of `dtype`, `scale`, `zero_point` (shape inferred)."""
        base = name or op.lower()
        outs = []
        for k, spec in enumerate(outputs):
            out = self._name(f"{base}_{k}" if k else base)
            self.g.tensors[out] = Tensor(out, (), spec.get("dtype", "int8"),
                                         _quant(spec.get("scale"), spec.get("zero_point", 0)))
            outs.append(out)
        node = Node(op, [i or "" for i in inputs], outs, dict(attrs), outs[0])
        c = call(node, self.g)
        for out, shape in zip(outs, c.opdef.infer(c), strict=True):
            self.g.tensors[out].shape = tuple(int(d) for d in shape)
        c.opdef.check(c)
        self.g.nodes.append(node)
        return outs

    def output(self, *names: str) -> None:
        self.g.outputs.extend(names)

    def build(self) -> Graph:
        validate(self.g)
        return self.g
