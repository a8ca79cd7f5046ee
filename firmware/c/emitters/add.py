"""ADD, SUB, MUL, SQUARED_DIFFERENCE -> kernels/<op>.c, broadcasting through per-input strides (kernels/binary.h)."""

from __future__ import annotations

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter
from edgefmr.firmware.c.emitters._common import act_range, broadcast_strides, merge_axes
from edgefmr.ops.add import LEFT_SHIFT, output_multiplier
from edgefmr.ops.elementwise import smaller_than_one

MAX_DIMS = 6


def binary_call(ctx: EmitContext, kernel: str, left_shift: int, out_mult: tuple[int, int],
                rescale: bool = True) -> Emitted:
    """The call of kernel efm_<kernel>_s8 with the broadcast layout and the given requantization."""
    c = ctx.c
    at, bt, yt = c.inp(0), c.inp(1), c.out()
    shape = tuple(yt.shape)
    counts, (sa, sb) = merge_axes(list(shape), broadcast_strides(at.shape, shape), broadcast_strides(bt.shape, shape))
    if len(counts) > MAX_DIMS:
        raise ctx.fail(f"the broadcast needs {len(counts)} axes; the kernel handles {MAX_DIMS}")
    if not counts:
        counts, sa, sb = [1], [0], [0]
    if rescale:
        twice_max = 2.0 * max(at.scale, bt.scale)
        am, ash = smaller_than_one(c, at.scale / twice_max, "input rescale")
        bm, bsh = smaller_than_one(c, bt.scale / twice_max, "input rescale")
    else:
        am = ash = bm = bsh = 0
    lo, hi = act_range(c.attrs.get("activation", "NONE"), yt)
    p = ctx.params(
        "efm_binary_params", ndim=len(counts), count=counts, stride_a=sa, stride_b=sb, a_zp=at.zero_point,
        b_zp=bt.zero_point, output_zp=yt.zero_point, left_shift=left_shift, a_mult=am, a_shift=ash, b_mult=bm,
        b_shift=bsh, out_mult=out_mult[0], out_shift=out_mult[1], act_min=lo, act_max=hi,
    )
    # In place only on an input that has the output's shape (each element is read before it is written).
    inplace = tuple(i for i, t in enumerate((at, bt)) if tuple(t.shape) == shape)
    return Emitted(f"efm_{kernel}_s8({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.out()});", (kernel,), inplace)


@emitter("ADD")
def emit(ctx: EmitContext) -> Emitted:

    c = ctx.c
    return binary_call(ctx, "add", LEFT_SHIFT, output_multiplier(c, 2.0 * max(c.inp(0).scale, c.inp(1).scale)))
