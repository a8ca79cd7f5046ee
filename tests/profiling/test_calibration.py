"""Calibration tables (edgefmr.profiling.calibration) and the host parts of the profiling session
(edgefmr.profiling.profile): input loading, float comparison, cost fitting, merging, the per-user location, defaults
per core type and estimates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from paths import FIXTURES

from edgefmr.boards import load_board
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.c.emitters.conv_2d import path as conv_path
from edgefmr.firmware.cost import build_arm_kernels, c_graph
from edgefmr.ir import GraphBuilder
from edgefmr.ir.model_io import load_model
from edgefmr.ops.registry import call
from edgefmr.profiling.calibration import (
    DEFAULTS_DIR,
    calibration_dir,
    estimate,
    fit_equations,
    layer_equations,
    load_calibration,
    make_table,
    node_count,
    node_keys,
    node_work,
    op_of,
    save_calibration,
)
from edgefmr.profiling.profile import _compare_float, _float_outputs, load_inputs

torch.set_num_threads(1)
VIT = FIXTURES / "vit_digits_int8.tflite"


@pytest.fixture
def cal_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cal"
    monkeypatch.setenv("EDGEFMR_CALIBRATION_DIR", str(d))
    return d


def test_calibration_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEFMR_CALIBRATION_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert calibration_dir() == tmp_path / "xdg" / "edgefmr" / "calibration"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert calibration_dir() == tmp_path / "home" / ".config" / "edgefmr" / "calibration"
    monkeypatch.setenv("EDGEFMR_CALIBRATION_DIR", str(tmp_path / "mine"))
    assert calibration_dir() == tmp_path / "mine"


def test_node_work_units() -> None:
    g = load_model(VIT)
    w = node_work(g)
    assert len(w) == len(g.nodes)
    fc = [i for i, (key, *_) in enumerate(w) if op_of(key) == "FULLY_CONNECTED"]
    assert fc and all(w[i][1] == "mac" for i in fc)
    mean = next(i for i, n in enumerate(g.nodes) if n.op == "MEAN")
    ins = int(np.prod(g.tensor(g.nodes[mean].inputs[0]).shape))
    outs = int(np.prod(g.tensor(g.nodes[mean].outputs[0]).shape))
    rows = outs // g.tensor(g.nodes[mean].outputs[0]).shape[-1]
    # a reduction counts what it reads; this MEAN is part of a LayerNorm chain the build fuses into one node
    assert w[mean] == ("MEAN/in_add_layer_norm_chain", "element", ins, outs, ins, rows)
    assert sum(a for _, u, a, *_ in w if u == "mac") == 297_280
    assert all(o == int(np.prod(g.tensor(n.outputs[0]).shape)) for (_, _, _, o, *_), n in zip(w, g.nodes, strict=True)
               if len(n.outputs) == 1)
    fc0 = g.nodes[fc[0]]
    x, y = g.tensor(fc0.inputs[0]), g.tensor(fc0.outputs[0])
    assert w[fc[0]][4:] == (int(np.prod(x.shape)), int(np.prod(y.shape)) // y.shape[-1])  # inputs, rows


def test_node_keys_name_the_kernel_paths() -> None:
    """node_work's keys: the kernel path the C build runs for each node (the emitters' kernel_path, on the graph the
    build compiles), "portable" without the Cortex-M kernels, "OP/in_<op>" for nodes fused into another op's node,
    the op type for ops with one path."""
    g = load_model(VIT)
    arm = build_arm_kernels(load_board("qemu-netduinoplus2"))
    keys = node_keys(g, arm)
    assert [w[0] for w in node_work(g, arm)] == keys == [w[0] for w in node_work(g)]  # default: a DSP core's kernels
    by_op: dict[str, set[str]] = {}
    for k, n in zip(keys, g.nodes, strict=True):
        assert op_of(k) == n.op
        by_op.setdefault(n.op, set()).add(k)
    conv = next(n for n in g.nodes if n.op == "CONV_2D")
    assert by_op["CONV_2D"] == {"CONV_2D/" + conv_path(call(conv, g), arm)} == {"CONV_2D/small"}
    # the classifier head (one row) runs the matrix-vector loop, the token-wise layers the panels
    assert by_op["FULLY_CONNECTED"] == {"FULLY_CONNECTED/mv", "FULLY_CONNECTED/panels"}
    assert by_op["BATCH_MATMUL"] == {"BATCH_MATMUL/pair"}
    assert "MEAN/in_add_layer_norm_chain" in by_op["MEAN"] and by_op["SOFTMAX"] == {"SOFTMAX"}
    portable = node_keys(g, frozenset())
    assert {k for k in portable if op_of(k) in ("CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL")} == \
        {"CONV_2D/portable", "FULLY_CONNECTED/portable", "BATCH_MATMUL/portable"}


def test_folded_transposes_count_with_their_consumer() -> None:
    """A TRANSPOSE the build folds into a BATCH_MATMUL's addressing is computed by that product's layer (c_graph's
    origin), keyed "TRANSPOSE/in_batch_matmul": it costs what the product's strided reads cost, not a copy."""
    b = GraphBuilder()
    x = b.input("x", (1, 8, 2, 16), scale=0.05, zero_point=3)
    y = b.input("y", (1, 2, 8, 16), scale=0.05, zero_point=-2)
    xt = b.op("TRANSPOSE", [x, b.const("perm", np.array([0, 2, 1, 3], np.int32))], scale=0.05, zero_point=3)
    b.output(b.op("BATCH_MATMUL", [xt, y], adj_y=True, scale=0.1, zero_point=0))
    g = b.build()
    cg, origin = c_graph(g, tricks=False)
    assert [n.op for n in cg.nodes] == ["BATCH_MATMUL"] and origin == [[0, 1]]
    keys = node_keys(g, build_arm_kernels(load_board("qemu-netduinoplus2")))
    assert keys[0] == "TRANSPOSE/in_batch_matmul" and op_of(keys[1]) == "BATCH_MATMUL" and keys[1] != "BATCH_MATMUL"
    # the ViT fixture (LayerNorm chains fused, head splits folded): every user node computed by exactly one node
    vit = load_model(VIT)
    for tricks in (False, True):
        _, origin = c_graph(vit, tricks)
        assert sorted(o for nodes in origin for o in nodes) == list(range(len(vit.nodes)))


#: Synthetic op costs: (per work unit, per output element, per input element, per row, per call).
COSTS = {"FC": (2.0, 9.0, 0.5, 0.0, 150.0), "ADD": (7.0, 0.0, 0.0, 0.0, 40.0), "SOFTMAX": (30.0, 3.0, 0.0, 25.0, 90.0),
         "LN": (11.0, 2.0, 0.0, 60.0, 0.0)}


def _count(nodes: list) -> float:
    return sum(c * v for op, _, *vals in nodes for c, v in zip(COSTS[op], [*vals, 1], strict=True))


def _work(op: str, unit: str, a: int, o: int | None = None, i: int | None = None, r: int | None = None) -> list:
    """A node_work row: outputs and inputs default to the work, rows to the work over 8."""
    return [op, unit, a, a if o is None else o, a if i is None else i, max(1, a // 8) if r is None else r]


def test_fit_recovers_costs_of_single_and_fused_layers() -> None:
    """Layers counted from known coefficients, some fused (two op types in one layer): the non-negative least
    squares recovers every coefficient, and the fitted op's totals add up."""
    rng = np.random.default_rng(0)
    units = {"FC": "mac", "ADD": "element", "SOFTMAX": "element", "LN": "element"}
    eqs = []
    for k in range(40):
        ops = [["FC"], ["ADD"], ["SOFTMAX", "FC"], ["LN", "ADD"], ["SOFTMAX"], ["LN"]][k % 6]
        nodes = []
        for op in ops:
            a = int(rng.integers(16, 4096))
            if op == "FC":
                nodes.append(_work(op, "mac", a, int(rng.integers(1, a + 1)), int(rng.integers(1, a + 1)),
                                   int(rng.integers(1, 64))))
            else:  # elementwise: outputs == inputs == work; rows vary with the row length
                nodes.append(_work(op, units[op], a, r=int(rng.integers(1, a + 1))))
        eqs.append({"count": _count(nodes), "nodes": nodes})
    got = fit_equations(eqs)
    for op, (c, o, i, r, per_call) in COSTS.items():
        assert got[op]["unit"] == units[op]
        if op == "FC":  # outputs, inputs and rows differ from the work: every term is identified
            assert [got[op][k] for k in ("cost", "per_output", "per_input", "per_row")] == \
                pytest.approx([c, o, i, r], rel=1e-3, abs=1e-3)
        else:  # elementwise: outputs == inputs == work, only their sum is identified; rows are
            assert got[op]["cost"] + got[op]["per_output"] + got[op]["per_input"] == pytest.approx(c + o + i, rel=1e-4)
            assert got[op]["per_row"] == pytest.approx(r, rel=1e-3, abs=1e-3)
        assert got[op]["per_call"] == pytest.approx(per_call, rel=1e-3, abs=1e-2)
    assert got["SOFTMAX"]["layers"] == 13 and got["SOFTMAX"]["calls"] == 13
    assert sum(v["count"] for v in got.values()) == pytest.approx(sum(e["count"] for e in eqs))
    # layer_equations picks the nodes of the layers
    work = [("FC", "mac", 100, 10, 20, 1), ("ADD", "element", 10, 10, 20, 1)]
    assert layer_equations([{"count": 5.0, "nodes": [1, 0]}, {"count": 1.0, "nodes": []}], work) == \
        [{"count": 5.0, "nodes": [["ADD", "element", 10, 10, 20, 1], ["FC", "mac", 100, 10, 20, 1]]}]


def test_save_merge_load_and_estimate(cal_dir: Path) -> None:
    b = load_board("qemu-netduinoplus2")
    work = [tuple(_work("FC", "mac", 1000, 10, 100, 1)), tuple(_work("FC", "mac", 3000, 30, 100, 1)),
            tuple(_work("ADD", "element", 100, r=1)), tuple(_work("ADD", "element", 40, r=1))]
    rows = [{"count": _count([work[i]]), "nodes": [i]} for i in range(4)]
    t1 = make_table(b, "instructions", layer_equations(rows[:3], work), {"model_hash": "m1", "inputs": 5})
    p = save_calibration(t1)
    assert p == cal_dir / "qemu-netduinoplus2.json"
    wrong = [{"count": 1e6, "nodes": [3]}, {"count": _count([work[0]]), "nodes": [0]}]
    save_calibration(make_table(b, "instructions", layer_equations(wrong, work), {"model_hash": "m2", "inputs": 5}))
    t = load_calibration("qemu-netduinoplus2")
    assert t["source"] == "measured" and [x["model_hash"] for x in t["profiles"]] == ["m1", "m2"]
    assert t["version"] == 4 and set(t["equations"]) == {"m1", "m2"}
    add = t["ops"]["ADD"]
    assert node_count(add, *work[3][2:]) > 2 * _count([work[3]])  # m2's wrong layer
    # the same model profiled again replaces its equations: the fit is exact again
    right = [{"count": _count([work[3]]), "nodes": [3]}, {"count": _count([work[0]]), "nodes": [0]}]
    save_calibration(make_table(b, "instructions", layer_equations(right, work), {"model_hash": "m2", "inputs": 5}))
    t = load_calibration(b)
    assert len(t["profiles"]) == 2 and len(t["equations"]["m2"]) == 2
    assert [node_count(t["ops"]["ADD"], *w[2:]) for w in work[2:]] == pytest.approx([_count([w]) for w in work[2:]],
                                                                                     rel=1e-3)
    # estimates: the five terms per node, the fallback per work unit for missing op types
    g = load_model(VIT)
    est = estimate(g, t)
    def row(key: str, unit: str) -> dict | None:  # the key's coefficients, its op type's, else none
        r = t["ops"].get(key) or t["op_types"].get(op_of(key))
        return r if r and r["unit"] == unit else None

    want = sum(node_count(row(k, u), a, o, i, r) if row(k, u) else t["fallback"][u] * a
               for k, u, a, o, i, r in node_work(g))
    assert est["total"] == pytest.approx(want) and est["cycles"] == pytest.approx(want)
    assert est["seconds"] == pytest.approx(want / 168e6)


def test_default_per_core_type_and_errors(cal_dir: Path) -> None:
    t = load_calibration("nucleo-h743zi")
    assert t["source"] == "default" and t["default_of"] == "cortex-m7" and t["unit"] == "instructions"
    assert t["board"] == "nucleo-h743zi" and t["clock_hz"] == load_board("nucleo-h743zi").clock_hz
    m7 = json.loads((DEFAULTS_DIR / "cortex-m7.json").read_text())
    assert t["ops"] == m7["ops"] and len(m7["profiles"]) >= 10
    for op in ("FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX", "LAYER_NORM", "LIF", "LMU_UPDATE"):
        assert op in t["op_types"] and any(op_of(k) == op for k in t["ops"]), op
    for key in ("FULLY_CONNECTED/panels", "FULLY_CONNECTED/mv", "BATCH_MATMUL/pair", "CONV_2D/small",
                "HASH_ENCODE/bytes", "HASH_ENCODE/portable"):  # kernel paths the default search spaces run
        assert key in t["ops"], key
    assert load_calibration("qemu-mps2-an386")["default_of"] == "cortex-m4"
    e = estimate(load_model(VIT), load_calibration("qemu-netduinoplus2"))
    assert e["unit"] == "instructions" and e["total"] > 0
    cal_dir.mkdir(parents=True)
    (cal_dir / "qemu-netduinoplus2.json").write_text("{oops")
    with pytest.raises(EdgefmrError, match="calibration table is not valid JSON"):
        load_calibration("qemu-netduinoplus2")
    (cal_dir / "qemu-netduinoplus2.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(EdgefmrError, match=r"qemu-netduinoplus2.json: not an edgefmr-calibration table of version 3 "
                                           r"or 4 .*profile the board again"):
        load_calibration("qemu-netduinoplus2")


def test_fallbacks_for_keys_a_table_lacks(cal_dir: Path) -> None:
    """estimate takes a key's own coefficients, else its op type's (`op_types`; a version 3 table's `ops` are keyed
    by op type and still load), else the unit fallback."""
    g = load_model(VIT)
    work = node_work(g)
    fc = next(w for w in work if w[0] == "FULLY_CONNECTED/panels")
    row = {"unit": "mac", "cost": 1.0, "per_output": 0.0, "per_input": 0.0, "per_row": 0.0, "per_call": 100.0,
           "layers": 1}
    base = {"format": "edgefmr-calibration", "board": "qemu-netduinoplus2", "core": "cortex-m4", "clock_hz": 168e6,
            "unit": "instructions", "cpi": 1.0, "source": "measured", "fallback": {"mac": 2.0, "element": 5.0},
            "profiles": []}
    n_fc = sum(1 for w in work if op_of(w[0]) == "FULLY_CONNECTED")
    macs = sum(w[2] for w in work if w[1] == "mac")
    elements = sum(w[2] for w in work if w[1] == "element")
    fc_macs = sum(w[2] for w in work if op_of(w[0]) == "FULLY_CONNECTED")
    # version 3: op-type keys; every FULLY_CONNECTED path on them, the rest on the unit fallback
    cal_dir.mkdir(parents=True)
    (cal_dir / "qemu-netduinoplus2.json").write_text(json.dumps({**base, "version": 3,
                                                                 "ops": {"FULLY_CONNECTED": row}}))
    t3 = load_calibration("qemu-netduinoplus2")
    want = fc_macs + 100.0 * n_fc + 2.0 * (macs - fc_macs) + 5.0 * elements
    assert estimate(g, t3)["total"] == pytest.approx(want)
    # profiling the board again replaces the version 3 table (its equations are keyed by op type), no merge
    eq = [{"count": 1000.0, "nodes": [list(fc)]}]
    save_calibration(make_table(load_board("qemu-netduinoplus2"), "instructions", eq, {"model_hash": "m3"}))
    t = load_calibration("qemu-netduinoplus2")
    assert t["version"] == 4 and list(t["ops"]) == [fc[0]] and list(t["op_types"]) == ["FULLY_CONNECTED"]
    assert [x["model_hash"] for x in t["profiles"]] == ["m3"]
    # version 4: the path's own row wins over the op type's
    path_row = {**row, "cost": 3.0, "per_call": 0.0}
    t4 = {**base, "version": 4, "ops": {"FULLY_CONNECTED/panels": path_row}, "op_types": {"FULLY_CONNECTED": row}}
    panels = [w for w in work if w[0] == "FULLY_CONNECTED/panels"]
    others = [w for w in work if op_of(w[0]) == "FULLY_CONNECTED" and w[0] != "FULLY_CONNECTED/panels"]
    assert others and fc in panels
    want4 = (3.0 * sum(w[2] for w in panels) + sum(w[2] + 100.0 for w in others) + 2.0 * (macs - fc_macs)
             + 5.0 * elements)
    assert estimate(g, t4)["total"] == pytest.approx(want4)
    # a unit mismatch falls through to the unit fallback
    t_bad = {**t4, "ops": {"FULLY_CONNECTED/panels": {**path_row, "unit": "element"}}, "op_types": {}}
    assert estimate(g, t_bad)["total"] == pytest.approx(2.0 * macs + 5.0 * elements)


def test_load_inputs(tmp_path: Path) -> None:
    g = load_model(VIT)
    t = g.tensor(g.inputs[0])
    recs, src = load_inputs(g, None, count=7)
    assert len(recs) == 7 and src == "7 random inputs (seed 0)" and recs[0][0].shape == t.shape
    assert recs[0][0].dtype == np.int8 and not np.array_equal(recs[0][0], recs[1][0])
    x = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    np.save(tmp_path / "f.npy", x)
    recs, src = load_inputs(g, str(tmp_path / "f.npy"))
    q = np.clip(np.round(x / t.scale) + t.zero_point, -128, 127).astype(np.int8)
    assert len(recs) == 5 and np.array_equal(np.stack([r[0][0] for r in recs]), q)
    np.savez(tmp_path / "task.npz", x=q, y=np.arange(5))
    assert np.array_equal(load_inputs(g, str(tmp_path / "task.npz"))[0][3][0][0], q[3])
    np.savez(tmp_path / "named.npz", **{g.inputs[0]: q[:2]})
    assert len(load_inputs(g, str(tmp_path / "named.npz"))[0]) == 2
    np.save(tmp_path / "bad.npy", np.zeros((3, 7), np.int8))
    with pytest.raises(EdgefmrError, match=r"bad.npy: shape \[3, 7\] does not fit the model input"):
        load_inputs(g, str(tmp_path / "bad.npy"))
    np.save(tmp_path / "i16.npy", np.zeros((3, 8, 8, 1), np.int16))
    with pytest.raises(EdgefmrError, match="dtype int16; the model input .* is int8"):
        load_inputs(g, str(tmp_path / "i16.npy"))
    np.savez(tmp_path / "none.npz", a=q)
    with pytest.raises(EdgefmrError, match="no array for model input"):
        load_inputs(g, str(tmp_path / "none.npz"))


def test_float_comparison_metrics() -> None:
    yf = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    m = _compare_float(yf.copy(), yf)
    assert m["l2r_mean"] == 0 and m["cosine_mean"] == pytest.approx(1) and m["top1_agreement"] == 1
    m = _compare_float(2 * yf, yf)
    assert m["l2r_mean"] == pytest.approx(1) and m["cosine_min"] == pytest.approx(1)
    m = _compare_float(-yf, yf)
    assert m["l2r_max"] == pytest.approx(2) and m["cosine_mean"] == pytest.approx(-1) and m["top1_agreement"] == 0
    with pytest.raises(EdgefmrError, match="do not match"):
        _compare_float(yf[:, :2], yf)


def test_float_model_runs_on_the_dequantized_inputs(tmp_path: Path) -> None:
    """The checkpoint gets the int8 records dequantized and moved from NHWC (IR) to NCHW (PyTorch)."""
    from edgefmr.nas.models.vit import ViTConfig
    from edgefmr.nas.tasks import load_task
    from edgefmr.nas.train import build_model, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    task = load_task("digits")
    cfg = ViTConfig(patch_size=4, embed_dim=16, heads=2, depth=1)
    model = build_model("vit", cfg, task.input_shape, 10)
    save_checkpoint(tmp_path / "m.pt", "vit", cfg, "digits", task.input_shape, 10, model)
    g = load_model(VIT)
    t = g.tensor(g.inputs[0])
    recs, _ = load_inputs(g, None, count=4)
    y = _float_outputs(g, str(tmp_path / "m.pt"), recs)
    m2, _ = load_checkpoint(tmp_path / "m.pt")
    x = (np.stack([r[0] for r in recs]).astype(np.float32) - t.zero_point) * np.float32(t.scale)   # [4,1,8,8,1]
    with torch.no_grad():
        want = m2(torch.from_numpy(x.reshape(4, 8, 8, 1).transpose(0, 3, 1, 2).copy())).numpy()
    assert y.shape == (4, 10) and np.allclose(y, want, rtol=0, atol=1e-6)
