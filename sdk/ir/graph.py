"""The integer graph: tensors (shape, dtype, quantization, optional constant data) and nodes in execution order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgefmr.errors import IRError

#: IR dtype names and their numpy types.
DTYPES: dict[str, type] = {
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "float32": np.float32,
    "bool": np.bool_,
}


def np_dtype(name: str) -> np.dtype:
    """The numpy dtype of an IR dtype name."""
    if name not in DTYPES:
        raise IRError(f"unknown dtype {name!r}; valid: {', '.join(DTYPES)}")
    return np.dtype(DTYPES[name])


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per-axis when there is more than one scale."""

    scale: list[float]
    zero_point: list[int]
    axis: int = 0

    def __post_init__(self) -> None:
        # Scales are float32 in TFLite files and kernels; keep exactly those values.
        self.scale = [float(np.float32(s)) for s in self.scale]
        self.zero_point = [int(z) for z in self.zero_point]
        if len(self.scale) != len(self.zero_point) or not self.scale:
            raise IRError(f"quantization needs as many zero points as scales (got {self.scale}, {self.zero_point})")

    @property
    def per_axis(self) -> bool:
        return len(self.scale) > 1

    def scale_array(self, ndim: int) -> np.ndarray:
        """Scales as float64, broadcastable against a tensor of `ndim` dimensions."""
        s = np.asarray(self.scale, np.float64)
        if not self.per_axis:
            return s.reshape(())
        shape = [1] * ndim
        shape[self.axis] = len(s)
        return s.reshape(shape)

    def zp_array(self, ndim: int) -> np.ndarray:
        """Zero points as int64, broadcastable like `scale_array`."""
        z = np.asarray(self.zero_point, np.int64)
        if not self.per_axis:
            return z.reshape(())
        shape = [1] * ndim
        shape[self.axis] = len(z)
        return z.reshape(shape)


@dataclass
class Tensor:
    """A named tensor; `data` is set for constants (weights, biases, shape operands)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np_dtype(self.dtype).itemsize

    @property
    def scale(self) -> float:
        """The per-tensor scale (an error for unquantized or per-axis tensors)."""
        if self.quant is None or self.quant.per_axis:
            raise IRError(f"tensor {self.name!r} has no per-tensor quantization")
        return float(self.quant.scale[0])

    @property
    def zero_point(self) -> int:
        if self.quant is None:
            return 0
        if self.quant.per_axis:
            raise IRError(f"tensor {self.name!r} is per-axis quantized")
        return int(self.quant.zero_point[0])


@dataclass
class Node:
    """One operator: inputs and outputs are tensor names ('' marks an absent optional input)."""

    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    name: str = ""


@dataclass
class Graph:
    """A whole model: tensors by name, nodes in execution order, graph inputs and outputs."""

    tensors: dict[str, Tensor] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise IRError(f"no tensor named {name!r}") from None

    def producers(self) -> dict[str, int]:
        """Tensor name -> index of the node that writes it."""
        return {t: i for i, n in enumerate(self.nodes) for t in n.outputs}

    def consumers(self) -> dict[str, list[int]]:
        """Tensor name -> indices of the nodes that read it."""
        out: dict[str, list[int]] = {}
        for i, n in enumerate(self.nodes):
            for t in n.inputs:
                if t:
                    out.setdefault(t, []).append(i)
        return out

    def weight_bytes(self) -> int:
        """Bytes of all constant tensors."""
        return sum(t.nbytes for t in self.tensors.values() if t.is_const)

    def param_count(self) -> int:
        return sum(t.size for t in self.tensors.values() if t.is_const)
