"""HASH_ENCODE -> kernels/hash_encode.h (shapes and zero point from edgefmr.ops.hash_encode; the anchors, feature
table, projection and offsets as ROMs)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


@hls_emitter("HASH_ENCODE")
def emit(ctx: HlsContext) -> HlsEmitted:
    ctx.take("batch", "tokens", "heads", "depth", "anchors", "bits", "radius", "code_bytes", "x_zp")
    a, t, p, o = (ctx.const(i) for i in range(1, 5))
    return HlsEmitted(("hash_encode",), f"efm::hash_encode<P>({ctx.inp(0)}, {ctx.out()}, {a}, {t}, {p}, {o});")
