import numpy as np
import pytest
from opcheck import assert_bit_exact, random_input

from edgefmr.ir import GraphBuilder
from edgefmr.ops.registry import call


def fc_graph(rng, batch_shape, n_in, n_out, per_channel, activation, keep_num_dims=False, bias=True):
    b = GraphBuilder()
    x = b.input("x", (*batch_shape, n_in), scale=rng.uniform(0.002, 0.1), zero_point=int(rng.integers(-128, 128)))
    w_scale = rng.uniform(0.0005, 0.02, n_out if per_channel else 1)
    w = b.const("w", rng.integers(-127, 128, (n_out, n_in)).astype(np.int8), scale=w_scale, zero_point=0)
    x_scale = b.g.tensors[x].scale
    bb = b.const("b", rng.integers(-20000, 20000, n_out).astype(np.int32), scale=x_scale * w_scale) if bias else None
    y = b.op("FULLY_CONNECTED", [x, w, bb], scale=rng.uniform(0.02, 0.6), zero_point=int(rng.integers(-128, 128)),
             activation=activation, keep_num_dims=keep_num_dims)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("seed", range(12))
def test_fully_connected_bit_exact(seed):
    rng = np.random.default_rng(seed)
    shapes = [(1,), (5,), (2, 3)]
    g = fc_graph(rng, shapes[seed % 3], int(rng.integers(1, 70)), int(rng.integers(1, 33)), seed % 2 == 0,
                 ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"][seed % 4], keep_num_dims=seed % 3 == 2, bias=seed != 5)
    assert_bit_exact(g, random_input(rng, g))


def test_fully_connected_macs_and_shape():
    g = fc_graph(np.random.default_rng(0), (4,), 16, 8, True, "NONE")
    c = call(g.nodes[0], g)
    assert c.opdef.macs(c) == 4 * 16 * 8
    assert g.tensors[g.outputs[0]].shape == (4, 8)
