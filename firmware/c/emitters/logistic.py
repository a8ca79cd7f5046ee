"""LOGISTIC, TANH, RSQRT -> kernels/lut.c with the op's own 256-entry table (edgefmr.ops.<op>.table)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.params import kernel_params


def table_call(ctx: EmitContext) -> Emitted:
    """efm_lut_s8_to8 with the node's kernel_params (LOGISTIC, TANH, RSQRT: n and the op's own 256-entry table)."""
    kp = kernel_params(ctx.c)
    t = ctx.array(kp["table"], "uint8_t")
    return Emitted(f"efm_lut_s8_to8({kp['n']}, {t}, {ctx.inp(0)}, {ctx.out(0, 'uint8_t')});", ("lut",),
                   inplace=(0,))


@emitter("LOGISTIC")
def emit(ctx: EmitContext) -> Emitted:
    return table_call(ctx)
