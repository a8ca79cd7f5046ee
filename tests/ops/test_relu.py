import numpy as np
import pytest
from op_graphs import relu_graph, run_case
from opcheck import assert_bit_exact

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


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
