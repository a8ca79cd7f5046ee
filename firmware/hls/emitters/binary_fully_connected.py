"""BINARY_FULLY_CONNECTED -> kernels/binary_fully_connected.h (pe x simd array of selects and additions)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, MacArray, hls_emitter
from edgefmr.firmware.hls.emitters.fully_connected import fc_config
from edgefmr.ops.registry import OpCall


def dims(c: OpCall) -> MacArray:
    depth = c.inp(0).shape[-1]
    return MacArray(c.inp(0).size // depth, c.inp(1).shape[0], depth, "add")


@hls_emitter("BINARY_FULLY_CONNECTED", dims)
def emit(ctx: HlsContext) -> HlsEmitted:
    w, b = fc_config(ctx, 255)
    ctx.take("row_bytes", "input_zp")
    return HlsEmitted(("binary_fully_connected",),
                      f"efm::binary_fully_connected<P>({ctx.inp(0)}, {ctx.out()}, {w}, {b});")
