"""The schema of `model.json` in an `.efm` file: every field's type, range, finiteness and references, checked
before anything is built from the document.

An error names the file, the JSON path of the field (`$.tensors[3].quant.scale[0]`) and what is valid, so a
damaged or hand-edited file gives one line instead of a traceback deep in a kernel or the C compiler.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

from edgefmr.errors import IRError
from edgefmr.ir.graph import DTYPES
from edgefmr.ops.registry import all_ops

#: keys of the document, a tensor, its quantization and a node (anything else is an error)
DOC_KEYS = {"format", "version", "metadata", "inputs", "outputs", "tensors", "nodes"}
TENSOR_KEYS = {"name", "shape", "dtype", "quant", "data"}
QUANT_KEYS = {"scale", "zero_point", "axis"}
NODE_KEYS = {"name", "op", "inputs", "outputs", "attrs"}
#: metadata keys edgefmr itself reads, and their types (other keys are free)
METADATA_TYPES: dict[str, type | tuple[type, ...]] = {"name": str, "attention_tags": dict, "binarized": list,
                                                       "mlperf_model": str}
#: the most elements one tensor may have (sizes are 32-bit in the generated C)
MAX_ELEMENTS = 2**31 - 1
MAX_RANK = 8
FLOAT32_MAX = float(np.finfo(np.float32).max)


class SchemaError(IRError):
    """A field of model.json that does not fit the schema."""


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else ("Infinity" if math.isinf(v) else "a number")
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _show(v: Any) -> str:
    s = repr(v) if not isinstance(v, float) or math.isfinite(v) else _kind(v)
    return s if len(s) <= 40 else s[:37] + "..."


class _Checker:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, msg: str) -> SchemaError:
        return SchemaError(f"{self.where}: model.json {path}: {msg}")

    def obj(self, v: Any, path: str, keys: Collection[str] | None = None, required: Collection[str] = ()) -> dict:
        if not isinstance(v, dict):
            raise self.fail(path, f"is {_kind(v)}; valid: an object")
        for k in required:
            if k not in v:
                raise self.fail(path, f"missing key {k!r}")
        if keys is not None:
            unknown = sorted(set(v) - set(keys))
            if unknown:
                raise self.fail(path, f"unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(keys))}")
        return v

    def lst(self, v: Any, path: str, non_empty: bool = False) -> list:
        if not isinstance(v, list):
            raise self.fail(path, f"is {_kind(v)}; valid: a list")
        if non_empty and not v:
            raise self.fail(path, "is empty; valid: a non-empty list")
        return v

    def string(self, v: Any, path: str, non_empty: bool = True) -> str:
        if not isinstance(v, str):
            raise self.fail(path, f"is {_kind(v)} ({_show(v)}); valid: a string")
        if non_empty and not v:
            raise self.fail(path, "is an empty string; valid: a non-empty name")
        return v

    def integer(self, v: Any, path: str, lo: int | None = None, hi: int | None = None, what: str = "") -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(path, f"is {_kind(v)} ({_show(v)}); valid: an integer{what}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f"{lo} … {hi}" if lo is not None and hi is not None else (f"≥ {lo}" if lo is not None
                                                                              else f"≤ {hi}")
            raise self.fail(path, f"is {v}; valid: an integer {rng}{what}")
        return v

    def number(self, v: Any, path: str, positive: bool = False, what: str = "") -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(path, f"is {_kind(v)} ({_show(v)}); valid: a finite number{what}")
        if not math.isfinite(v):
            raise self.fail(path, f"is {_kind(v)}; valid: a finite number{what}")
        if positive and not (0 < v < FLOAT32_MAX and float(np.float32(v)) > 0):
            raise self.fail(path, f"is {_show(v)}; valid: a positive number representable in float32{what}")
        return float(v)


def check_document(doc: Any, arrays: Collection[int], where: str) -> None:
    """Raise SchemaError (an IRError) for the first field of `doc` that does not fit the schema; `arrays` are the
    indices of the constant arrays the file holds."""
    ck = _Checker(where)
    ck.obj(doc, "$", DOC_KEYS, ("format", "version", "tensors", "nodes", "inputs", "outputs"))
    md = ck.obj(doc.get("metadata", {}), "$.metadata")
    for k, t in METADATA_TYPES.items():
        if k in md and not isinstance(md[k], t):
            raise ck.fail(f"$.metadata.{k}", f"is {_kind(md[k])}; valid: {_kind(t())}")
    names: dict[str, str] = {}
    tensors = ck.lst(doc["tensors"], "$.tensors")
    for i, td in enumerate(tensors):
        p = f"$.tensors[{i}]"
        ck.obj(td, p, TENSOR_KEYS, ("name", "shape", "dtype"))
        name = ck.string(td["name"], f"{p}.name")
        if name in names:
            raise ck.fail(f"{p}.name", f"{name!r} is also the name of {names[name]}; valid: a unique name")
        names[name] = p
        _check_tensor(ck, td, p, arrays)
    consts = {td["name"] for td in tensors if td.get("data") is not None}
    for key in ("inputs", "outputs"):  # a graph of constants has no inputs; every graph has outputs
        lst = ck.lst(doc[key], f"$.{key}", non_empty=key == "outputs")
        for j, n in enumerate(lst):
            ck.string(n, f"$.{key}[{j}]")
            if n not in names:
                raise ck.fail(f"$.{key}[{j}]", f"tensor {n!r} does not exist; valid: a name from $.tensors")
            if n in consts:
                raise ck.fail(f"$.{key}[{j}]", f"tensor {n!r} is a constant; valid: a computed tensor")
            if lst.index(n) != j:
                raise ck.fail(f"$.{key}[{j}]", f"tensor {n!r} is listed twice")
    ops = all_ops()
    for i, nd in enumerate(ck.lst(doc["nodes"], "$.nodes")):
        p = f"$.nodes[{i}]"
        ck.obj(nd, p, NODE_KEYS, ("op", "inputs", "outputs"))
        if "name" in nd:
            ck.string(nd["name"], f"{p}.name", non_empty=False)
        op = ck.string(nd["op"], f"{p}.op")
        if op not in ops:
            raise ck.fail(f"{p}.op", f"unknown op {op!r}; valid: {', '.join(sorted(ops))}")
        for key in ("inputs", "outputs"):
            for j, n in enumerate(ck.lst(nd[key], f"{p}.{key}", non_empty=key == "outputs")):
                ck.string(n, f"{p}.{key}[{j}]", non_empty=key == "outputs")
                if n and n not in names:
                    raise ck.fail(f"{p}.{key}[{j}]", f"tensor {n!r} does not exist; valid: a name from $.tensors")
        attrs = ck.obj(nd.get("attrs", {}), f"{p}.attrs", ops[op].attrs.keys())
        for k, v in attrs.items():
            _check_attr(ck, ops[op].attrs[k], v, f"{p}.attrs.{k}")


def _check_tensor(ck: _Checker, td: dict, p: str, arrays: Collection[int]) -> None:
    dtype = ck.string(td["dtype"], f"{p}.dtype")
    if dtype not in DTYPES:
        raise ck.fail(f"{p}.dtype", f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    shape = ck.lst(td["shape"], f"{p}.shape")
    if len(shape) > MAX_RANK:
        raise ck.fail(f"{p}.shape", f"has {len(shape)} dimensions; valid: at most {MAX_RANK}")
    for j, d in enumerate(shape):
        ck.integer(d, f"{p}.shape[{j}]", 0, MAX_ELEMENTS)
    if math.prod(shape) > MAX_ELEMENTS:
        raise ck.fail(f"{p}.shape", f"{shape} has {math.prod(shape):,} elements; valid: at most {MAX_ELEMENTS:,}")
    if td.get("data") is not None:
        k = ck.integer(td["data"], f"{p}.data", 0, None, " (an array index)")
        if k not in arrays:
            raise ck.fail(f"{p}.data", f"array {k} is not in the file (arrays/{k}.npy); valid: "
                                       f"{', '.join(map(str, sorted(arrays))) or 'none: the file holds no arrays'}")
    q = td.get("quant")
    if q is None:
        return
    ck.obj(q, f"{p}.quant", QUANT_KEYS, ("scale", "zero_point"))
    scales = ck.lst(q["scale"], f"{p}.quant.scale", non_empty=True)
    for j, s in enumerate(scales):
        ck.number(s, f"{p}.quant.scale[{j}]", positive=True)
    zps = ck.lst(q["zero_point"], f"{p}.quant.zero_point", non_empty=True)
    if np.issubdtype(np.dtype(DTYPES[dtype]), np.integer):
        info = np.iinfo(DTYPES[dtype])
        lo, hi, what = int(info.min), int(info.max), f" (in the range of {dtype})"
    else:
        lo, hi, what = -(2**31), 2**31 - 1, ""
    for j, z in enumerate(zps):
        ck.integer(z, f"{p}.quant.zero_point[{j}]", lo, hi, what)
    if len(zps) != len(scales):
        raise ck.fail(f"{p}.quant", f"{len(scales)} scales and {len(zps)} zero points; valid: as many of each")
    if "axis" in q:
        ck.integer(q["axis"], f"{p}.quant.axis", 0, max(len(shape) - 1, 0), f" (an axis of shape {shape})")
    if len(scales) > 1:
        axis = q.get("axis", 0)
        if not shape or shape[axis] != len(scales):
            raise ck.fail(f"{p}.quant.scale", f"{len(scales)} per-axis scales do not fit axis {axis} of shape "
                                              f"{shape}; valid: one scale, or one per element of that axis")


def _check_attr(ck: _Checker, a: Any, v: Any, path: str) -> None:
    """Type of an attribute from its default (bool, int, float, str); choices when the op lists them."""
    d = a.default
    if a.choices is not None:
        if not any(v == c and type(v) is type(c) for c in a.choices):
            raise ck.fail(path, f"is {_show(v)}; valid: one of {', '.join(map(repr, a.choices))}")
        return
    if isinstance(d, bool):
        if not isinstance(v, bool):
            raise ck.fail(path, f"is {_kind(v)} ({_show(v)}); valid: true or false")
    elif isinstance(d, int):
        ck.integer(v, path, -(2**31), 2**31 - 1)
    elif isinstance(d, float):
        ck.number(v, path)
    elif isinstance(d, str):
        ck.string(v, path, non_empty=False)
    elif d is None:
        _check_free(ck, v, path)


def _check_free(ck: _Checker, v: Any, path: str) -> None:
    """Attributes without a typed default (tensor names, shapes, permutations): JSON values with finite numbers."""
    if isinstance(v, float) and not math.isfinite(v):
        raise ck.fail(path, f"is {_kind(v)}; valid: a finite number")
    if isinstance(v, list):
        for j, x in enumerate(v):
            _check_free(ck, x, f"{path}[{j}]")
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_free(ck, x, f"{path}.{k}")
