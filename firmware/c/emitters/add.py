"""ADD, SUB, MUL, SQUARED_DIFFERENCE -> kernels/<op>.c, broadcasting through per-input strides (kernels/binary.h)."""

from __future__ import annotations

import numpy as np

from edgefmr.firmware.c.emitters import EmitContext, Emitted, emitter, kernel_path
from edgefmr.ops.params import kernel_params
from edgefmr.ops.registry import OpCall

#: Ops with fewer output elements get their Cortex-M rescale table precomputed in flash (efm_ew_addlike builds it
#: per call only from this size on, where it pays). An op a fused step calls once per row block (option
#: "row_blocks" > 1) always reads it from flash: the table is the same for every block, and building it per block
#: costs about 2,000 instructions each time (e.g. 14,000 per ADD of a 25-token step program in blocks of 4 rows).
EW_TABLE_BELOW = 128
_EW_OPS = {"add": 0, "sub": 1, "squared_difference": 2}  # EFM_EW_ADD, EFM_EW_SUB, EFM_EW_SQD


def _i32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _smmlar(a: int, b: int, acc: int) -> int:
    v = ((acc << 32) + a * b + 0x80000000) & 0xFFFFFFFFFFFFFFFF
    return _i32(v >> 32)


def _ew_setup(kp: dict, op: int) -> tuple[bool, int, int, int] | None:
    """(big_is_a, mg, rg, eg) of efm_arm.h's efm_ew_setup for binary params `kp` and op (0 ADD, 1 SUB, 2
    SQUARED_DIFFERENCE); None where the Cortex-M fast path does not apply."""
    if kp["left_shift"] != (7 if op == 2 else 20):
        return None
    big_is_a = kp["a_shift"] == 0 and kp["a_mult"] == 1 << 30
    if not big_is_a and not (kp["b_shift"] == 0 and kp["b_mult"] == 1 << 30):
        return None
    mult, shift = (kp["b_mult"], kp["b_shift"]) if big_is_a else (kp["a_mult"], kp["a_shift"])
    if shift == 0 and mult == 1 << 30:
        mg, rg, eg = 0x7FFFFFFF, 1, 1
    elif shift > -1 or shift < -24 or mult < 1 << 30:
        return None
    else:
        mg, eg, rg = mult, -shift, 1 << (-shift - 1)
    if kp["out_shift"] > -1 or kp["out_shift"] < -23 or kp["out_mult"] < 1 << 30:
        return None
    return big_is_a, mg, rg, eg


def ew_table(kp: dict, op: int) -> np.ndarray | None:
    """The Cortex-M fast path's table T[x + 128] (int32, 256 entries) of efm_arm.h's efm_ew_setup / efm_ew_entry
    for binary params `kp` and op (0 ADD, 1 SUB, 2 SQUARED_DIFFERENCE), the same arithmetic in Python; None where
    the fast path does not apply."""
    setup = _ew_setup(kp, op)
    if setup is None:
        return None
    big_is_a, mg, rg, eg = setup
    sqd = op == 2
    zpg, zpbig = (kp["b_zp"], kp["a_zp"]) if big_is_a else (kp["a_zp"], kp["b_zp"])
    ps = 8 if sqd else 21
    if sqd:
        fm, fa = 1, _i32(zpbig << 6)
    else:
        zb = _i32(zpbig << 20)
        fm = -2 if op == 1 and big_is_a else 2
        fa = (-zb if big_is_a else zb) if op == 1 else -zb
    out = []
    for x in range(-128, 128):
        cs = _i32((x - zpg) << ps)
        t = (_smmlar(cs, mg, rg) + (cs >> 31)) >> eg
        out.append(_i32(t * fm + fa))
    return np.asarray(out, np.int32)


def addlike_path(c: OpCall, arm: frozenset) -> str:
    """Which path ADD, SUB or SQUARED_DIFFERENCE runs: "portable", the Cortex-M kernel's "generic" loop (ew_table
    None), its fast path with the table in flash ("flash_table": fewer than EW_TABLE_BELOW outputs) or built per
    call ("table"). A fused step's row blocks read the table from flash too (binary_call's "row_blocks" option)."""
    kernel = c.node.op.lower()
    if kernel not in arm:
        return "portable"
    if _ew_setup(kernel_params(c), _EW_OPS[kernel]) is None:
        return "generic"
    return "flash_table" if c.out().size < EW_TABLE_BELOW else "table"


for _op in _EW_OPS:
    kernel_path(_op.upper())(addlike_path)


def binary_call(ctx: EmitContext, kernel: str) -> Emitted:
    """The call of kernel efm_<kernel>_s8 with the node's efm_binary_params (broadcast layout and requantization:
    its op definition's kernel_params)."""
    c = ctx.c
    at, bt, yt = c.inp(0), c.inp(1), c.out()
    shape = tuple(yt.shape)
    kp = kernel_params(c)
    table = None
    small = yt.size < EW_TABLE_BELOW or ctx.option("row_blocks", 1) > 1
    if kernel in _EW_OPS and kernel in ctx.option("arm", frozenset()) and small:
        table = ew_table(kp, _EW_OPS[kernel])
    p = ctx.param_fields("efm_binary_params", kp, **({"ew_table": table} if table is not None else {}))
    # In place only on an input that has the output's shape (each element is read before it is written).
    inplace = tuple(i for i, t in enumerate((at, bt)) if tuple(t.shape) == shape)
    return Emitted(f"efm_{kernel}_s8({p}, {ctx.inp(0)}, {ctx.inp(1)}, {ctx.out()});", (kernel,), inplace)


@emitter("ADD")
def emit(ctx: EmitContext) -> Emitted:
    return binary_call(ctx, "add")
