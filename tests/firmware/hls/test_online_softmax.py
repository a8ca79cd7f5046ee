"""The single-pass online softmax of kernels/softmax.h reproduces TFLite's int8 softmax bit for bit.

The kernel keeps, in one pass over a row, the running maximum and a count per int8 value; the row sum is then
sum_v count[v] * f(v - max) over the window of differences whose term f is non-zero. That is the reference sum
regrouped (integer addition is associative and commutative), so it is exact by construction; these tests check
the formulation in numpy on many rows (ascending rows raise the maximum at every element) and the C simulation on
adversarial rows (long rows, one repeated value, a rising maximum, values on both sides of the window edge)."""

from __future__ import annotations

import numpy as np
import pytest

from edgefmr.firmware.c.emitters import all_emitters
from edgefmr.firmware.hls.codegen import generate
from edgefmr.firmware.hls.emitters.softmax import sum_terms
from edgefmr.firmware.hls.project import check_csim, compile_csim, run_csim, write_project
from edgefmr.ir import GraphBuilder, run
from edgefmr.ops import fixedpoint as fp
from edgefmr.ops import gemmlowp as gl
from edgefmr.ops.softmax import ACCUMULATION_INTEGER_BITS, softmax_int8

all_emitters()
from edgefmr.ops.softmax import exp_table  # noqa: E402


def online_softmax(x: np.ndarray, beta: float, scale: float) -> np.ndarray:
    """The kernel's arithmetic in numpy: per row, one pass (max, counts), window normalizer, outputs."""
    table = exp_table(beta, scale)
    terms = sum_terms(table)
    out = np.empty(x.shape, np.int8)
    for r, row in enumerate(x.reshape(-1, x.shape[-1])):
        m, counts = -128, {}
        for v in row.tolist():  # the single pass
            m = max(m, v)
            counts[v] = counts.get(v, 0) + 1
        total = sum(counts.get(m - j, 0) * int(terms[j]) for j in range(len(terms)))
        s32 = gl.wrap32(np.array([total], np.int64))
        scale_q, bits_over = gl.get_reciprocal(s32, ACCUMULATION_INTEGER_BITS)
        e = table[row.astype(np.int64) - m + 255]
        o = fp.rounding_divide_by_pot(fp.saturating_rounding_doubling_high_mul(scale_q, e), bits_over + 31 - 8)
        out.reshape(-1, x.shape[-1])[r] = np.clip(o - 128, -128, 127)
    return out


@pytest.mark.parametrize("beta, scale", [(1.0, 0.05), (1.0, 0.2), (0.5, 0.01), (2.0, 0.125), (1.0, 0.004)])
def test_online_form_equals_reference(beta, scale):
    rng = np.random.default_rng(int(scale * 1000))
    rows = [rng.integers(-128, 128, 40), np.sort(rng.integers(-128, 128, 64)), np.full(300, 7),
            np.arange(-128, 128), rng.integers(100, 128, 33), np.array([-128]), rng.integers(-128, 128, 700)]
    for row in rows:
        x = row.astype(np.int8).reshape(1, -1)
        assert np.array_equal(online_softmax(x, beta, scale), softmax_int8(x, beta, scale))
    assert 1 <= len(sum_terms(exp_table(beta, scale))) <= 256


def test_csim_online_softmax_adversarial_rows(tmp_path):
    ascending = np.sort(np.random.default_rng(0).integers(-128, 128, 256))
    rows = np.stack([np.arange(-128, 128), np.full(256, -5), ascending,
                     np.r_[np.full(128, 127), np.full(128, -128)]]).astype(np.int8)
    b = GraphBuilder()
    ys = []
    for k, (beta, scale) in enumerate([(1.0, 0.05), (1.0, 0.004), (2.0, 0.125)]):
        x = b.input(f"x{k}", rows.shape, scale=scale, zero_point=0)
        ys.append(b.op("SOFTMAX", [x], scale=1 / 256, zero_point=-128, beta=beta, name=f"sm{k}"))
    b.output(*ys)
    g = b.build()
    records = [[rows, rows[::-1].copy(), rows[:, ::-1].copy()]]
    write_project(tmp_path, g, generate(g), records, "xc7z020clg400-1", 100_000_000)
    compile_csim(tmp_path)
    assert "0 mismatches" in check_csim(tmp_path)
    got = run_csim(tmp_path, g, records)[0]
    want = run(g, records[0])
    for name, a in zip(g.outputs, got, strict=True):
        assert np.array_equal(a, want[name])
