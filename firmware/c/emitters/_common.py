"""Helpers shared by the C emitters. The parameter helpers live in edgefmr.ops.params (both backends use them) and
are re-exported here for the emitters that import them from this module."""

from __future__ import annotations

from typing import Any

from edgefmr.ops.params import (
    act_range,
    affine_view,
    broadcast_strides,
    byte_table,
    contiguous_strides,
    merge_axes,
    per_channel,
    probe,
    strided_view,
)

__all__ = ["act_range", "affine_view", "broadcast_strides", "byte_table", "contiguous_strides", "merge_axes",
           "per_channel", "probe", "strided_view_params"]


def strided_view_params(ctx: Any, start_counts_strides: tuple[int, list[int], list[int]], elem_size: int,
                        max_dims: int = 8) -> tuple[int, dict]:
    """(start, efm_strided_view fields) of a strided selection, with mergeable axes merged (edgefmr.ops.params.
    strided_view); ctx.fail() when it needs more than `max_dims` axes."""
    try:
        return strided_view(start_counts_strides, elem_size, max_dims)
    except ValueError as e:
        raise ctx.fail(str(e)) from None
