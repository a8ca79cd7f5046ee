"""Per-op C emitters, registered by IR op name and discovered like `edgefmr.ops` (one module per op).

An emitter receives an `EmitContext` (the node's OpCall and helpers that place constant arrays and the parameter
struct in the generated model.c) and returns an `Emitted`: the C call of the layer, the kernels it needs and
which inputs its output may alias exactly (kernels that are safe in place). Every quantization parameter is
computed here, once, at generation time, with the same `edgefmr.ops` functions the reference interpreter uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ir.graph import Graph, Node, Tensor
from edgefmr.ops.discovery import import_submodules
from edgefmr.ops.registry import OpCall, call

#: C element type of each IR dtype.
C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
           "float32": "float", "bool": "uint8_t"}


@dataclass
class Emitted:
    """What one layer contributes to model.c."""

    call: str  # C statement(s) run by efm_run_layer for this node
    kernels: tuple[str, ...]  # kernel names: kernels/<name>.c (+ .h and what they include)
    #: inputs an output may occupy at exactly the same address: input positions (for output 0) or (input, output)
    inplace: tuple[int | tuple[int, int], ...] = ()


class EmitContext:
    """Helpers for one node: pointer expressions of its tensors, constant arrays and the parameter struct."""

    def __init__(self, owner: Any, c: OpCall, layer: int, pointers: dict[str, tuple[str, bool]] | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self._owner = owner
        self.c = c
        self.layer = layer
        #: tensor name -> (C expression of a pointer of the tensor's own element type, points to const data);
        #: fused steps use it to hand a kernel a row block, a head's weights or a scratch buffer.
        self.pointers = pointers or {}
        self.options = options or {}

    def option(self, key: str, default: Any) -> Any:
        """A layout option a fused step passes to the emitter (e.g. the output row stride), else `default`."""
        return self.options.get(key, default)

    def ptr(self, t: Tensor | None, ctype: str | None = None) -> str:
        """C pointer expression of tensor `t` (arena address or flash array), typed `ctype *` ("NULL" if absent)."""
        if t is None:
            return "NULL"
        want = ctype or C_TYPES[t.dtype]
        if t.name in self.pointers:
            expr, const = self.pointers[t.name]
            if want == C_TYPES[t.dtype]:
                return expr
            q = "const " if const else ""
            return f"(({q}{want} *)({q}void *)({expr}))"
        return self._owner.tensor_ptr(t, want)

    def inp(self, i: int, ctype: str | None = None) -> str:
        return self.ptr(self.c.inp(i), ctype)

    def out(self, i: int = 0, ctype: str | None = None) -> str:
        return self.ptr(self.c.out(i), ctype)

    def array(self, values: np.ndarray | list, ctype: str) -> str:
        """Name of a `static const ctype[]` in flash holding `values` (identical arrays are shared)."""
        return self._owner.const_array(np.asarray(values), ctype)

    def ptr_array(self, exprs: list[str], ctype: str = "void") -> str:
        """Name of a `static const ctype *const[]` holding the pointer expressions `exprs` (NULL allowed)."""
        return self._owner.pointer_array(exprs, ctype)

    @property
    def lean(self) -> bool:
        """Whether the plan chose this node's smaller-scratch kernel variant (see `scratch_bytes`)."""
        return node_key(self.c.node) in self.option("lean", frozenset())

    def scratch(self, ctype: str = "int32_t") -> str:
        """Pointer (ctype *) to the kernel scratch the planner reserved for this node (see `scratch_bytes`)."""
        return self._owner.kernel_scratch(self.layer, self.c.node, ctype)

    def params(self, ctype: str, **fields: Any) -> str:
        """Address of this layer's `static const ctype` parameter struct, initialized with `fields`.

        Values: int, float, str (a C expression, e.g. an array name) or a list of ints (a C array member).
        """
        return self._owner.param_struct(self.layer, ctype, fields)

    def param_fields(self, ctype: str, kernel_params: dict[str, Any], **overrides: Any) -> str:
        """`params` of the op's kernel parameters (edgefmr.ops.params: fields by the struct's names): numpy arrays
        become flash arrays of their element type, None becomes NULL; `overrides` replace fields (e.g. a fused
        step's row stride)."""
        fields: dict[str, Any] = {}
        for k, v in {**kernel_params, **overrides}.items():
            if isinstance(v, np.ndarray):
                fields[k] = self.array(v, "uint32_t" if v.dtype == np.uint32 else C_TYPES[str(v.dtype)])
            else:
                fields[k] = "NULL" if v is None else v
        return self.params(ctype, **fields)

    def fail(self, msg: str) -> EdgefmrError:
        return EdgefmrError(f"{self.c.where}: C backend: {msg}")


EmitFn = Callable[[EmitContext], Emitted]
ScratchFn = Callable[[OpCall, frozenset, bool], int]
PathFn = Callable[[OpCall, frozenset], str]
_EMITTERS: dict[str, EmitFn] = {}
_SCRATCH: dict[str, ScratchFn] = {}
_PATHS: dict[str, PathFn] = {}


def emitter(op: str) -> Callable[[EmitFn], EmitFn]:
    """Decorator registering the C emitter of IR op `op`."""

    def deco(fn: EmitFn) -> EmitFn:
        if op in _EMITTERS:
            raise RuntimeError(f"C emitter for {op} registered twice")
        _EMITTERS[op] = fn
        return fn

    return deco


def scratch_bytes(op: str) -> Callable[[ScratchFn], ScratchFn]:
    """Decorator registering how many scratch bytes the kernel of `op` needs for a node (reserved by the planner):
    fn(call, arm kernels, lean) -> bytes; `lean`: the kernel's smaller-scratch variant (the same where it has none;
    the emitter reads the choice from the `lean` option)."""

    def deco(fn: ScratchFn) -> ScratchFn:
        _SCRATCH[op] = fn
        return fn

    return deco


def kernel_path(op: str) -> Callable[[PathFn], PathFn]:
    """Decorator registering which code path the kernel of `op` runs for a node, named at build time from the same
    rule the emitter follows: fn(call, arm kernels) -> a short name ("portable" where the node runs the portable
    loop). Ops with one path register none. The latency model (edgefmr.profiling.calibration) keys its fitted
    coefficients by it."""

    def deco(fn: PathFn) -> PathFn:
        _PATHS[op] = fn
        return fn

    return deco


def node_path(c: OpCall, arm: frozenset) -> str:
    """The registered kernel_path of node call `c` with the Cortex-M kernels `arm` ("" for ops with one path)."""
    all_emitters()
    fn = _PATHS.get(c.node.op)
    return fn(c, arm) if fn is not None else ""


def node_key(node: Node) -> str:
    """How plans and scratch tables name a node: its name, else its first output."""
    return node.name or node.outputs[0]


def kernel_scratch(g: Graph, arm: frozenset = frozenset(), lean: frozenset = frozenset()) -> dict[str, int]:
    """Scratch bytes per node (node_key) for the planner's `scratch` argument; `arm` names the kernels built in
    their Cortex-M variants (some need scratch the portable ones do not); the nodes in `lean` use their kernel's
    smaller-scratch variant."""

    all_emitters()
    out: dict[str, int] = {}
    for node in g.nodes:
        fn = _SCRATCH.get(node.op)
        if fn is not None:
            n = int(fn(call(node, g), arm, node_key(node) in lean))
            if n:
                out[node_key(node)] = n
    return out


def lean_savings(g: Graph, arm: frozenset) -> dict[str, int]:
    """Nodes whose kernel has a smaller-scratch variant with the kernels `arm`: node_key -> bytes it saves."""
    full, lean = kernel_scratch(g, arm), kernel_scratch(g, arm, frozenset(node_key(n) for n in g.nodes))
    return {k: v - lean.get(k, 0) for k, v in full.items() if lean.get(k, 0) < v}


def _load_all() -> None:
    import_submodules("edgefmr.firmware.c.emitters")


def all_emitters() -> dict[str, EmitFn]:
    _load_all()
    return dict(_EMITTERS)


def get_emitter(op: str) -> EmitFn:
    """The emitter of `op`; EdgefmrError listing the ops the C backend supports otherwise."""
    table = all_emitters()
    if op not in table:
        raise EdgefmrError(f"the C backend has no kernel for op {op}; supported: {', '.join(sorted(table))}")
    return table[op]
