"""GATHER -> kernels/gather.h (layout from edgefmr.ops.gather; params and indices stored by the kernel)."""

from __future__ import annotations

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


@hls_emitter("GATHER")
def emit(ctx: HlsContext) -> HlsEmitted:
    c = ctx.c
    xt, it = c.inp(0), c.inp(1)
    f = ctx.params()
    item = xt.nbytes // max(xt.size, 1)
    ctx.take("batch", "outer", "axis_size", "n_indices")
    ctx.set(inner=f["inner_bytes"] // max(item, 1), params_size=max(xt.size, 1), indices_size=max(it.size, 1))
    return HlsEmitted(("gather",), f"efm::gather<P, {ctx.ctype(xt)}, {ctx.ctype(it)}>({ctx.inp(0)}, {ctx.inp(1)}, "
                                   f"{ctx.out()});")
