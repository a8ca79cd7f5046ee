"""LUT -> kernels/lut.h with the op's constant table (input 1); `table_call` serves every op whose kernel
parameters tabulate an 8-bit input (LOGISTIC, TANH, RSQRT, RELU, RELU6, QUANTIZE, DEQUANTIZE)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, array_ctype, hls_emitter


def is_table(ctx: HlsContext) -> bool:
    """True when the node's kernel parameters are a 256-entry lookup table (edgefmr.ops.params.table_params)."""
    return "table" in ctx.params()


def table_call(ctx: HlsContext, kernel: str) -> HlsEmitted:
    """y = table[x] with the table of the node's kernel parameters (made by the op's own reference kernel)."""
    values = ctx.params()["table"]
    ctype = array_ctype(values)
    tab = ctx.rom(values, ctype)
    ti, to = ctx.ctype(ctx.c.inp(0)), ctx.ctype(ctx.c.out())
    ctx.set(n=ctx.c.inp(0).size)
    return HlsEmitted((kernel, "lut"), f"efm::lut<P, {ti}, {to}, {ctype}>({ctx.inp(0)}, {ctx.out()}, {tab});")


@hls_emitter("LUT")
def emit(ctx: HlsContext) -> HlsEmitted:
    ti, to = ctx.ctype(ctx.c.inp(0)), ctx.ctype(ctx.c.out())
    ctx.set(n=ctx.c.inp(0).size)
    table = ctx.c.inp(1)
    tab = ctx.rom(np.asarray(table.data).view(np.uint8) if table.dtype == "int8" else table.data, "uint8_t")
    return HlsEmitted(("lut",), f"efm::lut<P, {ti}, {to}, uint8_t>({ctx.inp(0)}, {ctx.out()}, {tab});")
