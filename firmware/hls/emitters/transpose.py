"""TRANSPOSE -> kernels/transpose.h; `view_emit` serves STRIDED_SLICE too: the strided view the C emitter found by
running the op's own kernel on element indices."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter
from edgefmr.firmware.hls.emitters._common import first_int


def view_emit(ctx: HlsContext, kernel: str) -> HlsEmitted:
    c = ctx.c
    ctx.take("ndim", "count", "stride")
    start = first_int(ctx.captured().call) if kernel == "strided_slice" else 0
    ctx.set(start=start, in_size=max(c.inp(0).size, 1), out_size=c.out().size)
    return HlsEmitted((kernel,), f"efm::{kernel}<P, {ctx.ctype(c.inp(0))}>({ctx.inp(0)}, {ctx.out()});")


@hls_emitter("TRANSPOSE")
def emit(ctx: HlsContext) -> HlsEmitted:
    return view_emit(ctx, "transpose")
