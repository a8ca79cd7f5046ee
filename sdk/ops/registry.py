"""The op registry: each IR op is defined once, as an `OpDef` subclass in `edgefmr/ops/<op_name>.py`.

An op definition holds everything the host side knows about the op: its attributes (with their defaults and
the matching TFLite option field, if any), arity, type checks, shape inference, MAC count and the numpy integer
reference kernel. Code generators register their emitters by the same op name in their own stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from edgefmr.errors import IRError
from edgefmr.ops.discovery import import_submodules

if TYPE_CHECKING:  # the IR imports this module; keep the import one-way at run time
    import numpy as np

    from edgefmr.ir.graph import Graph, Node, Tensor


@dataclass(frozen=True)
class Attr:
    """An op attribute: default value, the TFLite options field it maps to, and the schema enum it uses."""

    default: Any
    tflite: str | None = None
    enum: str | None = None
    choices: tuple | None = None


class OpCall:
    """One node seen in its graph: the view every OpDef method receives."""

    def __init__(self, node: Node, graph: Graph, opdef: OpDef):
        self.node = node
        self.graph = graph
        self.opdef = opdef
        self.attrs = {k: node.attrs.get(k, a.default) for k, a in opdef.attrs.items()}

    def inp(self, i: int) -> Tensor | None:
        """The i-th input tensor, or None when it is absent."""
        names = self.node.inputs
        if i >= len(names) or not names[i]:
            return None
        return self.graph.tensor(names[i])

    def out(self, i: int = 0) -> Tensor:
        return self.graph.tensor(self.node.outputs[i])

    @property
    def where(self) -> str:
        return f"node {self.node.name or self.node.outputs[0]!r} ({self.node.op})"

    def fail(self, msg: str) -> IRError:
        return IRError(f"{self.where}: {msg}")


class OpDef:
    """Base class of an op definition. Subclasses set `name` and override what the op needs."""

    name: ClassVar[str]
    attrs: ClassVar[dict[str, Attr]] = {}
    n_inputs: ClassVar[tuple[int, int]] = (1, 1)
    n_outputs: ClassVar[int] = 1
    #: TFLite builtin options table name (e.g. "FullyConnectedOptions"), or None when the op has no options.
    tflite_options: ClassVar[str | None] = None
    #: TFLite builtin operator name, or None for ops TFLite does not have (default: the op's own name when TFLite
    #: has a builtin of that name).
    tflite_op: ClassVar[str | None] = None
    #: Input positions that must be constant tensors (weights, shape operands).
    const_inputs: ClassVar[tuple[int, ...]] = ()
    #: How the output depends on the inputs, which the scheduler's row fusion and the planner's aliasing rely on:
    #: "elementwise" (each output element from the same, numpy-broadcast, element of each data input), "row" (each
    #: row of the last axis from the same row of the first input), "view" (the first input's bytes unchanged) or
    #: "general" (anything else).
    access: ClassVar[str] = "general"
    #: The kernel may write its output over an input it is still reading (every output element is written after the
    #: input elements it depends on are read): true of the elementwise kernels.
    in_place: ClassVar[bool] = False
    #: (input position, output position) of a carried state (a streaming op's initial and final state) that every
    #: kernel of the op may write in place: the final state over the initial one (each element written after every
    #: read of the initial state it depends on). A streaming build then keeps the state in one persistent slot.
    state_in_place: ClassVar[tuple[tuple[int, int], ...]] = ()

    def check(self, c: OpCall) -> None:
        """Raise IRError (via c.fail) when dtypes, quantization or attributes are not supported."""

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        """Output shapes from the input shapes and attributes."""
        raise NotImplementedError

    def macs(self, c: OpCall) -> int:
        """Multiply-accumulates of one execution (0 for data movement and pointwise ops)."""
        return 0

    def op_counts(self, c: OpCall) -> dict[str, int]:
        """Arithmetic of one execution: multiplies and additions (default: each MAC is one of each)."""
        m = self.macs(c)
        return {"mults": m, "adds": m}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        """The integer reference kernel: inputs (None for absent ones) to outputs, bit for bit."""
        raise NotImplementedError


_REGISTRY: dict[str, OpDef] = {}


def register(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator adding an op definition to the registry."""
    if cls.name in _REGISTRY:
        raise RuntimeError(f"op {cls.name} defined twice")
    if "tflite_op" not in cls.__dict__:  # an op is the TFLite builtin of its name unless it says otherwise (None)
        cls.tflite_op = cls.name
    _REGISTRY[cls.name] = cls()
    return cls


def _load_all() -> None:
    """Import every module of edgefmr.ops once, so each op definition registers itself."""
    import_submodules("edgefmr.ops")


def get_op(name: str) -> OpDef:
    """The definition of op `name`; IRError listing the known ops otherwise."""
    _load_all()
    if name not in _REGISTRY:
        raise IRError(f"unknown op {name!r}; known ops: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def all_ops() -> dict[str, OpDef]:
    _load_all()
    return dict(_REGISTRY)


def call(node: Node, graph: Graph) -> OpCall:
    """The OpCall view of `node`, with arity and attribute names checked."""
    opdef = get_op(node.op)
    c = OpCall(node, graph, opdef)
    lo, hi = opdef.n_inputs
    if not lo <= len(node.inputs) <= hi:
        raise c.fail(f"takes {lo}..{hi} inputs, got {len(node.inputs)}")
    if len(node.outputs) != opdef.n_outputs:
        raise c.fail(f"has {opdef.n_outputs} outputs, got {len(node.outputs)}")
    unknown = set(node.attrs) - set(opdef.attrs)
    if unknown:
        raise c.fail(f"unknown attribute(s) {sorted(unknown)}; valid: {sorted(opdef.attrs) or 'none'}")
    for k, a in opdef.attrs.items():
        if a.choices is not None and c.attrs[k] not in a.choices:
            raise c.fail(f"attribute {k}={c.attrs[k]!r} is not one of {list(a.choices)}")
    for i in opdef.const_inputs:
        t = c.inp(i)
        if t is not None and not t.is_const:
            raise c.fail(f"input {i} ({t.name!r}) must be a constant tensor")
    return c
