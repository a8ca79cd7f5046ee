"""The randomized test cases of every IR op, one generator per op (CASES): used by the host C, QEMU and HLS kernel
tests alike, so every backend's kernel of an op is checked on the very same instances."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgefmr.errors import IRError
from edgefmr.ir import Graph, GraphBuilder, run
from edgefmr.ir.graph import Node, Quant, Tensor

Inputs = Callable[[np.random.Generator], list[np.ndarray]]


def uniform_inputs(g: Graph) -> Inputs:
    """Uniform values over each input's integer range; float32 inputs get values around the quantization grid."""

    def make(rng: np.random.Generator) -> list[np.ndarray]:
        out = []
        for name in g.inputs:
            t = g.tensors[name]
            if t.dtype == "float32":
                v = rng.normal(0, 3, t.shape).astype(np.float32)
                special = np.array([0.5, -0.5, 1.5, -2.5, 1e10, -1e10, np.inf, -np.inf, np.nan, 0.0], np.float32)
                flat = v.ravel()
                flat[: min(flat.size, special.size)] = special[: flat.size]
                out.append(v)
            else:
                info = np.iinfo(t.dtype)
                out.append(rng.integers(info.min, info.max, t.shape, endpoint=True).astype(t.dtype))
        return out

    return make


def _q(rng, lo=0.005, hi=0.2):
    return {"scale": float(rng.uniform(lo, hi)), "zero_point": int(rng.integers(-128, 128))}


def fc_case(rng):
    """Rows around the Cortex-M kernel's 6- and 4-row blocks (1..16), depths with every remainder mod 4 (and plain
    multiples of 4, the panel path) and odd/even group counts, per-channel or per-tensor weights, biases up to the
    int32 range (64-bit requantization), multipliers in [0.25, 0.5) (shift -1) and above 1, every activation."""
    b = GraphBuilder()
    n_in = int(rng.integers(1, 41)) if rng.random() < 0.5 else 4 * int(rng.integers(1, 11))
    n_out = int(rng.integers(1, 24))
    batch = [(1,), (3,), (2, 3), (1, 5), (4,), (2, 4), (7,), (10,), (13,), (16,)][int(rng.integers(0, 10))]
    xs = float(rng.uniform(0.01, 0.1))
    x = b.input("x", (*batch, n_in), scale=xs, zero_point=int(rng.integers(-128, 128)))
    per_channel = rng.random() < 0.6
    ws = rng.uniform(0.001, 0.02, n_out) if per_channel else float(rng.uniform(0.001, 0.02))
    w = b.const("w", rng.integers(-127, 128, (n_out, n_in)).astype(np.int8), scale=ws, zero_point=0)
    ins = [x, w]
    if rng.random() < 0.8:
        lim = 2**31 - 1 if rng.random() < 0.15 else 5000
        ins.append(b.const("b", rng.integers(-lim, lim, n_out).astype(np.int32)))
    act = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"][int(rng.integers(0, 4))]
    u = rng.random()
    # Output scale: usual (multiplier well below 1), the largest multiplier in [0.25, 0.5) (shift -1), or above 1.
    ys = (xs * float(np.max(ws)) / float(rng.uniform(0.25, 0.49)) if u < 0.15 else
          xs * float(np.min(ws)) / float(rng.uniform(1.5, 40.0)) if u < 0.25 else float(rng.uniform(0.02, 0.3)))
    y = b.op("FULLY_CONNECTED", ins, scale=ys, zero_point=int(rng.integers(-128, 128)), activation=act,
             keep_num_dims=bool(rng.random() < 0.5))
    b.output(y)
    return b.build()


def bmm_case(rng):
    """Both adj_y forms (and adj_x), rows around the 6- and 4-row blocks, depths with every remainder mod 4 and
    multiples of 4 with every group count mod 4, batch broadcast on either side and rank 2..4, zero points on both
    operands, output scales giving the fast double-rounding form, multipliers >= 1 and tiny ones (shift < -22)."""
    b = GraphBuilder()
    rows = [1, 3, 4, 5, 6, 7, 8, 10, 12, 13, 16][int(rng.integers(0, 11))]
    depth = int(rng.integers(1, 12)) if rng.random() < 0.4 else 4 * int(rng.integers(1, 9))
    cols = int(rng.integers(1, 12))
    adj_x, adj_y = bool(rng.random() < 0.2), bool(rng.random() < 0.5)
    batches = [((), ()), ((2,), (2,)), ((2, 3), (1, 3)), ((1, 2), (3, 1)), ((2,), ()), ((), (3,)),
               ((1, 2, 2), (2, 1, 2))][int(rng.integers(0, 7))]
    ls = (*batches[0], *((depth, rows) if adj_x else (rows, depth)))
    rs = (*batches[1], *((cols, depth) if adj_y else (depth, cols)))
    lq, rq = _q(rng, 0.01, 0.1), _q(rng, 0.01, 0.1)
    x = b.input("l", ls, **lq)
    if rng.random() < 0.3:
        r = b.const("r", rng.integers(-128, 128, rs).astype(np.int8), **rq)
    else:
        r = b.input("r", rs, **rq)
    u = rng.random()
    prod = lq["scale"] * rq["scale"]
    ys = (prod / float(rng.uniform(0.5, 4.0)) if u < 0.15 else prod * float(rng.uniform(2**23, 2**25)) if u < 0.25
          else float(rng.uniform(0.05, 1.0)))
    y = b.op("BATCH_MATMUL", [x, r], scale=ys, zero_point=int(rng.integers(-128, 128)), adj_x=adj_x, adj_y=adj_y)
    b.output(y)
    return b.build()


_ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def _conv_out_q(rng):
    """Output quantization of a convolution: mostly multipliers below 1/2 (the Cortex-M kernels' 32-bit path),
    sometimes a tiny output scale (multipliers >= 1/2: their portable fallback)."""
    return {"scale": float(rng.uniform(5e-4, 2e-3)) if rng.random() < 0.1 else float(rng.uniform(0.05, 0.5)),
            "zero_point": -128 if rng.random() < 0.3 else int(rng.integers(-128, 128))}


def conv_case(rng):
    """CONV_2D: every window builder of the Cortex-M kernel (1x1 with channels % 4 == 0, whole taps, whole rows,
    bytes), patch embeddings (kernel == stride, VALID), groups, strides 1-3, dilations on both axes, channel counts
    1..8, batches, per-tensor and per-channel weights, every fused activation."""
    b = GraphBuilder()
    kind = int(rng.integers(0, 4))
    cin_g = [1, 2, 3, 4, 5, 8][int(rng.integers(0, 6))]
    groups = 2 if rng.random() < 0.15 else 1
    o = groups * int(rng.integers(1, 7))
    if kind == 0:  # 1x1 (pointwise), any stride
        k, stride, dil = (1, 1), (int(rng.integers(1, 3)), int(rng.integers(1, 3))), (1, 1)
    elif kind == 1:  # patch embedding
        k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        stride, dil = k, (1, 1)
    else:
        k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    padding = "VALID" if kind == 1 else ["SAME", "VALID"][int(rng.integers(0, 2))]
    eff = ((k[0] - 1) * dil[0] + 1, (k[1] - 1) * dil[1] + 1)
    h, w_ = int(rng.integers(eff[0], eff[0] + 8)), int(rng.integers(eff[1], eff[1] + 8))
    x = b.input("x", (int(rng.integers(1, 3)), h, w_, cin_g * groups), **_q(rng, 0.01, 0.1))
    ws = rng.uniform(0.001, 0.05, o) if rng.random() < 0.7 else float(rng.uniform(0.001, 0.05))
    w = b.const("w", rng.integers(-127, 128, (o, *k, cin_g)).astype(np.int8), scale=ws, zero_point=0)
    bias = b.const("b", rng.integers(-3000, 3000, o).astype(np.int32))
    y = b.op("CONV_2D", [x, w, bias], **_conv_out_q(rng), padding=padding, stride_h=stride[0], stride_w=stride[1],
             dilation_h=dil[0], dilation_w=dil[1], activation=_ACTS[int(rng.integers(0, 4))])
    b.output(y)
    return b.build()


def dw_case(rng):
    """DEPTHWISE_CONV_2D: 3x3 windows (the Cortex-M kernel's unrolled loop) and any other, channel counts 1..9
    (tails of the four-channel groups), depth multipliers 1-3, strides 1-3, dilations, batches, bias or none."""
    b = GraphBuilder()
    c, dm = int(rng.integers(1, 10)), [1, 1, 2, 3][int(rng.integers(0, 4))]
    k = (3, 3) if rng.random() < 0.4 else (int(rng.integers(1, 5)), int(rng.integers(1, 4)))
    dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    eff = ((k[0] - 1) * dil[0] + 1, (k[1] - 1) * dil[1] + 1)
    x = b.input("x", (int(rng.integers(1, 3)), int(rng.integers(eff[0], eff[0] + 7)),
                      int(rng.integers(eff[1], eff[1] + 7)), c), **_q(rng, 0.01, 0.1))
    ws = rng.uniform(0.001, 0.05, c * dm) if rng.random() < 0.7 else float(rng.uniform(0.001, 0.05))
    w = b.const("w", rng.integers(-127, 128, (1, *k, c * dm)).astype(np.int8), scale=ws, zero_point=0, axis=3)
    ins = [x, w]
    if rng.random() < 0.7:
        ins.append(b.const("b", rng.integers(-3000, 3000, c * dm).astype(np.int32)))
    y = b.op("DEPTHWISE_CONV_2D", ins, **_conv_out_q(rng), padding=["SAME", "VALID"][int(rng.integers(0, 2))],
             stride_h=int(rng.integers(1, 4)), stride_w=int(rng.integers(1, 4)), dilation_h=dil[0],
             dilation_w=dil[1], depth_multiplier=dm, activation=_ACTS[int(rng.integers(0, 4))])
    b.output(y)
    return b.build()


def pool_case(op):
    """AVERAGE_POOL_2D / MAX_POOL_2D: int8 (channel counts 1..9: four-channel groups and tails) and int16, windows
    up to 4x4 and global windows, strides 1-3, SAME / VALID, every fused activation."""

    def make(rng):
        b = GraphBuilder()
        dtype = "int16" if rng.random() < 0.25 else "int8"
        zp = 0 if dtype == "int16" else int(rng.integers(-20, 20))
        q = {"scale": float(rng.uniform(0.01, 0.1)), "zero_point": zp}
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 10)))
        if rng.random() < 0.2:
            f, s, padding = (shape[1], shape[2]), (1, 1), "VALID"  # global pooling
        else:
            f = (int(rng.integers(1, min(shape[1], 4) + 1)), int(rng.integers(1, min(shape[2], 4) + 1)))
            s, padding = (int(rng.integers(1, 4)), int(rng.integers(1, 4))), ["SAME", "VALID"][int(rng.integers(0, 2))]
        x = b.input("x", shape, dtype=dtype, **q)
        y = b.op(op, [x], dtype=dtype, **q, padding=padding, filter_h=f[0], filter_w=f[1], stride_h=s[0],
                 stride_w=s[1], activation=_ACTS[int(rng.integers(0, 4))])
        b.output(y)
        return b.build()

    return make


def mean_case(rng):
    b = GraphBuilder()
    dtype = "int16" if rng.random() < 0.25 else "int8"
    if rng.random() < 0.4:
        # The Cortex-M kernel's layouts: over the last axis (rows of 8-byte blocks with tails), over tokens
        # ([1, T, C], kept columns in blocks of four with tails).
        if rng.random() < 0.5:
            shape = (int(rng.integers(1, 4)), int(rng.integers(1, 80)))
            axes = [-1]
        else:
            shape = (1, int(rng.integers(1, 40)), int(rng.integers(1, 23)))
            axes = [1]
        rank = len(shape)
    else:
        rank = int(rng.integers(1, 5))
        shape = tuple(int(d) for d in rng.integers(1, 7, rank))
        n_axes = int(rng.integers(0, rank + 1))
        axes = [int(a) for a in rng.choice(np.arange(-rank, rank), n_axes, replace=False)] if n_axes else []
    zp = (lambda: 0) if dtype == "int16" else (lambda: int(rng.integers(-128, 128)))
    x = b.input("x", shape, dtype=dtype, scale=float(rng.uniform(0.01, 0.1)), zero_point=zp())
    ax = b.const("axes", np.array(axes if len(axes) != 1 or rng.random() < 0.5 else axes[0], np.int32))
    y = b.op("MEAN", [x, ax], dtype=dtype, scale=float(rng.uniform(0.01, 0.1)), zero_point=zp(),
             keep_dims=bool(rng.random() < 0.5))
    b.output(y)
    return b.build()


def softmax_case(rng):
    b = GraphBuilder()
    shape = [(10,), (1, 10), (2, 16, 16), (3, 1), (4, 37), (2, 3), (1, 70)][int(rng.integers(0, 7))]
    x = b.input("x", shape, **_q(rng, 0.02, 0.5))
    y = b.op("SOFTMAX", [x], scale=1.0 / 256, zero_point=-128, beta=float(rng.choice([1.0, 0.5, 2.0])))
    b.output(y)
    return b.build()


def lut_case(op, out_quant):
    def make(rng):
        b = GraphBuilder()
        x = b.input("x", (int(rng.integers(1, 4)), int(rng.integers(1, 90))), **_q(rng, 0.01, 0.2))
        q = out_quant or {"scale": float(rng.uniform(0.01, 0.3)), "zero_point": int(rng.integers(-128, 0))}
        y = b.op(op, [x], **q)
        b.output(y)
        return b.build()

    return make


def relu_case(op):
    def make(rng):
        b = GraphBuilder()
        dtype = ["int8", "uint8", "int16"][int(rng.integers(0, 3))]
        zp = (lambda: 0) if dtype == "int16" else (lambda: int(rng.integers(0, 256)) + np.iinfo(dtype).min)
        x = b.input("x", (int(rng.integers(1, 4)), int(rng.integers(1, 50))), dtype=dtype,
                    scale=float(rng.uniform(0.005, 0.1)), zero_point=zp())
        y = b.op(op, [x], dtype=dtype, scale=float(rng.uniform(0.005, 0.1)), zero_point=zp())
        b.output(y)
        return b.build()

    return make


BINARY_SHAPES = [((1, 4, 8), (8,)), ((2, 1, 3), (1, 5, 3)), ((3, 4), (3, 4)), ((2, 3), ()), ((4, 1), (1, 4)),
                 ((2, 3, 1, 4, 1), (3, 5, 1, 2)), ((1, 16, 32), (1, 16, 1)), ((1,), (2, 3, 2)),
                 # the Cortex-M kernels' paths: 4-element blocks with tails of 1..3, tables from 128 elements, row
                 # broadcast, one value repeated per row, both inputs repeated along the last axis
                 ((5, 37), (37,)), ((3, 131), ()), ((2, 67), (2, 67)), ((7, 1), (7, 19)), ((6, 1), (1, 1)),
                 ((9, 33), (9, 1)), ((130,), (130,)), ((2, 2, 1), (2, 2, 1))]


def _binary_scales(rng, op):
    """(input 0, input 1, output) quantization: random scales and zero points, at times equal input scales (both
    inputs then rescale by a shift), extreme zero points, or (MUL) an output scale giving multipliers above 1."""
    qa, qb = _q(rng, 0.002, 0.2), _q(rng, 0.002, 0.2)
    if rng.random() < 0.25:
        qb["scale"] = qa["scale"]
    for q in (qa, qb):
        if rng.random() < 0.2:
            q["zero_point"] = int(rng.choice([-128, 127]))
    lo, hi = (0.05, 3.0) if op in ("MUL", "SQUARED_DIFFERENCE") else (0.005, 0.4)
    qy = _q(rng, lo, hi)
    if op == "MUL" and rng.random() < 0.4:
        qy["scale"] = qa["scale"] * qb["scale"] * float(rng.choice([0.001, 0.02, 0.3, 0.7, 1.5]))
    if rng.random() < 0.15:
        qy["zero_point"] = int(rng.choice([-128, 127]))
    return qa, qb, qy


def binary_case(op):
    def make(rng):
        b = GraphBuilder()
        sa, sb = BINARY_SHAPES[int(rng.integers(0, len(BINARY_SHAPES)))]
        if rng.random() < 0.5:
            sa, sb = sb, sa
        qa, qb, qy = _binary_scales(rng, op)
        x1 = b.input("a", sa, **qa)
        if rng.random() < 0.3:
            x2 = b.const("k", rng.integers(-128, 128, sb).astype(np.int8), **qb)
        else:
            x2 = b.input("b", sb, **qb)
        kw = {} if op == "SQUARED_DIFFERENCE" else {
            "activation": ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"][int(rng.integers(0, 4))]}
        y = b.op(op, [x1, x2], **qy, **kw)
        b.output(y)
        return b.build()

    return make


def reshape_case(rng):
    b = GraphBuilder()
    dtype = ["int8", "int16", "float32"][int(rng.integers(0, 3))]
    q = {} if dtype == "float32" else {"scale": 0.1, "zero_point": 0}
    x = b.input("x", (2, 3, 4), dtype=dtype, **q)
    s = b.const("s", np.array([[4, 6], [-1, 2], [24, 1]][int(rng.integers(0, 3))], np.int32))
    y = b.op("RESHAPE", [x, s], dtype=dtype, **q)
    b.output(y)
    return b.build()


def transpose_case(rng):
    b = GraphBuilder()
    dtype = ["int8", "int16", "int32", "float32"][int(rng.integers(0, 4))]
    q = {"scale": 0.1, "zero_point": 0} if dtype in ("int8", "int16") else {}
    rank = int(rng.integers(1, 7))
    shape = tuple(int(d) for d in rng.integers(1, 5, rank))
    perm = rng.permutation(rank)
    perm = [int(p) - (rank if rng.random() < 0.2 else 0) for p in perm]
    x = b.input("x", shape, dtype=dtype, **q)
    y = b.op("TRANSPOSE", [x, b.const("perm", np.array(perm, np.int32))], dtype=dtype, **q)
    b.output(y)
    return b.build()


def concat_case(rng):
    b = GraphBuilder()
    dtype = ["int8", "uint8", "int16", "float32"][int(rng.integers(0, 4))]
    rank = int(rng.integers(1, 5))
    axis = int(rng.integers(-rank, rank))
    base = [int(d) for d in rng.integers(1, 5, rank)]
    qo = {"scale": 0.05, "zero_point": 3 if dtype != "int16" else 0} if dtype != "float32" else {}
    xs = []
    for i in range(int(rng.integers(1, 5))):
        s = list(base)
        s[axis] = int(rng.integers(1, 4))
        q = dict(qo)
        if dtype == "uint8" and rng.random() < 0.6:
            q = {"scale": float(rng.uniform(0.01, 0.2)), "zero_point": int(rng.integers(0, 256))}
        if rng.random() < 0.2 and dtype != "uint8":
            info = np.iinfo(dtype) if dtype != "float32" else None
            data = (rng.integers(info.min, info.max, s).astype(dtype) if info is not None
                    else rng.normal(size=s).astype(np.float32))
            xs.append(b.const(f"k{i}", data, **q))
        else:
            xs.append(b.input(f"x{i}", s, dtype=dtype, **q))
    if all(b.g.tensors[x].is_const for x in xs):
        xs.append(b.input("xl", [1 if d == axis % rank else base[d] for d in range(rank)], dtype=dtype, **qo))
    y = b.op("CONCATENATION", xs, dtype=dtype, axis=axis, **qo)
    b.output(y)
    return b.build()


def slice_case(rng):
    for _ in range(100):
        rank = int(rng.integers(1, 5))
        shape = [int(d) for d in rng.integers(1, 6, rank)]
        n = int(rng.integers(1, rank + 1))
        vecs = [[int(v) for v in rng.integers(-7, 7, n)], [int(v) for v in rng.integers(-7, 7, n)],
                [int(v) for v in rng.choice([-3, -2, -1, 1, 1, 2, 3], n)]]

        def mask(p, n=n):
            return int(sum(1 << i for i in range(n) if rng.random() < p))

        masks = {"begin_mask": mask(0.3), "end_mask": mask(0.3), "shrink_axis_mask": mask(0.2)}
        if rng.random() < 0.3:
            masks["new_axis_mask"] = mask(0.3)
        if rng.random() < 0.3:
            masks["ellipsis_mask"] = 1 << int(rng.integers(0, n))
        dtype = ["int8", "int16", "int32"][int(rng.integers(0, 3))]
        q = {} if dtype == "int32" else {"scale": 0.03, "zero_point": 0}
        try:
            b = GraphBuilder()
            x = b.input("x", shape, dtype=dtype, **q)
            ins = [x] + [b.const(nm, np.array(v, np.int32)) for nm, v in zip(("begin", "end", "strides"), vecs,
                                                                              strict=True)]
            y = b.op("STRIDED_SLICE", ins, dtype=dtype, **q, **masks)
            if b.g.tensors[y].size == 0:
                continue
            b.output(y)
            return b.build()
        except IRError:
            continue
    raise AssertionError("no valid strided slice found")


def gather_case(rng):
    b = GraphBuilder()
    rank = int(rng.integers(1, 5))
    shape = [int(d) for d in rng.integers(1, 6, rank)]
    ax = int(rng.integers(0, rank))
    bd = int(rng.integers(0, ax + 1)) if rng.random() < 0.4 else 0
    const = rng.random() < 0.5
    irank = int(rng.integers(bd + 1, bd + 3))
    ishape = shape[:bd] + [int(d) for d in rng.integers(1, 4, irank - bd)]
    idt = ["int32", "int64", "int16"][int(rng.integers(0, 3))]
    idx = rng.integers(0, shape[ax], ishape).astype(idt)
    dtype = ["int8", "int16", "int32", "float32"][int(rng.integers(0, 4))]
    q = {"scale": 0.02, "zero_point": 0} if dtype in ("int8", "int16") else {}
    x = b.input("x", shape, dtype=dtype, **q)
    i = b.const("idx", idx) if const else b.input("idx", idx.shape, dtype=idt)
    y = b.op("GATHER", [x, i], dtype=dtype, axis=ax - (rank if rng.random() < 0.3 else 0), batch_dims=bd, **q)
    b.output(y)
    g = b.build()
    g.metadata["index_max"] = shape[ax]
    return g


QUANTIZE_PAIRS = [("float32", "int8"), ("float32", "uint8"), ("float32", "int16"), ("int8", "int8"),
                  ("int8", "uint8"), ("uint8", "int8"), ("int16", "int8"), ("int16", "int16"), ("int16", "int32"),
                  ("int32", "int8"), ("int32", "int16")]


def quantize_case(rng):
    b = GraphBuilder()
    src, dst = QUANTIZE_PAIRS[int(rng.integers(0, len(QUANTIZE_PAIRS)))]

    def q(dtype):
        if dtype == "float32":
            return {}
        zp = 0 if dtype in ("int16", "int32") else int(rng.integers(0, 256)) + np.iinfo(dtype).min
        return {"scale": float(rng.uniform(0.001, 0.5)), "zero_point": zp}

    x = b.input("x", (int(rng.integers(1, 4)), int(rng.integers(1, 40))), dtype=src, **q(src))
    y = b.op("QUANTIZE", [x], dtype=dst, **q(dst))
    b.output(y)
    return b.build()


def dequantize_case(rng):
    b = GraphBuilder()
    kind = int(rng.integers(0, 4))
    if kind == 3:
        data = rng.integers(-128, 128, (4, 3, 5)).astype(np.int8)
        axis = int(rng.integers(0, 3))
        x = b.const("w", data, scale=rng.uniform(0.001, 0.1, data.shape[axis]),
                    zero_point=rng.integers(-5, 5, data.shape[axis]), axis=axis)
        xi = b.input("x", (2, 2), scale=0.1, zero_point=0)
        b.output(b.op("DEQUANTIZE", [xi], dtype="float32"))
    else:
        dtype = ["int8", "uint8", "int16"][kind]
        zp = 0 if dtype == "int16" else int(rng.integers(0, 256)) + np.iinfo(dtype).min
        x = b.input("x", (int(rng.integers(1, 4)), int(rng.integers(1, 40))), dtype=dtype,
                    scale=float(rng.uniform(0.0001, 0.5)), zero_point=zp)
    b.output(b.op("DEQUANTIZE", [x], dtype="float32"))
    return b.build()


def rsqrt_inputs(g: Graph) -> Inputs:
    def make(rng):
        t = g.tensors[g.inputs[0]]
        return [rng.integers(t.zero_point, 128, t.shape).astype(np.int8)]

    return make


def gather_inputs(g: Graph) -> Inputs:
    base = uniform_inputs(g)

    def make(rng):
        feeds = base(rng)
        for k, name in enumerate(g.inputs):
            if name == "idx":
                t = g.tensors[name]
                feeds[k] = rng.integers(0, g.metadata["index_max"], t.shape).astype(t.dtype)
        return feeds

    return make


def layer_norm_case(rng):
    from edgefmr.ops.layer_norm import quantize_affine

    b = GraphBuilder()
    ch = int(rng.integers(1, 70))
    ys = float(rng.uniform(0.02, 0.1))
    gq, gs, bq = quantize_affine(rng.normal(1, 0.5, ch), rng.normal(0, 0.5, ch), ys)
    x = b.input("x", (int(rng.integers(1, 4)), int(rng.integers(1, 6)), ch), **_q(rng, 0.01, 0.2))
    ins = [x, b.const("gamma", gq, scale=gs, zero_point=0)]
    if rng.random() < 0.7:
        ins.append(b.const("beta", bq))
    # epsilon 1e4 makes the normalization's shift t >= 32 (the Cortex-M kernel's second path)
    y = b.op("LAYER_NORM", ins, scale=ys, zero_point=int(rng.integers(-20, 20)),
             epsilon=float(rng.choice([1e-5, 1e-3, 0.0, 1e4])))
    b.output(y)
    return b.build()


def layer_norm_chain_unfused(rng, shape=None, square_form=None, gamma=None, beta=None, residual=False,
                            gamma_on_rsqrt=None) -> Graph:
    """A random int8 LayerNorm chain as TensorFlow's converter writes it (MEAN, SQUARED_DIFFERENCE or SUB + MUL,
    MEAN, ADD eps, RSQRT, SUB, MUL, optional MUL gamma, ADD beta), with random quantization of every tensor; with
    `residual`, its input is the sum of a residual ADD (of two inputs, or an input and a constant; also an output);
    gamma multiplies the normalized rows, or (`gamma_on_rsqrt`, else 30% of the chains with gamma) the reciprocal
    root before them."""
    b = GraphBuilder()
    if shape is None:
        ch = int(rng.choice([1, 3, 4, 7, 16, 32, 33, 64, 96])) if rng.random() < 0.7 else int(rng.integers(1, 100))
        shapes = [(1, int(rng.integers(1, 7)), ch), (int(rng.integers(1, 5)), ch), (2, 2, 3, ch)]
        shape = shapes[int(rng.integers(0, 3))]
    sx = float(rng.uniform(0.003, 0.1))
    if residual:
        bshape = shape[1:] if shape[0] == 1 and rng.random() < 0.5 else shape
        a = b.input("a", shape, scale=sx * float(rng.uniform(0.3, 1.5)), zero_point=int(rng.integers(-128, 128)))
        q2 = {"scale": sx * float(rng.uniform(0.2, 1.5)), "zero_point": int(rng.integers(-128, 128))}
        r2 = (b.const("res", rng.integers(-128, 128, bshape).astype(np.int8), **q2) if rng.random() < 0.3 else
              b.input("res", bshape, **q2))
        x = b.op("ADD", [a, r2] if rng.random() < 0.7 else [r2, a], scale=sx, zero_point=int(rng.integers(-128, 128)),
                 name="sum")
        b.output(x)
    else:
        x = b.input("x", shape, scale=sx, zero_point=int(rng.integers(-128, 128)))
    axis = b.const("axis", np.array(len(shape) - 1 if rng.random() < 0.5 else -1, np.int32))
    sm = sx * float(rng.uniform(0.05, 1.5))
    m = b.op("MEAN", [x, axis], keep_dims=True, scale=sm, zero_point=int(rng.integers(-100, 100)))
    sc = max(sx, sm) * float(rng.uniform(0.3, 8.0))
    form = square_form or ["squared_difference", "mul"][int(rng.integers(0, 2))]
    if form == "mul":
        c = b.op("SUB", [x, m], scale=sc, zero_point=int(rng.integers(-30, 30)))
        s = b.op("MUL", [c, c], scale=sc * sc * float(rng.uniform(2, 60)), zero_point=int(rng.integers(-128, -60)))
    else:
        s = b.op("SQUARED_DIFFERENCE", [x, m], scale=sx * sx * float(rng.uniform(2, 60)),
                 zero_point=int(rng.integers(-128, -60)))
        c = b.op("SUB", [x, m], scale=sc, zero_point=int(rng.integers(-30, 30)))
    ss = b.g.tensors[s].scale
    v = b.op("MEAN", [s, axis], keep_dims=True, scale=ss * float(rng.uniform(0.05, 1.2)),
             zero_point=int(rng.integers(-128, -80)))
    sv = b.g.tensors[v].scale
    eps = b.const("eps", np.array(int(rng.integers(-128, -120)), np.int8), scale=float(rng.uniform(1e-9, 1e-3)),
                  zero_point=-128)
    ve = b.op("ADD", [v, eps] if rng.random() < 0.8 else [eps, v], scale=sv * float(rng.uniform(1.0, 1.5)),
              zero_point=int(rng.integers(-128, -100)))
    sve = b.g.tensors[ve].scale
    r = b.op("RSQRT", [ve], scale=float(1.0 / np.sqrt(sve)) / float(rng.uniform(10, 200)),
             zero_point=int(rng.integers(-128, -90)))
    sr = b.g.tensors[r].scale
    with_g = rng.random() < 0.35 if gamma is None else gamma
    with_b = rng.random() < 0.35 if beta is None else beta
    last = not (with_g or with_b)
    ch = shape[-1]

    def gamma_const():
        gshape = (ch,) if rng.random() < 0.7 else ()
        return b.const("gamma", rng.integers(-128, 128, gshape).astype(np.int8), scale=float(rng.uniform(0.002, 0.02)),
                       zero_point=int(rng.integers(-128, 128)))

    if with_g and (gamma_on_rsqrt if gamma_on_rsqrt is not None else rng.random() < 0.3):
        # gamma scales the reciprocal root first: n = MUL(c, MUL(r, gamma)) (per channel)
        gk = gamma_const()
        r = b.op("MUL", [r, gk] if rng.random() < 0.8 else [gk, r], scale=sr * b.g.tensors[gk].scale * 128 *
                 float(rng.uniform(0.3, 3.0)), zero_point=int(rng.integers(-128, 0)), name="r_gamma")
        sr = b.g.tensors[r].scale
        with_g = False
        last = not with_b
    # The normalization's output scale: around c * r's range (multiplier around 1, sometimes above: left shifts).
    n = b.op("MUL", [c, r] if rng.random() < 0.8 else [r, c], scale=sc * sr * float(rng.uniform(0.1, 6.0)),
             zero_point=int(rng.integers(-20, 20)), name="y" if last else "normalized")
    if with_g:
        gk = gamma_const()
        n = b.op("MUL", [n, gk], scale=b.g.tensors[n].scale * float(rng.uniform(0.3, 2.0)),
                 zero_point=int(rng.integers(-20, 20)), name="scaled" if with_b else "y")
    if with_b:
        bshape = (ch,) if rng.random() < 0.7 else ()
        bk = b.const("beta", rng.integers(-128, 128, bshape).astype(np.int8), scale=float(rng.uniform(0.0005, 0.02)),
                     zero_point=int(rng.integers(-128, 128)))
        n = b.op("ADD", [n, bk] if rng.random() < 0.8 else [bk, n], scale=b.g.tensors[n].scale *
                 float(rng.uniform(0.8, 2.0)), zero_point=int(rng.integers(-20, 20)), name="y")
    b.output(n)
    return b.build()


def layer_norm_chain_case(rng):
    from edgefmr.ir.passes import fuse_layer_norm

    g = fuse_layer_norm(layer_norm_chain_unfused(rng))
    if [n.op for n in g.nodes] != ["LAYER_NORM_CHAIN"]:
        raise IRError("the chain was not fused")
    return g


def add_layer_norm_chain_case(rng):
    from edgefmr.ir.passes import fuse_layer_norm

    g = fuse_layer_norm(layer_norm_chain_unfused(rng, residual=True))
    if [n.op for n in g.nodes] != ["ADD_LAYER_NORM_CHAIN"]:
        raise IRError("the chain was not fused")
    return g


def layer_norm_chain_inputs(g: Graph) -> Inputs:
    """Uniform int8 rows, or rows spread narrowly around a random centre (realistic activations, whose normalized
    values do not all saturate), for each input."""

    def make(rng):
        out = []
        for name in g.inputs:
            t = g.tensors[name]
            if rng.random() < 0.4:
                out.append(rng.integers(-128, 128, t.shape).astype(np.int8))
                continue
            centre = rng.integers(-100, 100, t.shape[:-1] + (1,))
            spread = rng.integers(1, 40, t.shape[:-1] + (1,))
            out.append(np.clip(centre + rng.integers(-1, 2, t.shape) * rng.integers(0, spread + 1, t.shape), -128,
                               127).astype(np.int8))
        return out

    return make


def attention_gate_case(rng):
    b = GraphBuilder()
    shape = (int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 20)))
    a = b.input("attn", shape, **_q(rng, 0.01, 0.2))
    gt = b.input("g", shape[:-1], **_q(rng, 0.01, 0.2))
    y = b.op("ATTENTION_GATE", [a, gt], **_q(rng, 0.01, 0.2))
    b.output(y)
    return b.build()


def binary_fc_case(rng):
    from edgefmr.ops.binary_fully_connected import pack_bits

    b = GraphBuilder()
    n_in, n_out = int(rng.integers(1, 80)), int(rng.integers(1, 20))
    xs = float(rng.uniform(0.01, 0.1))
    x = b.input("x", (int(rng.integers(1, 4)), n_in), scale=xs, zero_point=int(rng.integers(-128, 128)))
    alpha = rng.uniform(0.001, 0.02, n_out).astype(np.float32) if rng.random() < 0.7 else np.float32(0.01)
    packed = pack_bits(rng.random((n_out, n_in)) < 0.5)
    if n_in % 8 and rng.random() < 0.5:  # padding bits set: they must be ignored
        packed[:, -1] |= np.uint8((0xFF << (n_in % 8)) & 0xFF)
    w = b.const("w", packed, scale=alpha, zero_point=0)
    ins = [x, w]
    if rng.random() < 0.7:
        ins.append(b.const("b", rng.integers(-3000, 3000, n_out).astype(np.int32),
                           scale=np.float32(xs) * np.asarray(alpha, np.float32), zero_point=0))
    y = b.op("BINARY_FULLY_CONNECTED", ins, **_q(rng, 0.05, 0.5),
             activation=["NONE", "RELU", "RELU6"][int(rng.integers(0, 3))])
    b.output(y)
    return b.build()


def hash_attention_case(rng):
    b = GraphBuilder()
    batch = [(), (2,), (1, 3)][int(rng.integers(0, 3))]
    nq, nk, d = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 12))
    if rng.random() < 0.5:
        # now and then more bits than one 32-bit mask / 64-entry row list of the Cortex-M kernel
        bits = int(rng.integers(1, 20)) if rng.random() < 0.8 else int(rng.integers(30, 70))
        code = {"dtype": "uint8"}
        width = -(-bits // 8)
    else:
        bits = int(rng.integers(1, 12))
        code = {"dtype": "int8", "scale": 0.1, "zero_point": int(rng.integers(-10, 10))}
        width = bits
        bits = bits if rng.random() < 0.5 else 0
    hq = b.input("hq", (*batch, nq, width), **code)
    hk = b.input("hk", (*batch, nk, width), **code)
    vq = _q(rng, 0.01, 0.2)
    v = b.input("v", (*batch, nk, d), **vq)
    y = b.op("HASH_ATTENTION", [hq, hk, v], scale=vq["scale"] * float(rng.uniform(0.5, 2.0)),
             zero_point=int(rng.integers(-20, 20)), bits=bits)
    b.output(y)
    return b.build()


def hash_encode_tables(rng, heads: int, anchors: int, depth: int, bits: int, radius: int, byte: bool | None = None):
    """Random HASH_ENCODE constants: +-1 anchors and projection, an int16 feature table of exp((t - 1) / sigma) in
    units of 2^-14 (now and then the int16 extremes) or, with `byte` (at random when None), of 1/255 (0..255: the
    Cortex-M kernel's byte path), offsets around the projected table mean."""
    byte = bool(rng.random() < 0.4) if byte is None else byte
    a = rng.choice(np.array([-1, 1], np.int8), (heads, anchors, depth))
    p = rng.choice(np.array([-1, 1], np.int8), (heads, bits, anchors))
    t = np.exp((np.arange(-radius, radius + 1) / radius - 1.0)[None, :] / rng.uniform(0.2, 2.0, (heads, 1)))
    scale = 255 if byte else 2**14
    table = np.round(t * scale).astype(np.int16)
    if not byte and rng.random() < 0.2:
        table[:, 0], table[:, -1] = -32768, 32767
    off = rng.integers(-scale, scale, (heads, bits)) * anchors // 4
    return a, table, p, off.astype(np.int32)


def hash_encode_case(rng):
    """Head widths around the Cortex-M kernel's words (multiples of 4 and not), anchors around its groups of 4,
    bits around bytes; zero points anywhere (the norm of x - zp)."""
    b = GraphBuilder()
    batch = [(1,), (), (2,)][int(rng.integers(0, 3))]
    heads, n = int(rng.integers(1, 4)), int(rng.integers(1, 7))
    d = int(rng.choice([1, 3, 4, 8, 12, 16, 7]))
    m, bits = int(rng.choice([1, 3, 4, 5, 8, 9])), int(rng.choice([1, 5, 8, 12, 16, 17]))
    radius = int(rng.choice([1, 7, 127, 300]))
    x = b.input("x", (*batch, n, heads * d), scale=0.05, zero_point=int(rng.integers(-128, 128)))
    a, table, p, off = hash_encode_tables(rng, heads, m, d, bits, radius)
    ins = [x, b.const("anchors", a), b.const("table", table), b.const("proj", p), b.const("offset", off)]
    b.output(b.op("HASH_ENCODE", ins, dtype="uint8"))
    return b.build()


def hash_encode_inputs(g: Graph) -> Inputs:
    """Uniform int8 tokens; the first token of every record equal to the zero point (Q = 0), the second a
    multiple of an anchor row (|cos| = 1, the clamp)."""

    def make(rng):
        t = g.tensors[g.inputs[0]]
        x = rng.integers(-128, 128, t.shape).astype(np.int8)
        rows = x.reshape(-1, t.shape[-2], t.shape[-1])
        rows[:, 0, :] = t.zero_point
        if t.shape[-2] > 1:
            anchors = g.tensors[g.nodes[0].inputs[1]].data
            h, _, d = anchors.shape
            rows[:, 1, :] = np.clip(t.zero_point + 40 * anchors[:, 0, :].reshape(h * d), -128, 127)
        return [rows.reshape(t.shape)]

    return make


def clipped_softmax_case(rng):
    b = GraphBuilder()
    shape = [(10,), (2, 16, 16), (3, 7), (2, 5)][int(rng.integers(0, 4))]
    x = b.input("x", shape, **_q(rng, 0.02, 0.5))
    gamma = float(rng.choice([0.0, -0.03, -0.1]))
    zeta = float(rng.choice([1.0, 1.03]))
    y = b.op("CLIPPED_SOFTMAX", [x], scale=float(rng.choice([1.0 / 256, 1.0 / 255, 0.005])),
             zero_point=int(rng.integers(-128, -100)), beta=float(rng.choice([1.0, 0.5])), gamma=gamma, zeta=zeta)
    b.output(y)
    return b.build()


def lut_op_case(rng):
    from edgefmr.ops.lut import make_lut

    b = GraphBuilder()
    xq, yq = _q(rng, 0.01, 0.2), _q(rng, 0.01, 0.2)
    fn = ["gelu", "silu", "exp", "tanh"][int(rng.integers(0, 4))]
    x = b.input("x", (int(rng.integers(1, 4)), int(rng.integers(1, 60))), **xq)
    t = b.const("table", make_lut(fn, (xq["scale"], xq["zero_point"]), (yq["scale"], yq["zero_point"])))
    y = b.op("LUT", [x, t], **yq)
    b.output(y)
    return b.build()


def lif_case(rng):
    b = GraphBuilder()
    dtype = "int16" if rng.random() < 0.3 else "int8"
    shape = (int(rng.integers(1, 9)), int(rng.integers(1, 4)), int(rng.integers(1, 12)))
    zp = 0 if dtype == "int16" else int(rng.integers(-20, 20))
    x = b.input("x", shape, dtype=dtype, scale=float(rng.uniform(0.01, 0.2)), zero_point=zp)
    ins = [x]
    if rng.random() < 0.5:
        ins.append(b.input("v0", shape[1:], dtype="int32"))
    sq = Quant([1.0], [0]) if rng.random() < 0.5 else None
    spikes = Tensor("spikes", shape, ["int8", "uint8"][int(rng.integers(0, 2))], sq)
    b.g.tensors["spikes"] = spikes
    b.g.tensors["v_out"] = Tensor("v_out", shape[1:], "int32")
    # tau 1 and 1.5 (the Cortex-M kernel's SMMULR leak), 2 (its SMMLAR boundary K = 2^14) and 3.5
    attrs = {"tau": float(rng.choice([1.0, 1.5, 2.0, 3.5])), "threshold": float(rng.choice([0.5, 1.0, 2.0])),
             "membrane_bits": int(rng.integers(4, 16))}
    b.g.nodes.append(Node("LIF", ins, ["spikes", "v_out"], attrs, "lif"))
    b.output("spikes", "v_out")
    return b.build()


def lif_inputs(g: Graph) -> Inputs:
    def make(rng):
        out = []
        for name in g.inputs:
            t = g.tensors[name]
            if t.dtype == "int32":
                out.append(rng.integers(-(1 << 16), 1 << 16, t.shape).astype(np.int32))
            else:
                info = np.iinfo(t.dtype)
                out.append(rng.integers(info.min, info.max, t.shape, endpoint=True).astype(t.dtype))
        return out

    return make


def spike_fc_case(rng):
    """Sizes around the Cortex-M kernel's blocks (16, 8 and 4 output features, partial words, inputs in groups of
    8 and a tail) and, now and then, more than 256 inputs (its int16 passes); multipliers below and above 1/4 (its
    32-bit and 64-bit requantizations)."""
    b = GraphBuilder()
    n_in = int(rng.integers(257, 300)) if rng.random() < 0.15 else int(rng.integers(1, 40))
    n_out = int(rng.integers(1, 40))
    sq = {"scale": float(rng.uniform(0.5, 2.0)), "zero_point": 0} if rng.random() < 0.5 else {}
    s = b.input("s", (int(rng.integers(1, 4)), n_in), dtype=["int8", "uint8"][int(rng.integers(0, 2))], **sq)
    ws = rng.uniform(0.001, 0.02, n_out) if rng.random() < 0.7 else float(rng.uniform(0.001, 0.02))
    ins = [s, b.const("w", rng.integers(-127, 128, (n_out, n_in)).astype(np.int8), scale=ws, zero_point=0)]
    if rng.random() < 0.7:
        ins.append(b.const("b", rng.integers(-300, 300, n_out).astype(np.int32)))
    y = b.op("SPIKE_FULLY_CONNECTED", ins, **_q(rng, 0.02, 0.3),
             activation=["NONE", "RELU", "RELU6"][int(rng.integers(0, 3))])
    b.output(y)
    return b.build()


def spike_inputs(g: Graph) -> Inputs:
    """Spikes at a firing rate of 0, 0.05, 0.4 or 1 (drawn per record); any nonzero byte is a spike (values 1, 5,
    128, 255 / -1 besides the usual 1)."""

    def make(rng):
        t = g.tensors[g.inputs[0]]
        rate = float(rng.choice([0.0, 0.05, 0.4, 1.0]))
        v = (rng.random(t.shape) < rate).astype(t.dtype)
        if rate > 0:
            odd = np.array([1, 5, 128, 255], np.uint8).view(t.dtype)
            v.flat[:4] = odd[: min(4, v.size)]
        return [v]

    return make


def lmu_case(rng):
    from edgefmr.nas.models.lmu import legendre_zoh
    from edgefmr.ops.lmu_update import lmu_constants

    b = GraphBuilder()
    # orders around the Cortex-M kernel's groups of 4 MACs (none, odd and even counts, a tail)
    d, steps = int(rng.choice([1, 3, 4, 5, 8, 12, 14])), int(rng.integers(1, 10))
    chans = [(3,), (2, 2), ()][int(rng.integers(0, 3))]
    fa, fm = [(24, 16), (20, 12), (28, 8)][int(rng.integers(0, 3))]
    a, bb = lmu_constants(*legendre_zoh(d, float(rng.uniform(4, 20))), fa, fm)
    u = b.input("u", (steps, *chans), **_q(rng, 0.01, 0.05))
    ins = [u, b.const("A", a), b.const("B", bb)]
    if rng.random() < 0.5:
        ins.append(b.input("m0", (*chans, d), dtype="int32"))
    b.g.tensors["y"] = Tensor("y", (steps, *chans, d), "int8", Quant([float(rng.uniform(0.5, 5.0))],
                                                                      [int(rng.integers(-10, 10))]))
    b.g.tensors["m"] = Tensor("m", (*chans, d), "int32")
    b.g.nodes.append(Node("LMU_UPDATE", ins, ["y", "m"], {"a_frac_bits": fa, "state_frac_bits": fm}, "lmu"))
    b.output("y", "m")
    return b.build()


#: op -> graph builder(rng); optional custom input makers.
CASES: dict[str, Callable[[np.random.Generator], Graph]] = {
    "FULLY_CONNECTED": fc_case, "BATCH_MATMUL": bmm_case, "CONV_2D": conv_case, "DEPTHWISE_CONV_2D": dw_case,
    "AVERAGE_POOL_2D": pool_case("AVERAGE_POOL_2D"), "MAX_POOL_2D": pool_case("MAX_POOL_2D"), "MEAN": mean_case,
    "SOFTMAX": softmax_case, "LOGISTIC": lut_case("LOGISTIC", {"scale": 1.0 / 256, "zero_point": -128}),
    "TANH": lut_case("TANH", {"scale": 1.0 / 128, "zero_point": 0}), "RSQRT": lut_case("RSQRT", None),
    "RELU": relu_case("RELU"), "RELU6": relu_case("RELU6"), "ADD": binary_case("ADD"), "SUB": binary_case("SUB"),
    "MUL": binary_case("MUL"), "SQUARED_DIFFERENCE": binary_case("SQUARED_DIFFERENCE"), "RESHAPE": reshape_case,
    "TRANSPOSE": transpose_case, "CONCATENATION": concat_case, "STRIDED_SLICE": slice_case, "GATHER": gather_case,
    "QUANTIZE": quantize_case, "DEQUANTIZE": dequantize_case, "LAYER_NORM": layer_norm_case,
    "ATTENTION_GATE": attention_gate_case, "BINARY_FULLY_CONNECTED": binary_fc_case,
    "HASH_ATTENTION": hash_attention_case, "HASH_ENCODE": hash_encode_case,
    "CLIPPED_SOFTMAX": clipped_softmax_case, "LUT": lut_op_case,
    "LIF": lif_case, "SPIKE_FULLY_CONNECTED": spike_fc_case, "LMU_UPDATE": lmu_case,
    "LAYER_NORM_CHAIN": layer_norm_chain_case, "ADD_LAYER_NORM_CHAIN": add_layer_norm_chain_case,
}
INPUTS: dict[str, Callable[[Graph], Inputs]] = {"RSQRT": rsqrt_inputs, "GATHER": gather_inputs, "LIF": lif_inputs,
                                                 "SPIKE_FULLY_CONNECTED": spike_inputs, "LMU_UPDATE": lif_inputs,
                                                 "HASH_ENCODE": hash_encode_inputs,
                                                 "LAYER_NORM_CHAIN": layer_norm_chain_inputs,
                                                 "ADD_LAYER_NORM_CHAIN": layer_norm_chain_inputs}


def make_case(op: str, seed: int) -> tuple[Graph, list[list[np.ndarray]]]:
    """A random valid graph of `op` (one node) and three input records."""
    rng = np.random.default_rng([seed, sum(map(ord, op))])
    for _ in range(50):
        try:
            g = CASES[op](rng)
            break
        except IRError:
            continue
    else:
        raise AssertionError(f"no valid {op} instance found")
    feeds = INPUTS.get(op, uniform_inputs)(g)
    return g, [feeds(rng) for _ in range(3)]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-exact equality (float arrays compared by their bit patterns, so NaN payloads and -0.0 count)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return np.array_equal(np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


def merge_graphs(graphs: list[Graph]) -> Graph:
    """Independent graphs side by side in one graph (tensor names prefixed), for one build and one QEMU run."""
    out = Graph()
    for k, g in enumerate(graphs):
        pre = f"g{k}/"
        for name, t in g.tensors.items():
            out.tensors[pre + name] = Tensor(pre + name, t.shape, t.dtype, t.quant, t.data)
        for n in g.nodes:
            out.nodes.append(Node(n.op, [pre + i if i else "" for i in n.inputs], [pre + o for o in n.outputs],
                                  dict(n.attrs), pre + (n.name or n.outputs[0])))
        out.inputs += [pre + i for i in g.inputs]
        out.outputs += [pre + o for o in g.outputs]
    return out


def reference(g: Graph, records: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """The interpreter's outputs of `g` for each input record."""
    return [[run(g, rec)[o] for o in g.outputs] for rec in records]
