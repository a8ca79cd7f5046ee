"""LAYER_NORM_CHAIN on the QEMU boards: the Cortex-M kernel (and its portable fallback for parameters where its
32-bit arithmetic would not be exact) == the reference interpreter == the unfused chain, bit for bit; its executed
instructions per element on the Cortex-M4; and the fixture ViT built with the LayerNorm pass."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from op_cases import layer_norm_chain_inputs, layer_norm_chain_unfused, make_case, merge_graphs, reference, same_bits
from paths import FIXTURES

from edgefmr.device.semihost import graph_instructions, run_semihost
from edgefmr.firmware.build import build
from edgefmr.ir import Graph, GraphBuilder
from edgefmr.ir.passes import fuse_layer_norm

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

BOARDS = ["qemu-netduinoplus2", "qemu-mps2-an500"]


def _chain(shape, normalized_scale_factor: float = 1.0, centered_scale: float | None = None, gamma=False,
           beta=False, square: str = "squared_difference", residual: float | None = None,
           gamma_scale: float = 0.05) -> tuple[Graph, Graph]:
    """A hand-made chain whose quantization puts the kernel on a chosen path (x scale 0.02, zero point 5): the
    unfused chain and its fused graph. `residual`: x = ADD(a, constant) with that multiplier of the ADD's output."""
    b = GraphBuilder()
    if residual is None:
        x = b.input("x", shape, scale=0.02, zero_point=5)
    else:
        sa = residual * 0.02 * 2**20 / 2  # output multiplier 2 s_a / (2^20 s_x) = residual
        a = b.input("a", shape, scale=sa, zero_point=-7)
        k = b.const("k", (np.arange(np.prod(shape)) % 200 - 100).astype(np.int8).reshape(shape), scale=sa / 3,
                    zero_point=4)
        x = b.op("ADD", [a, k], scale=0.02, zero_point=5, name="sum")
        b.output(x)
    ax = b.const("axis", np.array(-1, np.int32))
    m = b.op("MEAN", [x, ax], keep_dims=True, scale=0.01, zero_point=-3)
    cs = 0.03 if centered_scale is None else centered_scale
    if square == "mul":
        c = b.op("SUB", [x, m], scale=cs, zero_point=2)
        s = b.op("MUL", [c, c], scale=cs * cs * 20, zero_point=-128)
    else:
        s = b.op("SQUARED_DIFFERENCE", [x, m], scale=0.02 * 0.02 * 20, zero_point=-128)
        c = b.op("SUB", [x, m], scale=cs, zero_point=2)
    ss = b.g.tensors[s].scale
    v = b.op("MEAN", [s, ax], keep_dims=True, scale=ss * 0.5, zero_point=-128)
    e = b.const("eps", np.array(-127, np.int8), scale=1e-6, zero_point=-128)
    ve = b.op("ADD", [v, e], scale=ss * 0.5, zero_point=-128)
    r = b.op("RSQRT", [ve], scale=float(1 / np.sqrt(ss * 0.5)) / 60, zero_point=-128)
    last = not (gamma or beta)
    n = b.op("MUL", [c, r], scale=cs * b.g.tensors[r].scale * 2 * normalized_scale_factor, zero_point=1,
             name="y" if last else "n")
    if gamma:
        n = b.op("MUL", [n, b.const("gamma", np.arange(shape[-1], dtype=np.int8) % 100, scale=0.01,
                                    zero_point=-10)], scale=gamma_scale, zero_point=0, name="y" if not beta else "g")
    if beta:
        n = b.op("ADD", [n, b.const("beta", np.array(40, np.int8), scale=0.003, zero_point=3)], scale=0.06,
                 zero_point=-2, name="y")
    b.output(n)
    chain = b.build()
    fused = fuse_layer_norm(chain)
    assert [nd.op for nd in fused.nodes] == ["LAYER_NORM_CHAIN" if residual is None else "ADD_LAYER_NORM_CHAIN"]
    return chain, fused


def edge_cases() -> list[tuple[Graph, Graph]]:
    """Paths the random cases rarely reach: MUL(c, r) with a left shift beyond the 32-bit bound (fallback), with a
    rounding right shift, SUB whose multiplier needs no right shift (fallback), one channel, 4k + 1..3 channels,
    gamma and beta with both forms of the square, the residual ADD with and without its fast path, a gamma MUL
    whose left shift leaves no 32-bit gamma table (fallback), gamma on the reciprocal root (fallback)."""
    return [
        _chain((3, 8), normalized_scale_factor=1e-6),  # MUL multiplier ~ 1e6: left shift > 13 -> portable fallback
        _chain((3, 8), normalized_scale_factor=20.0),  # MUL multiplier < 1: rounding shift (e > 0)
        _chain((2, 9), centered_scale=0.02 * 2 / 2**20 * 1.5),  # SUB multiplier in [0.5, 1): e = 0 -> fallback
        _chain((5, 1)),
        _chain((2, 5), gamma=True),
        _chain((2, 6), beta=True, square="mul"),
        _chain((4, 7), gamma=True, beta=True, square="mul"),
        _chain((1, 4, 33), gamma=True, beta=True),
        _chain((3, 5), residual=0.3),  # residual ADD with a constant, rounding shift
        _chain((3, 6), residual=0.75),  # residual ADD multiplier in [0.5, 1): e = 0 -> fallback
        _chain((2, 12), gamma=True, beta=True, gamma_scale=1e-9),  # gamma MUL left shift > 14: no gamma table
        _unfused_and_fused(layer_norm_chain_unfused(np.random.default_rng(9), shape=(3, 10), gamma=True, beta=True,
                                                    gamma_on_rsqrt=True)),  # MUL(c, MUL(r, gamma)): fallback
    ]


def _unfused_and_fused(chain: Graph) -> tuple[Graph, Graph]:
    return chain, fuse_layer_norm(chain)


def _cases() -> tuple[Graph, list[list[np.ndarray]], list[str]]:
    rng = np.random.default_rng(7)
    graphs, recs, labels = [], [], []
    for op in ("LAYER_NORM_CHAIN", "ADD_LAYER_NORM_CHAIN"):
        for seed in range(200, 224):
            g, r = make_case(op, seed)
            graphs.append(g)
            recs.append(r[:2])
            labels += [f"{op} seed {seed} output {k}" for k in range(len(g.outputs))]
    for k, (_, g) in enumerate(edge_cases()):
        make = layer_norm_chain_inputs(g)
        graphs.append(g)
        recs.append([make(rng), make(rng)])
        labels += [f"edge case {k} output {j}" for j in range(len(g.outputs))]
    g = merge_graphs(graphs)
    records = [[x for rr in recs for x in rr[i]] for i in range(2)]
    return g, records, labels


@pytest.mark.parametrize("board", BOARDS)
def test_layer_norm_chain_arm_bit_exact(board, tmp_path):
    """60 chains (24 random of each op, 12 edge cases) in one image, Cortex-M kernel: C on the board ==
    interpreter, for every output."""
    g, records, labels = _cases()
    m = build(g, board, tmp_path, tricks=False, test_inputs=records)
    assert "layer_norm_chain" in m["arm_kernels"]
    res = run_semihost(tmp_path, g)
    want = reference(g, records)
    bad = [f"{labels[k]} record {r}" for r in range(len(records)) for k in range(len(labels))
           if not same_bits(res.outputs[r][k], want[r][k])]
    assert not bad, f"{board}: the Cortex-M LAYER_NORM_CHAIN differs from the interpreter for {bad}"


def test_edge_cases_equal_the_unfused_chain():
    """The hand-made chains' fused node computes the chain's bits (interpreter, before any firmware)."""
    from edgefmr.ir import run

    rng = np.random.default_rng(3)
    for chain, g in edge_cases():
        for _ in range(5):
            xs = layer_norm_chain_inputs(g)(rng)
            want = run(chain, xs)
            assert all(np.array_equal(a, want[o]) for o, a in run(g, xs).items())


@pytest.mark.parametrize("shape,affine", [((16, 32), False), ((16, 64), False), ((64, 96), False), ((16, 32), True)])
def test_instructions_per_element_m4(shape, affine, tmp_path):
    """The whole fused LayerNorm (the fixture's form: SQUARED_DIFFERENCE; without and with per-channel gamma and
    beta) runs in at most 40 executed instructions per element on the Cortex-M4, bit-exact, and at least 8x fewer
    than the portable kernel."""
    rng = np.random.default_rng(5)
    g = fuse_layer_norm(layer_norm_chain_unfused(rng, shape=shape, square_form="squared_difference", gamma=affine,
                                                 beta=affine))
    recs = [layer_norm_chain_inputs(g)(rng) for _ in range(2)]
    arm = graph_instructions(g, "qemu-netduinoplus2", recs, tmp_path / "arm")
    ref = graph_instructions(g, "qemu-netduinoplus2", recs, tmp_path / "ref", optimized=False)
    n = shape[0] * shape[1]
    assert arm["bit_exact"] and ref["bit_exact"] and arm["kernels"] == ["layer_norm_chain"]
    assert arm["instructions"] / n <= 40, arm
    assert ref["instructions"] > 8 * arm["instructions"], (arm, ref)


def test_vit_fixture_with_the_pass_on_m4(tmp_path):
    """The converter's ViT built for the Cortex-M4 (the build fuses its five LayerNorm chains, each with the
    residual ADD before it): bit-exact with the interpreter on the original, unfused graph for four test images."""
    from edgefmr.ir.model_io import load_model

    g = load_model(FIXTURES / "vit_digits_int8.tflite")
    x = np.load(FIXTURES / "digits_test_x.npy")
    records = [[x[i:i + 1]] for i in range(4)]
    m = build(g, "qemu-netduinoplus2", tmp_path, test_inputs=records)
    assert "layer_norm_chain" in m["kernels"] and "layer_norm_chain" in m["arm_kernels"]
    assert sum(1 for layer in m["layers"] if "LAYER_NORM_CHAIN" in layer["op"]) == 5
    res = run_semihost(tmp_path, g)
    want = reference(g, records)
    assert all(same_bits(a[0], b[0]) for a, b in zip(res.outputs, want, strict=True))


def test_chain_inside_a_rows_group_on_m4(tmp_path):
    """FULLY_CONNECTED -> LayerNorm chain (gamma, beta) -> FULLY_CONNECTED with tricks: the fused LAYER_NORM_CHAIN
    runs inside the planner's token-block group (its kernel called on row blocks), Cortex-M kernels, bit-exact."""
    from edgefmr.firmware.cost import c_graph, make_plan
    from edgefmr.ir.graph import Node, Tensor

    rng = np.random.default_rng(1)
    chain = layer_norm_chain_unfused(rng, shape=(1, 16, 32), square_form="squared_difference", gamma=True, beta=True)
    xt = chain.tensors[chain.inputs[0]]
    b = GraphBuilder()
    inp = b.input("inp", (1, 16, 24), scale=0.05, zero_point=0)
    w = b.const("w", rng.integers(-127, 128, (32, 24)).astype(np.int8), scale=0.01, zero_point=0)
    x = b.op("FULLY_CONNECTED", [inp, w], scale=xt.scale, zero_point=xt.zero_point, keep_num_dims=True, name="x_fc")
    ren = {chain.inputs[0]: x}
    for name, t in chain.tensors.items():
        if name not in ren:
            ren[name] = "c_" + name
            b.g.tensors[ren[name]] = Tensor(ren[name], t.shape, t.dtype, t.quant, t.data)
    for n in chain.nodes:
        b.g.nodes.append(Node(n.op, [ren[i] if i else "" for i in n.inputs], [ren[o] for o in n.outputs],
                              dict(n.attrs), ren[n.outputs[0]]))
    w2 = b.const("w2", rng.integers(-127, 128, (8, 32)).astype(np.int8), scale=0.01, zero_point=0)
    b.output(b.op("FULLY_CONNECTED", [ren[chain.outputs[0]], w2], scale=0.1, zero_point=0, keep_num_dims=True,
                  name="z"))
    g = b.build()
    f = c_graph(g, tricks=True)[0]
    steps = make_plan(g, None, True).schedule.steps
    assert [(s.kind, [f.nodes[i].op for i in s.nodes]) for s in steps] == [
        ("rows", ["FULLY_CONNECTED", "LAYER_NORM_CHAIN", "FULLY_CONNECTED"])]
    records = [[rng.integers(-128, 128, (1, 16, 24)).astype(np.int8)] for _ in range(3)]
    m = build(g, "qemu-netduinoplus2", tmp_path, tricks=True, test_inputs=records)
    assert "layer_norm_chain" in m["arm_kernels"]
    res = run_semihost(tmp_path, g)
    assert all(same_bits(a[0], b_[0]) for a, b_ in zip(res.outputs, reference(g, records), strict=True))
