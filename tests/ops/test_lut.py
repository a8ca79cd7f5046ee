import copy
import math

import numpy as np
import pytest

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, run, validate
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ops.lut import FUNCTIONS, make_lut
from edgefmr.ops.registry import call
from edgefmr.tflite import to_tflite


def lut_graph(shape, in_q, out_q, table, dtype="int8"):
    b = GraphBuilder()
    x = b.input("x", shape, dtype=dtype, scale=in_q[0], zero_point=in_q[1])
    t = b.const("table", table)
    b.output(b.op("LUT", [x, t], scale=out_q[0], zero_point=out_q[1]))
    return b.build()


def run_and_round_trip(g, feeds):
    """Interpreter outputs; the same after an .efm round trip."""
    out = run(g, feeds)[g.outputs[0]]
    doc, arrays = to_json(g)
    np.testing.assert_array_equal(run(from_json(doc, arrays), feeds)[g.outputs[0]], out)
    return out


def scalar_reference(f, in_q, out_q):
    """The table by the definition, one input at a time, in Python floats."""
    s_in, s_out = float(np.float32(in_q[0])), float(np.float32(out_q[0]))
    table = []
    for q in range(-128, 128):
        v = f(s_in * (q - in_q[1])) / s_out
        r = math.copysign(math.floor(abs(v) + 0.5), v) if math.isfinite(v) else math.copysign(1e9, v)
        table.append(min(127, max(-128, int(r) + out_q[1])))
    return np.array(table)


SCALAR = {
    "gelu": lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "sigmoid": lambda x: 1 / (1 + math.exp(-x)) if x > -700 else 0.0,
    "tanh": math.tanh,
    "silu": lambda x: x / (1 + math.exp(-x)) if x > -700 else 0.0,
    "exp": lambda x: math.exp(x) if x < 700 else math.inf,
    "relu": lambda x: max(x, 0.0),
    "identity": lambda x: x,
}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", sorted(SCALAR))
def test_table_is_the_quantized_function_at_every_input(name, seed):
    rng = np.random.default_rng(seed)
    in_q = (float(np.exp(rng.uniform(np.log(1e-3), np.log(0.2)))), int(rng.integers(-128, 128)))
    out_q = (float(np.exp(rng.uniform(np.log(1e-3), np.log(0.1)))), int(rng.integers(-128, 128)))
    table = make_lut(name, in_q, out_q)
    assert table.dtype == np.int8 and table.shape == (256,)
    ref = scalar_reference(SCALAR[name], in_q, out_q)
    # float64 vs Python float evaluation may differ in the last ulp: allow a difference only at exact half ties
    diff = np.nonzero(table.astype(int) != ref)[0]
    for i in diff:
        v = SCALAR[name](float(np.float32(in_q[0])) * (i - 128 - in_q[1])) / float(np.float32(out_q[0]))
        assert abs(abs(v - math.floor(v)) - 0.5) < 1e-9, (name, i, table[i], ref[i])
    # and, where not saturated, the table is within half an output step of the function
    s_in, s_out = float(np.float32(in_q[0])), float(np.float32(out_q[0]))
    for i in range(256):
        if -128 < table[i] < 127:
            v = SCALAR[name](s_in * (i - 128 - in_q[1]))
            assert abs((int(table[i]) - out_q[1]) * s_out - v) <= 0.5 * s_out * (1 + 1e-9)


def test_gelu_table_known_values():
    table = make_lut("gelu", (0.05, 0), (0.05, 0)).astype(int)
    assert table[128] == 0  # gelu(0) = 0
    assert table[128 + 40] == round(2.0 * 0.5 * (1 + math.erf(2 / math.sqrt(2))) / 0.05)  # x = 2
    assert table[0] == 0  # gelu(-6.4) ~ -5e-10
    assert np.all(np.diff(table[128:]) >= 0)


def test_make_lut_callable_saturation_and_errors():
    t = make_lut(lambda x: 1e3 * x, (1.0, 0), (1.0, 0)).astype(int)
    assert t[0] == -128 and t[255] == 127 and t[128] == 0 and t[129] == 127
    t = make_lut(lambda x: np.where(x > 0, np.inf, -np.inf), (1.0, 0), (1.0, 0)).astype(int)
    assert t[0] == -128 and t[255] == 127
    assert make_lut(lambda x: x + 0.5, (1.0, 0), (1.0, 0))[128] == 1  # half away from zero
    assert make_lut(lambda x: x - 0.5, (1.0, 0), (1.0, 0))[128] == -1
    with pytest.raises(EdgefmrError, match="unknown function 'gelu2'"):
        make_lut("gelu2", (1.0, 0), (1.0, 0))
    with pytest.raises(EdgefmrError, match="NaN at input"):
        make_lut(lambda x: np.sqrt(x), (1.0, 0), (1.0, 0))
    with pytest.raises(EdgefmrError, match="256 values"):
        make_lut(lambda x: x[:3], (1.0, 0), (1.0, 0))
    with pytest.raises(EdgefmrError, match="positive"):
        make_lut("gelu", (0.0, 0), (1.0, 0))
    assert set(FUNCTIONS) == set(SCALAR)


@pytest.mark.parametrize("shape", [(7,), (2, 3, 5), (1, 4, 4, 3), (256,)])
def test_kernel_is_the_table_lookup(shape):
    rng = np.random.default_rng(len(shape))
    in_q, out_q = (0.04, -3), (0.02, 5)
    table = rng.integers(-128, 128, 256).astype(np.int8)
    g = lut_graph(shape, in_q, out_q, table)
    x = np.arange(-128, 128).astype(np.int8) if shape == (256,) else rng.integers(-128, 128, shape).astype(np.int8)
    y = run_and_round_trip(g, [x])
    assert y.dtype == np.int8 and y.shape == shape
    for xi, yi in zip(x.ravel(), y.ravel(), strict=True):
        assert yi == table[int(xi) + 128]
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0 and c.opdef.op_counts(c) == {"mults": 0, "adds": 0}


def test_gelu_graph_matches_float_gelu():
    in_q, out_q = (0.03, 10), (0.02, -40)
    g = lut_graph((256,), in_q, out_q, make_lut("gelu", in_q, out_q))
    x = np.arange(-128, 128).astype(np.int8)
    y = run_and_round_trip(g, [x]).astype(float)
    ref = np.array([SCALAR["gelu"](float(np.float32(0.03)) * (q - 10)) for q in range(-128, 128)])
    got = (y - out_q[1]) * float(np.float32(0.02))
    inside = (y > -128) & (y < 127)
    assert np.abs(got - ref)[inside].max() <= 0.01 + 1e-9


def test_lut_errors_and_no_tflite():
    table = np.zeros(256, np.int8)
    with pytest.raises(IRError, match=r"int8\[256\]"):
        lut_graph((4,), (0.1, 0), (0.1, 0), np.zeros(255, np.int8))
    with pytest.raises(IRError, match=r"int8\[256\]"):
        lut_graph((4,), (0.1, 0), (0.1, 0), np.zeros(256, np.int16))
    with pytest.raises(IRError, match="input must be int8"):
        lut_graph((4,), (0.1, 0), (0.1, 0), table, dtype="int16")
    b = GraphBuilder()
    x = b.input("x", (4,), scale=0.1)
    t = b.input("t", (256,))
    with pytest.raises(IRError, match="must be a constant tensor"):
        b.op("LUT", [x, t], scale=0.1)
    b = GraphBuilder()
    x = b.input("x", (4,))
    with pytest.raises(IRError, match="per-tensor quantization"):
        b.op("LUT", [x, b.const("t", table)], scale=0.1)
    g = lut_graph((4,), (0.1, 0), (0.1, 0), table)
    with pytest.raises(EdgefmrError, match="without a TFLite builtin: LUT"):
        to_tflite(g)


def test_malformed_graphs_fail_cleanly():
    """Random shapes on any tensor of a valid graph: validation raises IRError or passes, never anything else."""
    g0 = lut_graph((3, 4), (0.1, 0), (0.1, 0), np.zeros(256, np.int8))
    rng = np.random.default_rng(0)
    for _ in range(60):
        g = copy.deepcopy(g0)
        t = g.tensors[list(g.tensors)[int(rng.integers(len(g.tensors)))]]
        t.shape = tuple(int(v) for v in rng.integers(0, 4, int(rng.integers(0, 4))))
        if t.data is not None:
            t.data = np.zeros(t.shape, t.data.dtype)
        try:
            validate(g)
        except IRError:
            pass
