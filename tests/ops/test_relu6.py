import numpy as np
import pytest
from op_graphs import relu_graph, run_case
from opcheck import assert_bit_exact

from edgefmr.errors import IRError
from edgefmr.ops.registry import call


@pytest.mark.parametrize("seed", range(12))
def test_relu6_bit_exact(seed):
    run_case("RELU6", seed)


def test_relu6_clamps_at_six():
    # Output scale 6/127 with zero point 0: real 6 is q = 127 (roundf(6 / scale)).
    g = relu_graph("RELU6", (256,), (0.1, -28), (6 / 127, 0))
    x = np.arange(-128, 128).astype(np.int8)
    (y,) = assert_bit_exact(g, [x])
    assert y.min() == 0 and y.max() == 127
    # Input scale 0.1, zero point -28: real value ≥ 6 from q = 32; output saturates at 127 from there.
    assert (y[x >= 32] == 127).all() and (y[x < 32] < 127).all()


def test_relu6_upper_bound_below_type_max():
    # Output scale 0.05, zero point -128: real 6 is q = -128 + 120 = -8, well below the int8 maximum.
    g = relu_graph("RELU6", (256,), (0.05, 0), (0.05, -128))
    x = np.arange(-128, 128).astype(np.int8)
    (y,) = assert_bit_exact(g, [x])
    assert y.max() == -8 and (y[x >= 120] == -8).all() and y.min() == -128


def test_relu6_macs_and_shape():
    g = relu_graph("RELU6", (3, 5), (0.1, 0), (0.05, 0))
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 0
    assert g.tensors[g.outputs[0]].shape == (3, 5)


def test_relu6_errors():
    with pytest.raises(IRError, match="too small to represent 6"):
        relu_graph("RELU6", (4,), (0.1, 0), (1e-10, 0))
    with pytest.raises(IRError, match="zero point 0"):
        relu_graph("RELU6", (4,), (1e-3, 0), (1e-3, 3), "int16")
