"""LOGISTIC, TANH, RSQRT -> kernels/lut.c with the op's own 256-entry table (edgefmr.ops.<op>.table)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter


def table_call(ctx: EmitContext) -> Emitted:
    c = ctx.c
    table = c.opdef.table(c).view("uint8")
    t = ctx.array(table, "uint8_t")
    return Emitted(f"efm_lut_s8_to8({c.inp(0).size}, {t}, {ctx.inp(0)}, {ctx.out(0, 'uint8_t')});", ("lut",),
                   inplace=(0,))


@emitter("LOGISTIC")
def emit(ctx: EmitContext) -> Emitted:
    return table_call(ctx)
