"""Calibration observers and the int8 quantization parameters chosen from them.

An observer sees every value a tensor takes on the calibration batches. It keeps the running minimum and maximum,
the moments needed for the kurtosis (sums of x, x^2, x^3, x^4 in float64) and a bounded uniform sample of the
values for percentile ranges. ``qparams(observer, method)`` turns it into an asymmetric int8 ``(scale, zero_point)``:

* ``minmax``: the range ``[min(lo, 0), max(hi, 0)]`` of everything seen;
* ``percentile``: the ``[p_lo, p_hi]`` percentiles (default 0.01 % and 99.99 %) of the sample, widened to hold 0,
  so that rare outliers saturate instead of stretching the scale for every other value.

The scale is ``(hi - lo) / 255`` and the zero point ``round(-128 - lo / scale)`` clamped to the int8 range, so
real 0 is exactly representable (the zero point), as TFLite requires.
"""

from __future__ import annotations

import math

import numpy as np

from edgefmr.errors import EdgefmrError

OBSERVERS = ("minmax", "percentile")
#: Values kept per tensor for percentile ranges.
SAMPLE_SIZE = 200_000
#: Smallest scale used for a tensor that is identically zero on the calibration data.
MIN_RANGE = 1e-6


class Observer:
    """Running statistics of one activation tensor over calibration batches."""

    def __init__(self, seed: int = 0) -> None:
        self.lo = math.inf
        self.hi = -math.inf
        self.n = 0
        self.sums = np.zeros(4, np.float64)  # sum of x, x^2, x^3, x^4
        self.sample = np.zeros(0, np.float32)
        self._rng = np.random.default_rng(seed)

    def update(self, x: np.ndarray) -> None:
        """Add the values of ``x`` (any shape)."""
        v = np.asarray(x, np.float64).ravel()
        if v.size == 0:
            return
        self.lo = min(self.lo, float(v.min()))
        self.hi = max(self.hi, float(v.max()))
        p = v.copy()
        for k in range(4):
            self.sums[k] += p.sum()
            if k < 3:
                p *= v
        self.n += v.size
        take = v if v.size <= SAMPLE_SIZE else self._rng.choice(v, SAMPLE_SIZE, replace=False)
        merged = np.concatenate([self.sample, take.astype(np.float32)])
        if merged.size > SAMPLE_SIZE:  # keep a uniform sample of everything seen, weighted by counts
            keep_old = round(SAMPLE_SIZE * (self.n - v.size) / self.n)
            old = self.sample if self.sample.size <= keep_old else self._rng.choice(self.sample, keep_old, False)
            new = take if take.size <= SAMPLE_SIZE - old.size else self._rng.choice(take, SAMPLE_SIZE - old.size,
                                                                                    False)
            merged = np.concatenate([old, new.astype(np.float32)])
        self.sample = merged

    @property
    def max_abs(self) -> float:
        return max(abs(self.lo), abs(self.hi)) if self.n else 0.0

    @property
    def mean(self) -> float:
        return float(self.sums[0] / self.n) if self.n else 0.0

    @property
    def kurtosis(self) -> float:
        """Pearson kurtosis E[(x - mu)^4] / var^2 (3 for a normal distribution; 0 for a constant tensor)."""
        if not self.n:
            return 0.0
        m1, m2, m3, m4 = (self.sums / self.n).tolist()
        var = m2 - m1 * m1
        if var <= 1e-12 * max(m2, 1e-30):
            return 0.0
        c4 = m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1**4
        return float(max(c4, 0.0) / (var * var))

    def range(self, method: str = "minmax", percentile: float = 99.99) -> tuple[float, float]:
        """The calibrated real range ``(lo, hi)``, always holding 0."""
        if not self.n:
            raise EdgefmrError("an observer saw no values: run calibration before choosing quantization parameters")
        if method == "minmax":
            lo, hi = self.lo, self.hi
        elif method == "percentile":
            lo, hi = (float(v) for v in np.percentile(self.sample, [100.0 - percentile, percentile]))
        else:
            raise EdgefmrError(f"unknown observer {method!r}; valid: {', '.join(OBSERVERS)}")
        return min(lo, 0.0), max(hi, 0.0)

    def summary(self) -> dict[str, float]:
        return {"min": self.lo, "max": self.hi, "max_abs": self.max_abs, "mean": self.mean,
                "kurtosis": self.kurtosis, "count": self.n}


def int8_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 ``(scale, zero_point)`` for the real range ``[lo, hi]`` (``lo <= 0 <= hi``)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < MIN_RANGE:
        hi = lo + MIN_RANGE
    scale = float(np.float32((hi - lo) / 255.0))
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zp


def symmetric_qparams(max_abs: float) -> tuple[float, int]:
    """Symmetric int8 ``(scale, 0)`` covering ``[-max_abs, max_abs]`` with +-127."""
    return float(np.float32(max(max_abs, MIN_RANGE) / 127.0)), 0


def qparams(obs: Observer, method: str = "minmax", percentile: float = 99.99) -> tuple[float, int]:
    """The asymmetric int8 quantization of an observed tensor."""
    return int8_qparams(*obs.range(method, percentile))
