"""LMU_UPDATE: m_t = A m_{t-1} + B u_t in fixed point (A in Q(F_a), state and B in Q(F_m) of the input scale) for
every channel over T steps; int8 states per step, the final int32 state as a second output and an optional initial
state input for streaming in chunks. Exact definition: docs/ops/LMU_UPDATE.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.lut import check_activation, round_half_away
from edgefmr.ops.registry import Attr, OpCall, OpDef, register

MAX_ROW_L1 = 1 << 32


def lmu_constants(a_bar: np.ndarray, b_bar: np.ndarray, a_frac_bits: int = 24, state_frac_bits: int = 16
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(A int32 [d, d], B int32 [d]) = round_half_away(A_bar 2^F_a), round_half_away(B_bar 2^F_m)."""
    a = round_half_away(np.asarray(a_bar, np.float64) * 2.0**a_frac_bits)
    b = round_half_away(np.asarray(b_bar, np.float64) * 2.0**state_frac_bits)
    for name, v in (("A_bar", a), ("B_bar", b)):
        if np.abs(v).max(initial=0) > fp.INT32_MAX:
            raise EdgefmrError(f"lmu_constants: {name} does not fit int32 with these fractional bits "
                               f"(largest value {np.abs(v).max():.3g}); use fewer fractional bits")
    return a.astype(np.int32), b.astype(np.int32)


def lmu_run(u: np.ndarray, a: np.ndarray, b: np.ndarray, m0: np.ndarray, zp: int, a_frac_bits: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """(states int64 [T, ..., d], final state int64 [..., d]) of the fixed-point recurrence over axis 0 of `u`."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    m = np.asarray(m0, np.int64)
    states = np.empty((*u.shape, len(b)), np.int64)
    rnd = np.int64(1) << (a_frac_bits - 1)
    for t in range(u.shape[0]):
        acc = m @ a.T  # [..., d]: sum_j A[i, j] m_j, exact in int64 (row L1 norm of A < 2^32)
        new = ((acc + rnd) >> a_frac_bits) + b * (u[t].astype(np.int64) - zp)[..., None]
        m = np.clip(new, fp.INT32_MIN, fp.INT32_MAX)
        states[t] = m
    return states, m


@register
class LmuUpdate(OpDef):
    name = "LMU_UPDATE"
    tflite_op = None
    n_inputs = (3, 4)
    n_outputs = 2
    const_inputs = (1, 2)
    state_in_place = ((3, 1),)  # the kernels read the whole state before writing the next one
    attrs = {"a_frac_bits": Attr(24), "state_frac_bits": Attr(16)}

    def check(self, c: OpCall) -> None:
        self.infer(c)  # shapes first: validation calls check() before infer()
        u, a, b, m0, y, mt = c.inp(0), c.inp(1), c.inp(2), c.inp(3), c.out(0), c.out(1)
        check_activation(c, u, "input")
        check_activation(c, y, "output 0 (states)")
        if a.dtype != "int32" or b.dtype != "int32":
            raise c.fail(f"A and B must be int32 fixed-point constants, got {a.dtype} and {b.dtype}")
        if m0 is not None and m0.dtype != "int32":
            raise c.fail(f"the initial state (input 3) must be int32, got {m0.dtype}")
        if mt.dtype != "int32":
            raise c.fail(f"the final state (output 1) must be int32, got {mt.dtype}")
        fa, fm = c.attrs["a_frac_bits"], c.attrs["state_frac_bits"]
        if isinstance(fa, bool) or not isinstance(fa, int) or not 1 <= fa <= 30:
            raise c.fail(f"a_frac_bits must be an integer in 1..30, got {fa!r}")
        if isinstance(fm, bool) or not isinstance(fm, int) or not 0 <= fm <= 24:
            raise c.fail(f"state_frac_bits must be an integer in 0..24, got {fm!r}")
        row_l1 = np.abs(a.data.astype(np.int64)).sum(axis=1).max(initial=0)
        if row_l1 >= MAX_ROW_L1:
            raise c.fail(f"A's largest row sum of |A[i, j]| is {row_l1}; it must be below 2^32 (fewer a_frac_bits)")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        u, a, b, m0 = c.inp(0), c.inp(1), c.inp(2), c.inp(3)
        if len(u.shape) < 1 or u.shape[0] < 1:
            raise c.fail(f"input must be [T, ...] with T >= 1 steps, got {list(u.shape)}")
        if len(b.shape) != 1 or b.shape[0] < 1 or a.shape != (b.shape[0], b.shape[0]):
            raise c.fail(f"A must be [d, d] and B [d] with d >= 1, got {list(a.shape)} and {list(b.shape)}")
        d = b.shape[0]
        state = (*u.shape[1:], d)
        if m0 is not None and m0.shape != state:
            raise c.fail(f"the initial state must be {list(state)}, got {list(m0.shape)}")
        return [(*u.shape, d), state]

    def macs(self, c: OpCall) -> int:
        d = c.inp(2).shape[0]
        return c.inp(0).size * (d * d + d)

    def op_counts(self, c: OpCall) -> dict[str, int]:
        n, d = c.inp(0).size, c.inp(2).shape[0]
        return {"mults": n * (d * d + d), "adds": n * d * d, "requant": n * d}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        u, a, b, m0 = (*xs, None)[:4]
        ut, yt = c.inp(0), c.out(0)
        if m0 is None:
            m0 = np.zeros((*ut.shape[1:], b.shape[0]), np.int64)
        states, last = lmu_run(u, a, b, m0, ut.zero_point, c.attrs["a_frac_bits"])
        mult, shift = fp.quantize_multiplier(ut.scale * 2.0 ** -c.attrs["state_frac_bits"] / yt.scale)
        y = fp.multiply_by_quantized_multiplier(states, mult, shift) + yt.zero_point
        return [np.clip(y, -128, 127).astype(np.int8), last.astype(np.int32)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_lmu_update_params: steps, channels, order, A's fraction bits, zero points and the multiplier
    s_u 2^-F_m / s_y (single rounding)."""
    ut, yt = c.inp(0), c.out(0)
    mult, shift = fp.quantize_multiplier(ut.scale * 2.0 ** -c.attrs["state_frac_bits"] / yt.scale)
    return {"steps": ut.shape[0], "channels": int(np.prod(ut.shape[1:], dtype=np.int64)), "order": c.inp(2).shape[0],
            "a_frac_bits": c.attrs["a_frac_bits"], "input_zp": ut.zero_point, "output_zp": yt.zero_point,
            "mult": mult, "shift": shift}
