"""ADD -> kernels/add.h; `binary_emit` serves the four int8 broadcasting ops (layout and multipliers from
edgefmr.ops.elementwise.binary_params; an operand smaller than the output is stored by the kernel, the others
stream)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


def binary_requants(op: str) -> int:
    """Requantizations per element of an int8 binary op (its kernel's II: they share the layer's one unit)."""
    return 1 if op.lower() == "mul" else 3


def binary_emit(ctx: HlsContext, kernel: str) -> HlsEmitted:
    c = ctx.c
    ctx.take("ndim", "count", "stride_a", "stride_b", "a_zp", "b_zp", "output_zp", "left_shift", "a_mult", "a_shift",
             "b_mult", "b_shift", "out_mult", "out_shift", "act_min", "act_max")
    at, bt, yt = c.inp(0), c.inp(1), c.out()
    ctx.set(out_size=yt.size, a_size=max(at.size, 1), b_size=max(bt.size, 1), a_buffered=at.size != yt.size,
            b_buffered=bt.size != yt.size, requants=binary_requants(kernel))
    return HlsEmitted((kernel,), f"efm::{kernel}<P>({ctx.inp(0)}, {ctx.inp(1)}, {ctx.out()});")


@hls_emitter("ADD")
def emit(ctx: HlsContext) -> HlsEmitted:
    return binary_emit(ctx, "add")
