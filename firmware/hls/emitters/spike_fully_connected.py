"""SPIKE_FULLY_CONNECTED -> kernels/spike_fully_connected.h (pe x simd array of selects and additions)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, MacArray, hls_emitter
from edgefmr.firmware.hls.emitters.fully_connected import fc_config
from edgefmr.ops.registry import OpCall


def dims(c: OpCall) -> MacArray:
    cols, depth = c.inp(1).shape
    return MacArray(c.inp(0).size // depth, cols, depth, "add")


@hls_emitter("SPIKE_FULLY_CONNECTED", dims)
def emit(ctx: HlsContext) -> HlsEmitted:
    w, b = fc_config(ctx, 128)
    return HlsEmitted(("spike_fully_connected",),
                      f"efm::spike_fully_connected<P, {ctx.ctype(ctx.c.inp(0))}>({ctx.inp(0)}, {ctx.out()}, {w}, {b});")
