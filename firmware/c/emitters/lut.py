"""LUT -> kernels/lut.c with the op's constant table (input 1)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter


@emitter("LUT")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    return Emitted(f"efm_lut_s8_to8({c.inp(0).size}, {ctx.inp(1, 'uint8_t')}, {ctx.inp(0)}, "
                   f"{ctx.out(0, 'uint8_t')});", ("lut",), inplace=(0,))
