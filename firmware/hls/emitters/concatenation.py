"""CONCATENATION -> kernels/concatenation.h: per outer block, each input's chunk straight from its stream (chunk
sizes and uint8 rescaling tables from edgefmr.ops.concatenation)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.hls.emitters import HlsContext, HlsEmitted, hls_emitter


@hls_emitter("CONCATENATION")
def emit(ctx: HlsContext) -> HlsEmitted:
    c = ctx.c
    p = ctx.params()
    y = c.out()
    item = np.dtype(y.dtype).itemsize if y.dtype != "bool" else 1
    chunks = [int(b) // item for b in p["chunk_bytes"]]
    t = ctx.ctype(y)
    lines = [f"for (int o = 0; o < {p['outer']}; o++) {{"]
    for i, n in enumerate(chunks):
        table = p["tables"][i]  # a 256-entry rescaling table for a uint8 input quantized unlike the output
        if table is not None:
            tab = ctx.rom(table, "uint8_t")
            lines.append(f"    efm::concat_chunk<{t}, {n}, true>({ctx.inp(i)}, {ctx.out()}, {tab});")
        else:
            lines.append(f"    efm::concat_chunk<{t}, {n}, false>({ctx.inp(i)}, {ctx.out()}, efm_no_table);")
    lines.append("}")
    ctx.set(outer=p["outer"], n_inputs=len(chunks))
    return HlsEmitted(("concatenation",), "\n".join(lines))
