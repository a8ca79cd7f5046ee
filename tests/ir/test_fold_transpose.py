"""edgefmr.ir.passes.fold_transposes: TRANSPOSEs feeding only BATCH_MATMUL operands become operand permutations;
the folded graph computes the very same bits (interpreter), on the TF-converter ViT fixture and on synthetic
chains (composed permutations, both operands, shared and non-foldable transposes)."""

from __future__ import annotations

import numpy as np
from paths import FIXTURES

from edgefmr.ir import GraphBuilder, run
from edgefmr.ir.model_io import load_model
from edgefmr.ir.passes import fold_transposes


def _same(g, f, records) -> bool:
    return all(np.array_equal(run(g, r)[o], run(f, r)[o]) for r in records for o in g.outputs)


def test_fixture_head_split_transposes_fold():
    """The ViT fixture's q/k/v head splits (6 TRANSPOSEs) fold; the head merges (feeding a RESHAPE) stay."""
    g = load_model(FIXTURES / "vit_digits_int8.tflite")
    f = fold_transposes(g)
    assert sum(n.op == "TRANSPOSE" for n in g.nodes) == 8
    assert sum(n.op == "TRANSPOSE" for n in f.nodes) == 2
    bmm = [n for n in f.nodes if n.op == "BATCH_MATMUL"]
    assert all(n.attrs.get("lhs_perm") == [0, 2, 1, 3] for n in bmm if n.attrs.get("adj_y"))
    assert all(n.attrs.get("rhs_perm") == [0, 2, 1, 3] for n in bmm)
    assert sum(n.op == "TRANSPOSE" for n in g.nodes) == 8  # the input graph is untouched
    x = np.load(FIXTURES / "digits_test_x.npy")
    assert _same(g, f, [[x[i:i + 1]] for i in range(4)])


def test_synthetic_chains():
    """Two stacked transposes on one operand compose; one transpose feeding both operands and a second consumer
    that is not a BATCH_MATMUL is kept; a graph-output transpose is kept."""
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    q = {"scale": 0.05, "zero_point": 3}
    x = b.input("x", (2, 5, 3, 4), **q)
    p1 = b.const("p1", np.array([0, 2, 1, 3], np.int32))
    p2 = b.const("p2", np.array([1, 0, 2, 3], np.int32))
    t1 = b.op("TRANSPOSE", [x, p1], **q)            # [2, 3, 5, 4]
    t2 = b.op("TRANSPOSE", [t1, p2], **q)           # [3, 2, 5, 4]
    y = b.input("y", (3, 2, 4, 6), scale=0.04, zero_point=-7)
    b.output(b.op("BATCH_MATMUL", [t2, y], scale=0.3, zero_point=1))
    z = b.input("z", (2, 5, 4, 4), scale=0.03, zero_point=5)
    pz = b.const("pz", np.array([0, 1, 3, 2], np.int32))
    tz = b.op("TRANSPOSE", [z, pz], scale=0.03, zero_point=5)
    b.output(b.op("BATCH_MATMUL", [tz, tz], scale=0.2, zero_point=0, adj_y=True))
    b.output(b.op("BATCH_MATMUL", [x, tz], scale=0.2, zero_point=0, adj_y=True))  # x [2,5,3,4] . tz^T
    w = b.input("w", (2, 4, 4), scale=0.03, zero_point=5)
    tw = b.op("TRANSPOSE", [w, b.const("pw", np.array([0, 2, 1], np.int32))], scale=0.03, zero_point=5)
    b.output(tw)
    b.output(b.op("BATCH_MATMUL", [tw, w], scale=0.2, zero_point=0))
    g = b.build()
    f = fold_transposes(g)
    assert [n.op for n in f.nodes].count("TRANSPOSE") == 1  # only the graph-output one is left
    first = next(n for n in f.nodes if n.op == "BATCH_MATMUL")
    assert first.attrs["lhs_perm"] == [2, 0, 1, 3]
    records = [[rng.integers(-128, 128, g.tensors[i].shape).astype(np.int8) for i in g.inputs] for _ in range(3)]
    assert _same(g, f, records)
