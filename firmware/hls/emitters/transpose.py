"""TRANSPOSE -> kernels/transpose.h; `view_emit` serves STRIDED_SLICE too: the strided view that
edgefmr.ops.params.index_view_params finds by running the op's own kernel on element indices."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


def view_emit(ctx: HlsContext, kernel: str) -> HlsEmitted:
    c = ctx.c
    ctx.take("ndim", "count", "stride")
    ctx.set(start=ctx.params()["start"], in_size=max(c.inp(0).size, 1), out_size=c.out().size)
    return HlsEmitted((kernel,), f"efm::{kernel}<P, {ctx.ctype(c.inp(0))}>({ctx.inp(0)}, {ctx.out()});")


@hls_emitter("TRANSPOSE")
def emit(ctx: HlsContext) -> HlsEmitted:
    return view_emit(ctx, "transpose")
