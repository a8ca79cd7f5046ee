"""HASH_ATTENTION -> kernels/hash_attention.h, XNOR/popcount form (shape, zero points and multiplier from
edgefmr.ops.hash_attention)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


@hls_emitter("HASH_ATTENTION")
def emit(ctx: HlsContext) -> HlsEmitted:
    if ctx.c.attrs["v_perm"] is not None or ctx.c.attrs["y_perm"] is not None:
        raise ValueError("HASH_ATTENTION with folded transposes (v_perm / y_perm) is a C-build form; the HLS "
                         "backend takes the graph with its TRANSPOSE nodes")
    ctx.take("batch", "n_queries", "n_keys", "depth", "bits", "packed", "code_bytes", "q_zp", "k_zp", "v_zp",
             "output_zp", "mult", "shift")
    f = ctx.params()
    # packed codes are stored as they come; int8 codes become one bit each
    ctx.set(bit_bytes=f["code_bytes"] if f["packed"] else (f["code_bytes"] + 7) // 8)
    tc = ctx.ctype(ctx.c.inp(0))
    return HlsEmitted(("hash_attention",), f"efm::hash_attention<P, {tc}>({ctx.inp(0)}, {ctx.inp(1)}, "
                                           f"{ctx.inp(2)}, {ctx.out()});")
