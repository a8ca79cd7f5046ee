"""FULLY_CONNECTED -> kernels/fully_connected.h (pe x simd MVU; kernel parameters from edgefmr.ops.<op>)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, MacArray, acc_bits, hls_emitter
from edgefmr.ops.registry import OpCall


def dims(c: OpCall) -> MacArray:
    cols, depth = c.inp(1).shape
    return MacArray(c.inp(0).size // depth, cols, depth)


def fc_config(ctx: HlsContext, max_abs: int) -> tuple[str, str]:
    """Config fields shared by the FC-like kernels; returns the (weights, bias) ROM names."""
    cols, depth = ctx.params()["cols"], ctx.params()["depth"]
    ctx.take("rows", "depth", "cols", "output_zp", "act_min", "act_max", "mult", "shift")
    ctx.set(pe=ctx.folding.pe, simd=ctx.folding.simd, acc_bits=acc_bits(depth, max_abs))
    w = ctx.const(1)
    b = ctx.const(2, (cols,), "int32_t")
    return w, b


@hls_emitter("FULLY_CONNECTED", dims)
def emit(ctx: HlsContext) -> HlsEmitted:
    w, b = fc_config(ctx, 255 * 128)
    ctx.take("input_zp")
    return HlsEmitted(("fully_connected",), f"efm::fully_connected<P>({ctx.inp(0)}, {ctx.out()}, {w}, {b});")
