"""The Cortex-M (DSP extension) CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D and MAX_POOL_2D kernels on QEMU
Cortex-M4 (netduinoplus2) and Cortex-M7 (mps2-an500): edge cases reaching every path of kernels/arm/conv_2d.c,
depthwise_conv_2d.c, max_pool_2d.c and average_pool_2d.c (plus randomized instances of the shared op cases), all in
one build per board, bit for bit against the reference interpreter; and the executed instructions per MAC of a
representative layer of each path against the issue's bounds."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from op_cases import make_case, merge_graphs, reference, same_bits
from paths import FIXTURES

from edgefmr.boards import load_board
from edgefmr.device.semihost import graph_instructions, run_semihost
from edgefmr.firmware.build import build, load_graph, run_host
from edgefmr.firmware.c.emitters import conv_2d as conv_em
from edgefmr.firmware.c.emitters import depthwise_conv_2d as dw_em
from edgefmr.firmware.cost import Choices, make_plan
from edgefmr.ir import Graph, GraphBuilder
from edgefmr.ops.conv_2d import kernel_params as conv_params
from edgefmr.ops.registry import call, get_op

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

BOARDS = ["qemu-netduinoplus2", "qemu-mps2-an500"]
RANDOM_SEEDS = range(200, 208)


def conv_graph(rng, x_shape, o, k, stride=(1, 1), padding="SAME", dil=(1, 1), act="NONE", groups=1,
               out_scale=None, bias_lim=3000, per_channel=True) -> Graph:
    """One CONV_2D node; out_scale None: a multiplier well below 1/2 (the 32-bit requantization)."""
    b = GraphBuilder()
    x = b.input("x", x_shape, scale=0.05, zero_point=int(rng.integers(-128, 128)))
    ci = x_shape[3] // groups
    ws = rng.uniform(0.001, 0.01, o) if per_channel else 0.005
    w = b.const("w", rng.integers(-127, 128, (o, *k, ci)).astype(np.int8), scale=ws, zero_point=0)
    bias = b.const("b", rng.integers(-bias_lim, bias_lim, o, endpoint=True).astype(np.int32))
    y = b.op("CONV_2D", [x, w, bias], scale=out_scale or float(rng.uniform(0.05, 0.3)),
             zero_point=-128 if act == "RELU" else int(rng.integers(-20, 20)), padding=padding, stride_h=stride[0],
             stride_w=stride[1], dilation_h=dil[0], dilation_w=dil[1], activation=act)
    b.output(y)
    return b.build()


def dw_graph(rng, x_shape, k, dm=1, stride=(1, 1), padding="SAME", dil=(1, 1), act="NONE", out_scale=None,
             bias=True) -> Graph:
    b = GraphBuilder()
    c = x_shape[3] * dm
    x = b.input("x", x_shape, scale=0.05, zero_point=int(rng.integers(-128, 128)))
    w = b.const("w", rng.integers(-127, 128, (1, *k, c)).astype(np.int8), scale=rng.uniform(0.001, 0.01, c),
                zero_point=0, axis=3)
    ins = [x, w]
    if bias:
        ins.append(b.const("b", rng.integers(-3000, 3000, c).astype(np.int32)))
    y = b.op("DEPTHWISE_CONV_2D", ins, scale=out_scale or float(rng.uniform(0.02, 0.2)),
             zero_point=int(rng.integers(-20, 20)), padding=padding, stride_h=stride[0], stride_w=stride[1],
             dilation_h=dil[0], dilation_w=dil[1], depth_multiplier=dm, activation=act)
    b.output(y)
    return b.build()


def pool_graph(op, x_shape, f, s=(1, 1), padding="VALID", act="NONE", dtype="int8") -> Graph:
    b = GraphBuilder()
    q = {"scale": 0.05, "zero_point": 0 if dtype == "int16" else -7}
    x = b.input("x", x_shape, dtype=dtype, **q)
    b.output(b.op(op, [x], dtype=dtype, **q, padding=padding, filter_h=f[0], filter_w=f[1], stride_h=s[0],
                  stride_w=s[1], activation=act))
    return b.build()


def _conv_cases(rng) -> list[Graph]:
    cg = conv_graph
    return [
        # 1x1 (EFM_CONV_COL_1X1): 15 pixels (a last block that overlaps the previous one), stride 2 across a batch
        cg(rng, (1, 5, 3, 8), 5, (1, 1)),
        cg(rng, (2, 4, 5, 4), 3, (1, 1), stride=(2, 2), act="RELU6"),
        # groups of four depth values: 1, 2, 3 and 5 (the odd group, pairs, no pair)
        cg(rng, (1, 4, 4, 4), 6, (1, 1), act="RELU_N1_TO_1"),
        cg(rng, (1, 3, 5, 12), 4, (1, 1)),
        cg(rng, (1, 4, 7, 4), 3, (1, 5), padding="SAME", per_channel=False),
        # whole taps (COL_TAPS): padding rows and columns, dilation across the width, stride 2
        cg(rng, (1, 6, 5, 4), 7, (3, 3), dil=(1, 2), act="RELU"),
        cg(rng, (1, 7, 7, 8), 5, (3, 3), stride=(2, 2)),
        cg(rng, (2, 5, 6, 4), 4, (2, 3), stride=(1, 3), padding="VALID", dil=(2, 1)),
        # whole rows of taps (COL_ROWS): k_w k_c % 4 == 0 with vertical padding; a 4x4/s4 patch embedding
        cg(rng, (1, 9, 8, 2), 6, (3, 2), stride=(1, 2)),
        cg(rng, (1, 8, 12, 3), 9, (4, 4), stride=(4, 4), padding="VALID"),
        # bytes (COL_BYTES): DS-CNN-like first layer (K = 40), 3x3 on 3 channels (K = 27), 2x2/s2 patches of one
        # channel (K = 4), 1x1 on 3 channels, dilation on odd channels
        cg(rng, (1, 11, 6, 1), 8, (10, 4), stride=(2, 2)),
        cg(rng, (1, 7, 7, 3), 5, (3, 3), act="RELU"),
        cg(rng, (1, 6, 6, 1), 7, (2, 2), stride=(2, 2), padding="VALID"),
        cg(rng, (1, 5, 5, 3), 3, (1, 1)),
        cg(rng, (2, 6, 7, 5), 3, (2, 3), dil=(2, 2), act="RELU6"),
        # the LMU embedding (kernel [k, 1], stride [p, 1] over time) and the spiking stem (k x 1 SAME on [L, 1])
        cg(rng, (1, 16, 1, 3), 8, (4, 1), stride=(2, 1), padding="VALID"),
        cg(rng, (1, 12, 1, 4), 6, (3, 1)),
        cg(rng, (1, 9, 1, 6), 5, (3, 1)),
        # one or two pixels left over after the blocks of four: the matrix-vector pass, with int16 weights where
        # K4 % 8 == 0 (the spiking transformer's RPE conv over 25 tokens, a stem over 10 frames) or without
        cg(rng, (1, 25, 1, 32), 6, (3, 1)),
        cg(rng, (1, 10, 1, 16), 5, (3, 1), act="RELU"),
        cg(rng, (1, 5, 2, 4), 3, (3, 3)),
        # fewer than four output pixels
        cg(rng, (1, 1, 3, 4), 3, (1, 1)),
        cg(rng, (1, 1, 1, 3), 4, (1, 1), act="RELU6"),
        cg(rng, (1, 2, 1, 8), 2, (3, 3)),
        # one window (a streaming LMU step's embedding: kernel [k, 1] over the k buffered rows), odd channels
        cg(rng, (1, 3, 1, 16), 9, (3, 1), padding="VALID", act="RELU"),
        # the portable loop: groups, multipliers >= 1/2, tiny multipliers (right shift > 22), huge biases
        cg(rng, (1, 5, 5, 4), 4, (3, 3), groups=2),
        cg(rng, (1, 4, 4, 4), 3, (1, 1), out_scale=1e-4),
        cg(rng, (1, 4, 4, 4), 3, (3, 3), out_scale=2e4),
        cg(rng, (1, 4, 4, 4), 3, (1, 1), bias_lim=2**31 - 1),
        # the small-depth path (k_h k_w k_c <= 8; also the 1x1 on 8, 4 and 3 channels and the 2x2 patches of one
        # channel above): a 1x3 window on 2 channels with padding and a clamp (K4 = 8), and 1x1 stride-1 layers with
        # out_c a multiple of 4 (all pixels in one asm loop) with K4 = 8 and a clamp, K4 = 4 across a batch
        cg(rng, (1, 5, 4, 2), 5, (1, 3), act="RELU6"),
        cg(rng, (1, 3, 5, 8), 8, (1, 1), act="RELU6"),
        cg(rng, (2, 3, 3, 4), 4, (1, 1)),
        # windows of two bytes from two rows, all inside the input (two halfword loads): a batch with odd sizes and a
        # clamp, one column of two channels with a row dilation; SAME padding reaches outside (the checked gather)
        cg(rng, (2, 7, 9, 1), 8, (2, 2), stride=(2, 2), padding="VALID", act="RELU6"),
        cg(rng, (1, 6, 5, 2), 4, (2, 1), dil=(2, 1), padding="VALID"),
        cg(rng, (1, 5, 5, 1), 4, (2, 2)),
    ]


def _dw_cases(rng) -> list[Graph]:
    return [
        # unrolled 3x3, full four-channel groups: interior and border pixels, both store variants
        dw_graph(rng, (1, 6, 7, 8), (3, 3), act="RELU"),
        dw_graph(rng, (2, 7, 5, 12), (3, 3), stride=(2, 2), padding="VALID"),
        dw_graph(rng, (1, 5, 5, 4), (3, 3), dil=(2, 1), act="RELU_N1_TO_1", bias=False),
        # any window
        dw_graph(rng, (1, 9, 8, 8), (5, 3), dil=(1, 2)),
        dw_graph(rng, (1, 3, 4, 4), (1, 1), act="RELU6"),
        dw_graph(rng, (1, 5, 6, 4), (2, 2), stride=(1, 2), act="RELU"),
        # channel tails: one full group and two channels, fewer than four channels, one channel
        dw_graph(rng, (1, 5, 5, 6), (3, 3), act="RELU6"),
        dw_graph(rng, (1, 6, 4, 3), (2, 3)),
        dw_graph(rng, (1, 4, 4, 1), (3, 3), stride=(2, 1)),
        # depth multipliers above 1
        dw_graph(rng, (1, 6, 5, 5), (3, 3), dm=2),
        dw_graph(rng, (1, 5, 4, 4), (2, 2), dm=3, act="RELU", padding="VALID"),
        # the portable loop (a multiplier >= 1/2)
        dw_graph(rng, (1, 4, 4, 4), (3, 3), out_scale=1e-4),
    ]


def _pool_cases() -> list[Graph]:
    out = []
    for op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        out += [
            pool_graph(op, (1, 8, 8, 8), (2, 2), (2, 2)),  # four-channel groups, two taps per loop iteration
            pool_graph(op, (2, 9, 7, 7), (3, 3), (2, 2), "SAME", "RELU"),  # borders, a channel tail, odd taps
            pool_graph(op, (1, 5, 5, 12), (5, 5), act="RELU6"),  # global: the window is one contiguous run
            pool_graph(op, (1, 6, 6, 4), (6, 6), act="RELU_N1_TO_1"),
            pool_graph(op, (1, 7, 6, 3), (3, 1), (1, 2), "SAME"),  # channels only in the tail
            pool_graph(op, (1, 6, 5, 4), (2, 2), (1, 1), "SAME", dtype="int16"),  # int16: the portable kernel
        ]
    out.append(pool_graph("AVERAGE_POOL_2D", (1, 17, 16, 4), (17, 16)))  # > 256 taps: the portable loop
    return out


def _random_cases() -> list[tuple[Graph, list[list[np.ndarray]]]]:
    return [make_case(op, s) for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")
            for s in RANDOM_SEEDS]


def _uniform(rng, g: Graph) -> list[np.ndarray]:
    out = []
    for name in g.inputs:
        t = g.tensors[name]
        info = np.iinfo(t.dtype)
        out.append(rng.integers(info.min, info.max, t.shape, endpoint=True).astype(t.dtype))
    return out


def test_edge_cases_reach_every_path():
    """The deterministic cases cover every column builder and fallback of the CONV_2D kernel and both kinds of
    DEPTHWISE_CONV_2D packing (checked on the emitters' plans, so the QEMU test below runs each path)."""
    rng = np.random.default_rng(3)
    modes = set()
    for g in _conv_cases(rng):
        plan = conv_em.arm_conv(call(g.nodes[0], g))
        modes.add(plan.cols if plan is not None else None)
    assert modes == {conv_em.COL_1X1, conv_em.COL_TAPS, conv_em.COL_ROWS, conv_em.COL_BYTES, None}
    small = set()
    for g in _conv_cases(np.random.default_rng(3)):
        c = call(g.nodes[0], g)
        plan, kp = conv_em.arm_conv(c), conv_params(c)
        if plan is not None and plan.small is not None:
            run = plan.cols == conv_em.COL_1X1 and kp["stride_h"] == kp["stride_w"] == 1 and kp["out_c"] % 4 == 0
            small.add((plan.k4, kp["act_min"] > -128 or kp["act_max"] < 127, run))
    assert {(k4, clamp) for k4, clamp, _ in small} == {(4, False), (4, True), (8, False), (8, True)}, small
    assert {(k4, run) for k4, _, run in small} >= {(4, True), (8, True), (4, False), (8, False)}, small
    tails = set()
    for g in _conv_cases(rng):
        c = call(g.nodes[0], g)
        plan, y = conv_em.arm_conv(c), c.out()
        npix = y.size // y.shape[3]
        if plan is not None and plan.small is None and npix > 4 and npix % 4 in (1, 2):
            tails.add((npix % 4, plan.k4 % 8 == 0))  # the leftover pixels, with int16 weights or without
    assert tails == {(1, True), (1, False), (2, True), (2, False)}, tails
    packed = {dw_em.arm_depthwise_rows(call(g.nodes[0], g)) is not None for g in _dw_cases(rng)}
    assert packed == {True, False}


@pytest.mark.parametrize("board", BOARDS)
def test_arm_conv_pool_paths(board, tmp_path):
    """Every edge case and 8 random instances of each op's shared generator, in one image: C on the board with the
    Cortex-M kernels == interpreter, bit for bit."""
    rng = np.random.default_rng(3)
    graphs = _conv_cases(rng) + _dw_cases(rng) + _pool_cases()
    recs_rng = np.random.default_rng(11)
    edge_records = [[_uniform(recs_rng, g) for g in graphs] for _ in range(2)]
    rand = _random_cases()
    g = merge_graphs(graphs + [c[0] for c in rand])
    records = [[x for per_graph in edge_records[r] for x in per_graph] + [x for _, recs in rand for x in recs[r]]
               for r in range(2)]
    m = build(g, board, tmp_path, tricks=False, test_inputs=records)
    assert {"conv_2d", "depthwise_conv_2d", "max_pool_2d", "average_pool_2d"} <= set(m["arm_kernels"])
    # every CONV_2D the small-depth path can run is generated to take it (efm_conv_2d_small)
    small = sum(1 for n in g.nodes if n.op == "CONV_2D" and (plan := conv_em.arm_conv(call(n, g))) is not None
                and plan.small is not None)
    assert small >= 8 and (tmp_path / "src" / "model.c").read_text().count("efm_conv_2d_small(") == small
    res = run_semihost(tmp_path, g)
    want = reference(g, records)
    bad = [f"{g.outputs[k]} ({g.nodes[k].op}) record {r}" for r in range(2) for k in range(len(g.outputs))
           if not same_bits(res.outputs[r][k], want[r][k])]
    assert not bad, bad


#: (name, graph maker, bound on the Cortex-M4 executed instructions per MAC) of each path (issue #15/#16).
TARGETS = [
    ("1x1 64->64 on 25x5 (DS-CNN pointwise)", lambda rng: conv_graph(rng, (1, 25, 5, 64), 64, (1, 1)), 1.6),
    ("3x3 16->16 on 16x16 (ResNet-8)", lambda rng: conv_graph(rng, (1, 16, 16, 16), 16, (3, 3), act="RELU"), 1.8),
    ("first layer 10x4/s2 1->64 on 49x10 (DS-CNN)",
     lambda rng: conv_graph(rng, (1, 49, 10, 1), 64, (10, 4), stride=(2, 2)), 4.0),
    ("first layer 3x3 3->16 on 16x16 (ResNet-8)",
     lambda rng: conv_graph(rng, (1, 16, 16, 3), 16, (3, 3), act="RELU"), 4.0),
    ("patch embedding 4x4/s4 3->96 on 32x32",
     lambda rng: conv_graph(rng, (1, 32, 32, 3), 96, (4, 4), stride=(4, 4), padding="VALID"), 1.5),
    ("depthwise 3x3 on 25x5x64 (DS-CNN)", lambda rng: dw_graph(rng, (1, 25, 5, 64), (3, 3)), 5.0),
]


@pytest.mark.parametrize("name,make,bound", TARGETS, ids=[t[0].split(" (")[0] for t in TARGETS])
def test_instructions_per_mac(name, make, bound, tmp_path):
    """A representative layer of each path on QEMU Cortex-M4: the whole kernel call within the issue's bound of
    executed instructions per MAC, bit-exact, and several times fewer than the portable kernel."""
    rng = np.random.default_rng(5)
    g = make(rng)
    records = [_uniform(rng, g)]
    c = call(g.nodes[0], g)
    macs = get_op(g.nodes[0].op).macs(c)
    arm = graph_instructions(g, "qemu-netduinoplus2", records, tmp_path / "arm")
    ref = graph_instructions(g, "qemu-netduinoplus2", records, tmp_path / "ref", optimized=False)
    assert arm["bit_exact"] and ref["bit_exact"]
    assert arm["kernels"] and not ref["kernels"]
    per_mac = arm["instructions"] / macs
    assert per_mac <= bound, f"{name}: {per_mac:.3f} instructions per MAC > {bound}"
    assert ref["instructions"] > 3 * arm["instructions"], (name, ref["instructions"], arm["instructions"])


@pytest.mark.parametrize("board", BOARDS)
def test_vit_patch_embedding_in_its_fused_step(board, tmp_path):
    """A ViT with tricks: the patch embedding runs band by band in its fused step, with the Cortex-M CONV_2D kernel
    and the scratch the planner reserves in that step == interpreter."""
    from edgefmr.firmware.vit_graph import build_vit

    g = build_vit(image_size=16, patch=4, embed=32, depth=1, heads=2, num_classes=10)
    rng = np.random.default_rng(0)
    records = [_uniform(rng, g) for _ in range(2)]
    m = build(g, board, tmp_path, tricks=True, test_inputs=records)
    assert "conv_2d" in m["arm_kernels"] and m["plan"]["layers"][0]["kind"] == "patch_embed"
    res = run_semihost(tmp_path, g)
    want = reference(g, records)
    assert all(same_bits(res.outputs[r][k], want[r][k]) for r in range(2) for k in range(len(g.outputs)))


def _inplace_steps(m: dict) -> int:
    """Convolution steps of a build whose output overwrites its input in place."""
    return sum(1 for s in m["plan"]["schedule"]["steps"] if s["kind"] == "op" and s.get("overwrites"))


@pytest.mark.parametrize("board", [*BOARDS, "host"])
def test_in_place_convolutions(board, tmp_path):
    """Every edge case with MCUFormer's tricks: each convolution's output overwrites its dying input from
    schedule.conv_overwrite_offset bytes before it (rows streamed in order), on the board with the Cortex-M kernels
    and on the host with the portable ones, bit for bit."""
    rng = np.random.default_rng(3)
    graphs = _conv_cases(rng) + _dw_cases(rng)
    recs_rng = np.random.default_rng(12)
    g = merge_graphs(graphs)
    records = [[x for sub in graphs for x in _uniform(recs_rng, sub)] for _ in range(2)]
    out = tmp_path / board
    m = build(g, board, out, tricks=True, choose_tricks=False, choices=Choices(in_place=True),
              test_inputs=records)
    assert _inplace_steps(m) >= len(graphs) - 3, _inplace_steps(m)  # the 1x1 VALID ones are patch-embedding steps
    got = run_host(out, g, records) if board == "host" else run_semihost(out, g).outputs
    want = reference(g, records)
    bad = [f"{g.outputs[k]} ({g.nodes[k].op}) record {r}" for r in range(2) for k in range(len(g.outputs))
           if not same_bits(got[r][k], want[r][k])]
    assert not bad, bad


@pytest.mark.parametrize("name", ["dscnn_int8", "resnet8_int8", "mobilenet_v1_025_int8"])
def test_mlperf_cnn_default_build_in_place(name, tmp_path):
    """The MLPerf Tiny-architecture fixtures as `edgefmr build` makes them by default (in-place convolutions, the
    Cortex-M kernels) on QEMU Cortex-M4: bit-exact with the interpreter, and an arena (kernel scratch included)
    below the one-tensor-per-layer plan without any kernel scratch."""
    g, _ = load_graph(FIXTURES / f"{name}.tflite")
    x = np.load(FIXTURES / f"{name}_x.npy")[:1]
    records = [[x[0:1].astype(np.int8)]]
    m = build(g, "qemu-netduinoplus2", tmp_path, test_inputs=records)
    assert m["tricks"] and _inplace_steps(m) > 0
    lean = make_plan(g, load_board("qemu-netduinoplus2"), tricks=False)
    assert m["predicted"]["arena_total"] < lean.arena_size
    res = run_semihost(tmp_path, g)
    assert same_bits(res.outputs[0][0], reference(g, records)[0][0])
