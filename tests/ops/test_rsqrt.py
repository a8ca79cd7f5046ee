import math

import numpy as np
import pytest
from op_graphs import unary_graph
from opcheck import assert_bit_exact

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import run
from edgefmr.ops.gemmlowp import inv_sqrt_quantized_multiplier_exp


def non_negative_inputs(zp, shape=(2, 128)):
    """Every input value at or above the zero point (RSQRT is undefined below it), tiled to `shape`."""
    vals = np.arange(zp, 128)
    return np.resize(vals, shape).astype(np.int8)


@pytest.mark.parametrize("seed", range(12))
def test_rsqrt_bit_exact(seed):
    rng = np.random.default_rng(70 + seed)
    in_scale = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5))))
    zp = int(rng.integers(-128, 100))
    g = unary_graph("RSQRT", (2, 128), in_scale, zp, rng.uniform(0.005, 0.3), int(rng.integers(-128, 128)))
    assert_bit_exact(g, [non_negative_inputs(zp)])


def test_rsqrt_zero_maps_to_max_and_negative_input_fails():
    g = unary_graph("RSQRT", (3,), 0.05, -10, 0.05, -100)
    y = assert_bit_exact(g, [np.array([-10, -9, 100], np.int8)])[0]
    assert y[0] == 127  # x == zero point
    with pytest.raises(EdgefmrError, match="only defined for non-negative"):
        run(g, [np.array([-11, 0, 0], np.int8)])
    with pytest.raises(IRError, match="must be int8"):
        unary_graph("RSQRT", (3,), 0.05, 0, 0.05, 0, dtype="int16")


@pytest.mark.parametrize("value", [2, 3, 17, 255, 1000, 65535, 2**29 + 5, 2**31 - 1])
def test_inv_sqrt_multiplier_accuracy(value):
    """TFLite's five Newton-Raphson steps from 1.0: about 1e-6 relative error (worst near powers of 4 times 2)."""
    mult, shift = inv_sqrt_quantized_multiplier_exp(value, -1)
    approx = mult * 2.0 ** (shift - 31)
    assert math.isclose(approx, 1 / math.sqrt(value), rel_tol=2e-6)
