"""TANH -> kernels/tanh.h: the op's 256-entry table (edgefmr.ops.tanh's kernel_params),
looked up."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.lut import table_call


@hls_emitter("TANH")
def emit(ctx: HlsContext) -> HlsEmitted:
    return table_call(ctx, "tanh")
