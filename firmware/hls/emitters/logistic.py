"""LOGISTIC -> kernels/logistic.h: the op's 256-entry table (edgefmr.ops.logistic's kernel_params),
looked up."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.lut import table_call


@hls_emitter("LOGISTIC")
def emit(ctx: HlsContext) -> HlsEmitted:
    return table_call(ctx, "logistic")
