"""RESHAPE -> kernels/reshape.h: the elements in the same order (a stream copy)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


@hls_emitter("RESHAPE")
def emit(ctx: HlsContext) -> HlsEmitted:
    ctx.set(n=ctx.c.inp(0).size)
    return HlsEmitted(("reshape",), f"efm::reshape<P, {ctx.ctype(ctx.c.inp(0))}>({ctx.inp(0)}, {ctx.out()});")
