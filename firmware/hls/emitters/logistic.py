"""LOGISTIC -> kernels/logistic.h: the op's 256-entry table (made by the C emitter from edgefmr.ops.logistic),
looked up."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters.lut import table_call


@hls_emitter("LOGISTIC")
def emit(ctx: HlsContext) -> HlsEmitted:
    return table_call(ctx, "logistic")
