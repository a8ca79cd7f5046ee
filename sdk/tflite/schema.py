"""The TFLite flatbuffer schema (object API) as shipped by ai-edge-litert, plus name <-> code tables."""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as S  # noqa: N812

#: IR dtype -> TFLite TensorType code.
DTYPE_TO_TFL = {
    "float32": S.TensorType.FLOAT32,
    "int32": S.TensorType.INT32,
    "uint8": S.TensorType.UINT8,
    "int64": S.TensorType.INT64,
    "bool": S.TensorType.BOOL,
    "int16": S.TensorType.INT16,
    "int8": S.TensorType.INT8,
}
TFL_TO_DTYPE = {v: k for k, v in DTYPE_TO_TFL.items()}


def enum_names(enum_cls: type) -> dict[int, str]:
    """Value -> name of a schema enum class."""
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


TFL_TYPE_NAMES = enum_names(S.TensorType)
BUILTIN_NAMES = enum_names(S.BuiltinOperator)


def enum_value(enum: str, name: str) -> int:
    return getattr(getattr(S, enum), name)


def enum_name(enum: str, value: int) -> str:
    return enum_names(getattr(S, enum))[value]
