"""RELU -> kernels/relu.h: a table lookup for 8-bit tensors, the int16 requantizing kernel otherwise (both
parameterized by edgefmr.ops.relu.relu_params)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.lut import is_table, table_call


def relu_emit(ctx: HlsContext, kernel: str) -> HlsEmitted:
    if is_table(ctx):
        return table_call(ctx, kernel)
    ctx.take("n", "input_zp", "output_zp", "mult", "shift", "lo", "hi")
    return HlsEmitted((kernel,), f"efm::relu_s16<P>({ctx.inp(0)}, {ctx.out()});")


@hls_emitter("RELU")
def emit(ctx: HlsContext) -> HlsEmitted:
    return relu_emit(ctx, "relu")
