import numpy as np
import pytest
from opcheck import assert_bit_exact

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call

QMIN = {"int8": -128, "uint8": 0, "int16": -32768}
QMAX = {"int8": 127, "uint8": 255, "int16": 32767}


def relu_graph(op, shape, in_q, out_q, dtype="int8"):
    b = GraphBuilder()
    x = b.input("x", shape, dtype=dtype, scale=in_q[0], zero_point=in_q[1])
    y = b.op(op, [x], dtype=dtype, scale=out_q[0], zero_point=out_q[1])
    b.output(y)
    return b.build()


def every_value(dtype, shape_len=None):
    """All values of an 8-bit type (or an evenly spread sample of int16)."""
    if dtype == "int16":
        return np.linspace(-32768, 32767, 4099).round().astype(np.int16)
    return np.arange(QMIN[dtype], QMAX[dtype] + 1).astype(dtype)


def random_quants(rng, dtype, same_scale):
    """(input, output) quantization; scales within ±40% or far apart, random zero points (0 for int16)."""
    s_in = float(rng.uniform(0.002, 0.2)) if dtype != "int16" else float(rng.uniform(1e-5, 1e-3))
    s_out = s_in if same_scale else s_in * float(np.exp(rng.uniform(-1.5, 1.5)))

    def zp():
        return 0 if dtype == "int16" else int(rng.integers(QMIN[dtype], QMAX[dtype] + 1))

    return (s_in, zp()), (s_out, zp())


def run_case(op, seed):
    rng = np.random.default_rng(seed)
    dtype = ["int8", "int8", "uint8", "int16"][seed % 4]
    in_q, out_q = random_quants(rng, dtype, same_scale=seed % 5 == 0)
    x = every_value(dtype)
    g = relu_graph(op, x.shape, in_q, out_q, dtype)
    (y,) = assert_bit_exact(g, [x])
    # Real-valued sanity: the output is never below real 0 (its zero point) and tracks the input above it.
    assert (y.astype(np.int64) >= min(max(out_q[1], QMIN[dtype]), QMAX[dtype])).all()
    real_in = (x.astype(np.float64) - in_q[1]) * in_q[0]
    real_out = (y.astype(np.float64) - out_q[1]) * out_q[0]
    hi = 6.0 if op == "RELU6" else np.inf
    want = np.clip(real_in, 0, hi)
    ok = (want > 0) & (want < (QMAX[dtype] - out_q[1]) * out_q[0]) & (want < hi)
    # Double rounding can land up to 0.75 LSB away; never a whole LSB.
    assert np.all(np.abs(real_out - want)[ok] < out_q[0] * 0.76)


@pytest.mark.parametrize("seed", range(12))
def test_relu_bit_exact(seed):
    run_case("RELU", seed)


def test_relu_uses_double_rounding_like_litert():
    # x = -11: (x - zp) = 2, times 0.2188 = 0.44; single rounding gives 0 + zp = -7, double rounding
    # (round(2 * 0.875) = 2, then 2 / 4 = 0.5 rounds to 1) gives -6, as LiteRT.
    g = relu_graph("RELU", (256,), (0.019379497612572155, -13), (0.08856522358787015, -7))
    x = np.arange(-128, 128).astype(np.int8)
    (y,) = assert_bit_exact(g, [x])
    assert y[x.tolist().index(-11)] == -6


def test_relu_macs_and_shape():
    g = relu_graph("RELU", (2, 3, 4), (0.1, 0), (0.1, 0))
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0
    assert g.tensors[g.outputs[0]].shape == (2, 3, 4)


def test_relu_errors():
    with pytest.raises(IRError, match="zero point 0"):
        relu_graph("RELU", (4,), (1e-3, 1), (1e-3, 0), "int16")
    b = GraphBuilder()
    x = b.input("x", (4,), dtype="int32")
    with pytest.raises(IRError, match="valid: int8, uint8, int16"):
        b.op("RELU", [x], dtype="int32")
    x8 = b.input("x8", (4,), scale=0.1)
    with pytest.raises(IRError, match="must equal input dtype"):
        b.op("RELU", [x8], dtype="int16", scale=0.1)
    with pytest.raises(IRError, match="per-tensor quantization"):
        b.op("RELU", [x8])
