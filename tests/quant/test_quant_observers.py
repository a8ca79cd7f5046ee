"""Observers: ranges, percentiles, kurtosis; int8 parameters keep real 0 exact."""

from __future__ import annotations

import numpy as np
import pytest

from edgefmr.errors import EdgefmrError
from edgefmr.quant.lowering import quantize_bias, quantize_weight
from edgefmr.quant.observers import Observer, int8_qparams, qparams


def test_minmax_and_moments_over_batches() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(300_000)
    obs = Observer()
    for part in np.array_split(x, 7):
        obs.update(part)
    assert obs.lo == x.min() and obs.hi == x.max() and obs.n == x.size
    assert obs.max_abs == np.abs(x).max()
    assert abs(obs.kurtosis - 3.0) < 0.05  # normal
    lap = Observer()
    lap.update(rng.laplace(size=200_000))
    assert abs(lap.kurtosis - 6.0) < 0.3  # Laplace
    assert Observer().kurtosis == 0.0


def test_percentile_clips_outliers() -> None:
    x = np.concatenate([np.random.default_rng(1).uniform(-1, 1, 100_000), [500.0]])
    obs = Observer()
    obs.update(x)
    lo, hi = obs.range("minmax")
    assert hi == 500.0
    plo, phi = obs.range("percentile", 99.9)
    assert -1.0 <= plo < -0.99 and 0.99 < phi <= 1.0
    with pytest.raises(EdgefmrError, match="unknown observer"):
        obs.range("mse")
    with pytest.raises(EdgefmrError, match="saw no values"):
        Observer().range()


@pytest.mark.parametrize("lo,hi", [(-1.0, 3.0), (0.0, 1.0), (-2.0, 0.0), (0.5, 2.0), (0.0, 0.0)])
def test_int8_qparams_zero_exact(lo: float, hi: float) -> None:
    s, z = int8_qparams(lo, hi)
    assert -128 <= z <= 127 and s > 0
    assert s * (z - z) == 0.0  # real 0 is the zero point
    assert s * (-128 - z) <= min(lo, 0.0) + s and s * (127 - z) >= max(hi, 0.0) - s
    obs = Observer()
    obs.update(np.array([lo, hi]))
    assert qparams(obs) == (s, z)


def test_weight_and_bias_quantization() -> None:
    w = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [2.0, 1.0, -0.01]])
    q, s = quantize_weight(w)
    assert q.dtype == np.int8 and s.dtype == np.float32
    assert list(np.abs(q).max(axis=1)) == [127, 0, 127]
    assert np.all(np.abs(q * s[:, None].astype(np.float64) - w) <= s[:, None] / 2 + 1e-9)
    b = quantize_bias(np.array([0.1, -0.2, 0.0]), 0.05, s)
    assert b.dtype == np.int32
    np.testing.assert_array_equal(b, np.round(np.array([0.1, -0.2, 0.0]) / (np.float32(0.05) * s.astype(
        np.float64))).astype(np.int32))
