import numpy as np
import pytest

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder, run
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ops.registry import call
from edgefmr.tflite import from_tflite, to_tflite
from edgefmr.tflite.litert import run_litert


def assert_float_bit_exact(g, feeds):
    """Interpreter == LiteRT bit for bit on float32 outputs (compared as raw bits), and after round trips."""
    ours = [run(g, feeds)[o] for o in g.outputs]
    ref = run_litert(g, feeds)
    for a, r in zip(ours, ref, strict=True):
        assert a.dtype == r.dtype == np.float32 and a.shape == r.shape
        np.testing.assert_array_equal(a.view(np.uint32), r.view(np.uint32))
    for other in (from_tflite(to_tflite(g)), from_json(*to_json(g))):
        again = [run(other, feeds)[o] for o in other.outputs]
        for a, b in zip(ours, again, strict=True):
            np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    return ours


def dequantize_graph(shape, dtype, scale, zp):
    b = GraphBuilder()
    x = b.input("x", shape, dtype=dtype, scale=scale, zero_point=zp)
    y = b.op("DEQUANTIZE", [x], dtype="float32")
    b.output(y)
    return b.build()


@pytest.mark.parametrize("seed", range(9))
def test_dequantize_bit_exact(seed):
    rng = np.random.default_rng(seed)
    dtype = ["int8", "uint8", "int16"][seed % 3]
    info = np.iinfo(dtype)
    scale = float(rng.uniform(1e-4, 0.3)) if dtype != "int16" else float(rng.uniform(1e-6, 1e-2))
    zp = 0 if dtype == "int16" else int(rng.integers(info.min, info.max + 1))
    x = rng.integers(info.min, info.max, (4, 1000), endpoint=True).astype(dtype)
    g = dequantize_graph(x.shape, dtype, scale, zp)
    (y,) = assert_float_bit_exact(g, [x])
    # The definition: the float32 rounding of the exact product scale * (q - zp).
    exact = np.float64(np.float32(scale)) * (x.astype(np.int64) - zp)
    np.testing.assert_array_equal(y, exact.astype(np.float32))


@pytest.mark.parametrize("seed", range(3))
def test_dequantize_per_channel_weights(seed):
    rng = np.random.default_rng(seed)
    axis = seed % 2
    shape = (6, 9)
    n = shape[axis]
    b = GraphBuilder()
    w = b.const("w", rng.integers(-128, 128, shape).astype(np.int8), scale=rng.uniform(1e-4, 0.1, n),
                zero_point=rng.integers(-10, 10, n), axis=axis)
    y = b.op("DEQUANTIZE", [w], dtype="float32")
    b.output(y)
    g = b.build()
    assert_float_bit_exact(g, [])


def test_dequantize_macs_and_shape():
    g = dequantize_graph((2, 3), "int8", 0.1, 0)
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0
    assert g.tensors[g.outputs[0]].shape == (2, 3)


def test_dequantize_errors():
    with pytest.raises(IRError, match="int16 input needs zero point 0"):
        dequantize_graph((4,), "int16", 0.1, 5)
    b = GraphBuilder()
    x = b.input("x", (4,), scale=0.1)
    with pytest.raises(IRError, match="must be float32"):
        b.op("DEQUANTIZE", [x], dtype="int32")
    with pytest.raises(IRError, match="not supported"):
        b.op("DEQUANTIZE", [b.input("f", (4,), dtype="float32")], dtype="float32")
    with pytest.raises(IRError, match="must be quantized"):
        b.op("DEQUANTIZE", [b.input("u", (4,))], dtype="float32")
