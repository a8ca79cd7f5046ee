import numpy as np
import pytest
from opcheck import assert_bit_exact

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder, run
from edgefmr.ops.registry import call

RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (-(2**31), 2**31 - 1)}


def quantize_graph(shape, in_dtype, out_dtype, in_q, out_q):
    b = GraphBuilder()
    kw = {} if in_q is None else {"scale": in_q[0], "zero_point": in_q[1]}
    x = b.input("x", shape, dtype=in_dtype, **kw)
    y = b.op("QUANTIZE", [x], dtype=out_dtype, scale=out_q[0], zero_point=out_q[1])
    b.output(y)
    return b.build()


def _zp(rng, dtype):
    lo, hi = RANGE[dtype]
    return 0 if dtype in ("int16", "int32") else int(rng.integers(lo, hi + 1))


@pytest.mark.parametrize("seed", range(9))
def test_quantize_float_bit_exact(seed):
    rng = np.random.default_rng(seed)
    dtype = ["int8", "uint8", "int16"][seed % 3]
    scale = float(rng.uniform(0.001, 0.2)) if dtype != "int16" else float(rng.uniform(1e-5, 1e-3))
    zp = _zp(rng, dtype) if dtype != "int16" else int(rng.integers(-100, 100))
    g = quantize_graph((3, 700), "float32", dtype, None, (scale, zp))
    s = np.float32(scale)
    x = (rng.standard_normal((3, 700)) * s * RANGE[dtype][1] * 0.7).astype(np.float32)
    x[0, :300] = ((rng.integers(-300, 300, 300) + 0.5) * s).astype(np.float32)  # near-ties
    x[1, :50] = (rng.uniform(-3, 3, 50) * s * RANGE[dtype][1]).astype(np.float32)  # saturating
    x[2, :4] = [0.0, -0.0, 0.5 * s, -0.5 * s]
    (y,) = assert_bit_exact(g, [x])
    lo, hi = RANGE[dtype]
    ideal = np.clip(np.round(x.astype(np.float64) / s) + zp, lo, hi)
    assert np.abs(y.astype(np.float64) - ideal).max() <= 1


@pytest.mark.parametrize("seed", range(14))
def test_quantize_requantize_bit_exact(seed):
    rng = np.random.default_rng(100 + seed)
    pairs = [("int8", "int8"), ("int8", "uint8"), ("uint8", "int8"), ("uint8", "uint8"), ("int16", "int8"),
             ("int16", "int16"), ("int16", "int32"), ("int32", "int8"), ("int32", "int16")]
    din, dout = pairs[seed % len(pairs)]
    s_in = float(rng.uniform(1e-4, 0.2))
    s_out = s_in * float(np.exp(rng.uniform(-2, 2))) if seed % 4 else s_in
    if din == "int32":
        s_out = s_in * float(np.exp(rng.uniform(4, 8)))  # int32 accumulators into int8/int16
    in_q, out_q = (s_in, _zp(rng, din)), (s_out, _zp(rng, dout))
    if (din, dout) == ("int16", "int32"):
        out_q = (s_out, int(rng.integers(-1000, 1000)))
    lo, hi = RANGE[din]
    if din == "int32":
        lo, hi = -(2**24), 2**24
    x = rng.integers(lo, hi, 4000, endpoint=True).astype(din)
    g = quantize_graph(x.shape, din, dout, in_q, out_q)
    (y,) = assert_bit_exact(g, [x])
    real = (x.astype(np.float64) - in_q[1]) * np.float32(in_q[0])
    ideal = np.clip(np.round(real / np.float32(out_q[0])) + out_q[1], *RANGE[dout])
    assert np.abs(y.astype(np.float64) - ideal).max() <= 1


def test_quantize_int8_uint8_same_scale_is_a_shift_of_128():
    g = quantize_graph((256,), "int8", "uint8", (0.05, -3), (0.05, 125))
    x = np.arange(-128, 128).astype(np.int8)
    (y,) = assert_bit_exact(g, [x])
    np.testing.assert_array_equal(y.astype(np.int64), x.astype(np.int64) + 128)


def test_quantize_undefined_float_values_saturate():
    """Undefined in TFLite (C++ float -> int overflow): edgefmr saturates, and maps NaN to the zero point."""
    g = quantize_graph((5,), "float32", "int8", None, (0.1, 3))
    x = np.array([np.inf, -np.inf, np.nan, 1e30, -1e30], np.float32)
    np.testing.assert_array_equal(run(g, [x])[g.outputs[0]], [127, -128, 3, 127, -128])


def test_quantize_macs_and_shape():
    g = quantize_graph((2, 7), "float32", "int8", None, (0.1, 0))
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0
    assert g.tensors[g.outputs[0]].shape == (2, 7)


def test_quantize_errors():
    with pytest.raises(IRError, match="int8 -> int16 is not supported"):
        quantize_graph((4,), "int8", "int16", (0.1, 0), (0.1, 0))
    with pytest.raises(IRError, match="zero point 0"):
        quantize_graph((4,), "int16", "int16", (0.1, 1), (0.1, 0))
    with pytest.raises(IRError, match="needs per-tensor quantization"):
        quantize_graph((4,), "int8", "int8", None, (0.1, 0))
    b = GraphBuilder()
    x = b.input("x", (4,), dtype="float32")
    with pytest.raises(IRError, match="output needs per-tensor"):
        b.op("QUANTIZE", [x])
    with pytest.raises(IRError, match="output needs per-tensor"):
        b.op("QUANTIZE", [b.input("x2", (2, 4), dtype="float32")], scale=[0.1, 0.2], zero_point=0)
