"""CONCATENATION -> kernels/concatenation.h: per outer block, each input's chunk straight from its stream (chunk
sizes and uint8 rescaling tables from the C emitter)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


@hls_emitter("CONCATENATION")
def emit(ctx: HlsContext) -> HlsEmitted:
    c = ctx.c
    cap = ctx.captured()
    y = c.out()
    item = np.dtype(y.dtype).itemsize if y.dtype != "bool" else 1
    chunks = [int(b) // item for b in np.asarray(cap.value("chunk_bytes")).ravel()]
    # The C emitter places one 256-entry table per uint8 input quantized differently from the output, in order.
    tables = [ar for ar, ct in cap.arrays if ct == "uint8_t"]
    rescaled = [y.dtype == "uint8" and (c.inp(i).scale, c.inp(i).zero_point) != (y.scale, y.zero_point)
                for i in range(len(chunks))]
    t = ctx.ctype(y)
    lines = [f"for (int o = 0; o < {cap.fields['outer']}; o++) {{"]
    k = 0
    for i, n in enumerate(chunks):
        if rescaled[i]:
            tab, k = ctx.rom(tables[k], "uint8_t"), k + 1
            lines.append(f"    efm::concat_chunk<{t}, {n}, true>({ctx.inp(i)}, {ctx.out()}, {tab});")
        else:
            lines.append(f"    efm::concat_chunk<{t}, {n}, false>({ctx.inp(i)}, {ctx.out()}, efm_no_table);")
    lines.append("}")
    ctx.set(outer=cap.fields["outer"], n_inputs=len(chunks))
    return HlsEmitted(("concatenation",), "\n".join(lines))
