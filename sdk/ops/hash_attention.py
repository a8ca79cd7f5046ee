"""HASH_ATTENTION: EcoFormer binary hash attention in linear form (key sums first, additions only; one fixed-point
reciprocal per query). Codes are packed bits (uint8) or int8 pre-sign values binarized by the op. Exact definition:
docs/ops/HASH_ATTENTION.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.binary_fully_connected import unpack_bits
from edgefmr.ops.layer_norm import bit_length
from edgefmr.ops.lut import check_activation
from edgefmr.ops.params import contiguous_strides
from edgefmr.ops.registry import Attr, OpCall, OpDef, register

QUOTIENT_FRAC_BITS = 15
MAX_BITS_TIMES_KEYS = 1 << 23


def layout_perm(c: OpCall, key: str) -> list[int] | None:
    """v_perm (the values are read as np.transpose(stored, v_perm)) or y_perm (the output is stored as
    np.transpose(result, y_perm)); None: as stored. Only the transpose-folding pass (edgefmr.ir.passes.fold_transposes)
    sets them, for the C build; the last axis (the value columns) stays last."""
    perm = c.attrs[key]
    if perm is None:
        return None
    perm = [int(v) for v in perm]
    rank = len(c.inp(2).shape)
    if sorted(perm) != list(range(rank)) or perm[-1] != rank - 1:
        raise c.fail(f"{key} {perm} must be a permutation of the {rank} value axes that keeps the last axis last")
    return perm


def values_shape(c: OpCall) -> tuple[int, ...]:
    """The values' shape as the op reads them (through v_perm)."""
    shape = tuple(c.inp(2).shape)
    perm = layout_perm(c, "v_perm")
    return shape if perm is None else tuple(shape[i] for i in perm)


def code_bits(c: OpCall) -> int:
    """b, the number of code bits."""
    hq = c.inp(0)
    return int(c.attrs["bits"]) if hq.dtype == "uint8" else hq.shape[-1]


def codes01(x: np.ndarray, dtype: str, zero_point: int, bits: int) -> np.ndarray:
    """0/1 code bits [..., b] of packed uint8 codes or int8 pre-sign values (bit 1 where q >= zero point)."""
    if dtype == "uint8":
        return unpack_bits(x, bits)
    return (np.asarray(x, np.int64) >= zero_point).astype(np.int64)


def hash_sums(pq: np.ndarray, pk: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(num [*B, Nq, d], den [*B, Nq, 1]) of the linear form from 0/1 bits and centered values (int64)."""
    nk = pk.shape[-2]
    vsum = v.sum(axis=-2, keepdims=True)  # V [*B, 1, d]
    p = np.swapaxes(pk, -1, -2) @ v  # P [*B, b, d]: a 0/1 selection of value rows, additions only
    z = vsum - p  # Z
    n1 = pk.sum(axis=-2, keepdims=True)  # [*B, 1, b]
    num = pq @ p + (1 - pq) @ z  # select P or Z per query bit and add
    den = (pq * n1 + (1 - pq) * (nk - n1)).sum(axis=-1, keepdims=True)
    return num, den


def normalize(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """w = round(2^15 num / den) through R = floor(2^(29+L) / den), L = bit_length(den); 0 where den = 0."""
    ln = bit_length(den)
    safe = np.maximum(den, 1)
    recip = np.where(den > 0, (np.int64(1) << (29 + ln)) // safe, 0)
    return (num * recip + (np.int64(1) << (13 + ln))) >> (14 + ln)


@register
class HashAttention(OpDef):
    name = "HASH_ATTENTION"
    tflite_op = None
    n_inputs = (3, 3)
    attrs = {"bits": Attr(0), "v_perm": Attr(None), "y_perm": Attr(None)}

    def check(self, c: OpCall) -> None:
        self.infer(c)  # shapes first: validation calls check() before infer()
        hq, hk, v, y = c.inp(0), c.inp(1), c.inp(2), c.out()
        check_activation(c, v, "values (input 2)")
        check_activation(c, y, "output")
        if hq.dtype != hk.dtype or hq.dtype not in ("uint8", "int8"):
            raise c.fail(f"query and key codes must both be uint8 (packed bits) or both int8 (pre-sign values), "
                         f"got {hq.dtype} and {hk.dtype}")
        for label, t in (("query", hq), ("key", hk)):
            if t.quant is not None and t.quant.per_axis:
                raise c.fail(f"{label} codes need per-tensor quantization (or none)")
        bits = c.attrs["bits"]
        if not isinstance(bits, int) or isinstance(bits, bool) or bits < 0:
            raise c.fail(f"bits must be an integer >= 0, got {bits!r}")
        if hq.dtype == "uint8" and not (bits >= 1 and -(-bits // 8) == hq.shape[-1]):
            raise c.fail(f"packed codes of {hq.shape[-1]} bytes need bits in {8 * hq.shape[-1] - 7}.."
                         f"{8 * hq.shape[-1]}, got bits={bits}")
        if hq.dtype == "int8" and bits not in (0, hq.shape[-1]):
            raise c.fail(f"int8 codes have one value per bit: bits must be 0 or {hq.shape[-1]}, got {bits}")
        if code_bits(c) * hk.shape[-2] >= MAX_BITS_TIMES_KEYS:
            raise c.fail(f"bits x keys = {code_bits(c) * hk.shape[-2]} must be below 2^23")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        hq, hk = c.inp(0), c.inp(1)
        vs = values_shape(c)
        if min(len(hq.shape), len(hk.shape), len(vs)) < 2:
            raise c.fail("codes and values need at least 2 dimensions ([..., tokens, bits or channels])")
        if not hq.shape[:-2] == hk.shape[:-2] == vs[:-2]:
            raise c.fail(f"batch axes differ: queries {list(hq.shape)}, keys {list(hk.shape)}, values "
                         f"{list(vs)}")
        if hq.shape[-1] != hk.shape[-1]:
            raise c.fail(f"query and key codes differ in width: {hq.shape[-1]} vs {hk.shape[-1]}")
        if hk.shape[-2] != vs[-2]:
            raise c.fail(f"{hk.shape[-2]} keys but {vs[-2]} values")
        out = (*vs[:-2], hq.shape[-2], vs[-1])
        perm = layout_perm(c, "y_perm")
        if perm is not None and len(perm) != len(out):
            raise c.fail(f"y_perm {perm} does not match the output's {len(out)} axes")
        return [out if perm is None else tuple(out[i] for i in perm)]

    def op_counts(self, c: OpCall) -> dict[str, int]:
        hq, hk, vs = c.inp(0), c.inp(1), values_shape(c)
        batch = int(np.prod(vs[:-2], dtype=np.int64))
        nq, nk, d, b = hq.shape[-2], hk.shape[-2], vs[-1], code_bits(c)
        adds = nk * b * d + nk * d + b * d + nk * b + nq * (b - 1) * (d + 1)
        return {"mults": batch * nq * d, "adds": batch * adds, "qk_mults": 0, "divs": batch * nq,
                "requant": batch * nq * d}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        hq, hk, v = xs
        qt, kt, vt, yt = c.inp(0), c.inp(1), c.inp(2), c.out()
        b = code_bits(c)
        pq = codes01(hq, qt.dtype, qt.zero_point, b)
        pk = codes01(hk, kt.dtype, kt.zero_point, b)
        vperm, yperm = layout_perm(c, "v_perm"), layout_perm(c, "y_perm")
        if vperm is not None:
            v = np.transpose(v, vperm)
        num, den = hash_sums(pq, pk, v.astype(np.int64) - vt.zero_point)
        w = normalize(num, den)
        mult, shift = fp.quantize_multiplier(vt.scale * 2.0**-QUOTIENT_FRAC_BITS / yt.scale)
        y = fp.multiply_by_quantized_multiplier(w, mult, shift) + yt.zero_point
        y = np.clip(y, -128, 127).astype(np.int8)
        return [y if yperm is None else np.ascontiguousarray(np.transpose(y, yperm))]


def _rows(shape: tuple[int, ...], strides: list[int], what: str, c: OpCall) -> dict[str, int]:
    """n1, s0, s1 and row of a [*B, rows, depth] operand read through `strides` (the kernel's batch addressing:
    batch index b starts at (b / n1) s0 + (b % n1) s1): the batch axes of size > 1, the leading ones merged."""
    axes = [(n, st) for n, st in zip(shape[:-2], strides[:-2], strict=True) if n > 1]
    while len(axes) > 2:  # merge the leading axes where they run contiguously over the next one
        (n0, s0), (n1, s1) = axes[0], axes[1]
        if s0 != s1 * n1:
            raise c.fail(f"the {what} layout's batch axes cannot be addressed with two strides")
        axes[:2] = [(n0 * n1, s1)]
    if not axes:
        n1, s0, s1 = 1, 0, 0
    elif len(axes) == 1:
        n1, s0, s1 = 1, axes[0][1], 0
    else:
        n1, s0, s1 = axes[1][0], axes[0][1], axes[1][1]
    return {"n1": n1, "s0": s0, "s1": s1, "row": strides[-2]}


def addressing(c: OpCall) -> dict[str, int]:
    """The kernel's value and output addressing (v_n1, v_s0, v_s1, v_row, y_...): as stored, or through the folded
    transposes v_perm / y_perm."""
    vs = values_shape(c)
    st = contiguous_strides(tuple(c.inp(2).shape))
    vp = layout_perm(c, "v_perm")
    vst = list(st) if vp is None else [st[i] for i in vp]
    out = (*vs[:-2], c.inp(0).shape[-2], vs[-1])
    yst_stored = contiguous_strides(tuple(c.out().shape))
    yp = layout_perm(c, "y_perm")
    yst = list(yst_stored) if yp is None else [yst_stored[yp.index(a)] for a in range(len(out))]
    fields = {}
    for key, shape, strides in (("v", vs, vst), ("y", out, yst)):
        for k, val in _rows(tuple(shape), strides, "values" if key == "v" else "output", c).items():
            fields[f"{key}_{k}"] = int(val)
    return fields


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_hash_attention_params: shapes, code form (packed uint8 or int8 codes), zero points, the multiplier
    s_v 2^-QUOTIENT_FRAC_BITS / s_y and the values' and output's addressing (`addressing`)."""
    qt, kt, vt, yt = c.inp(0), c.inp(1), c.inp(2), c.out()
    vs = values_shape(c)
    mult, shift = fp.quantize_multiplier(vt.scale * 2.0**-QUOTIENT_FRAC_BITS / yt.scale)
    return {"batch": int(np.prod(vs[:-2], dtype=np.int64)), "n_queries": qt.shape[-2], "n_keys": kt.shape[-2],
            "depth": vs[-1], "bits": code_bits(c), "packed": int(qt.dtype == "uint8"),
            "code_bytes": qt.shape[-1], "q_zp": qt.zero_point, "k_zp": kt.zero_point, "v_zp": vt.zero_point,
            "output_zp": yt.zero_point, "mult": mult, "shift": shift, **addressing(c)}
