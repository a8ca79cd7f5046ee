"""ATTENTION_GATE: out = sigmoid(g) * attn, one int8 gate logit per attention-output vector (gated attention).

The sigmoid is a Q15 table of the 256 gate values, derived from the gate's quantization; the product is requantized
with one rounding. Exact definition: docs/ops/ATTENTION_GATE.md.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from edgefmr.ops import fixedpoint as fp
from edgefmr.ops.lut import check_activation
from edgefmr.ops.params import int32_array
from edgefmr.ops.registry import OpCall, OpDef, register

GATE_FRAC_BITS = 15


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@lru_cache(maxsize=256)
def gate_table(g_scale: float, g_zp: int) -> np.ndarray:
    """T[q + 128] = round_half_away(2^15 sigmoid(s_g (q - zp_g))), int32 [256] in [0, 2^15]."""
    s = float(np.float32(g_scale))
    t = np.array([math.floor(_sigmoid(s * (q - g_zp)) * (1 << GATE_FRAC_BITS) + 0.5) for q in range(-128, 128)],
                 np.int32)
    t.flags.writeable = False
    return t


@register
class AttentionGate(OpDef):
    name = "ATTENTION_GATE"
    tflite_op = None
    n_inputs = (2, 2)

    def check(self, c: OpCall) -> None:
        a, g, y = c.inp(0), c.inp(1), c.out()
        check_activation(c, a, "attention input")
        check_activation(c, g, "gate input")
        check_activation(c, y, "output")
        if len(a.shape) < 1:
            raise c.fail("the attention input needs at least one dimension")

    def infer(self, c: OpCall) -> list[tuple[int, ...]]:
        a, g = c.inp(0), c.inp(1)
        if g.shape != a.shape[:-1]:
            raise c.fail(f"the gate must have the attention input's shape without its last axis: "
                         f"{list(a.shape[:-1])}, got {list(g.shape)}")
        return [a.shape]

    def macs(self, c: OpCall) -> int:
        return c.inp(0).size

    def op_counts(self, c: OpCall) -> dict[str, int]:
        n = c.inp(0).size
        return {"mults": n, "adds": 0, "exps": c.inp(1).size, "requant": n}

    def run(self, c: OpCall, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        attn, gate = xs
        at, gt, yt = c.inp(0), c.inp(1), c.out()
        sig = gate_table(gt.scale, gt.zero_point)[gate.astype(np.int64) + 128].astype(np.int64)
        acc = (attn.astype(np.int64) - at.zero_point) * sig[..., None]
        mult, shift = fp.quantize_multiplier(at.scale * 2.0**-GATE_FRAC_BITS / yt.scale)
        y = fp.multiply_by_quantized_multiplier(acc, mult, shift) + yt.zero_point
        return [np.clip(y, -128, 127).astype(np.int8)]


def kernel_params(c: OpCall) -> dict[str, Any]:
    """efm_attention_gate_params: shape, zero points, the multiplier s_a 2^-15 / s_y and the Q15 sigmoid table."""
    at, gt, yt = c.inp(0), c.inp(1), c.out()
    mult, shift = fp.quantize_multiplier(at.scale * 2.0**-GATE_FRAC_BITS / yt.scale)
    return {"gates": gt.size, "depth": at.shape[-1], "attn_zp": at.zero_point, "output_zp": yt.zero_point,
            "mult": mult, "shift": shift, "table": int32_array(gate_table(gt.scale, gt.zero_point))}
