"""CONCATENATION -> kernels/concatenation.c (parameters: edgefmr.ops.concatenation.kernel_params; uint8 inputs
with another quantization go through a table made by the op's own kernel)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.ops.concatenation import kernel_params


@emitter("CONCATENATION")
def emit(ctx: EmitContext) -> Emitted:
    c = ctx.c
    n = len(c.node.inputs)
    kp = kernel_params(c)
    ptrs = ", ".join(ctx.inp(i, "void") for i in range(n))
    tables = kp["tables"]
    tabs = "NULL"
    if any(t is not None for t in tables):
        tabs = ctx.ptr_array([ctx.array(t, "uint8_t") if t is not None else "NULL" for t in tables], "uint8_t")
    p = ctx.params("efm_concatenation_params", outer=kp["outer"], n_inputs=kp["n_inputs"],
                   chunk_bytes=ctx.array(kp["chunk_bytes"], "int32_t"), tables=tabs)
    return Emitted(f"{{ const void *const inputs[{n}] = {{{ptrs}}}; efm_concatenation({p}, inputs, "
                   f"{ctx.out(0, 'void')}); }}", ("concatenation",), inplace=tuple(range(n)))
