"""Calibration tables (edgefmr.calibration) and the host parts of the profiling session (edgefmr.profile): input
loading, float comparison, cost fitting, merging, the per-user location, defaults per core type and estimates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgefmr.boards import load_board
from edgefmr.calibration import (
    DEFAULT_COSTS,
    calibration_dir,
    estimate,
    fit_costs,
    load_calibration,
    make_table,
    node_work,
    save_calibration,
)
from edgefmr.errors import EdgefmrError
from edgefmr.model_io import load_model
from edgefmr.profile import _compare_float, _float_outputs, load_inputs

torch.set_num_threads(1)
FIXTURES = Path(__file__).parent / "fixtures"
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
    fc = [(i, a) for i, (op, u, a) in enumerate(w) if op == "FULLY_CONNECTED"]
    assert fc and all(w[i][1] == "mac" for i, _ in fc)
    mean = next(i for i, n in enumerate(g.nodes) if n.op == "MEAN")
    ins = int(np.prod(g.tensor(g.nodes[mean].inputs[0]).shape))
    assert w[mean] == ("MEAN", "element", ins)            # a reduction counts what it reads
    assert sum(a for _, u, a in w if u == "mac") == 297_280


def test_fit_recovers_direct_and_fused_costs() -> None:
    """Synthetic layers from known costs: single-op layers give them directly; op types only seen in fused layers
    are recovered by the non-negative least squares."""
    work = [("FC", "mac", 1000), ("FC", "mac", 3000), ("ADD", "element", 100), ("SOFTMAX", "element", 50),
            ("FC", "mac", 2000), ("SOFTMAX", "element", 80), ("LN", "element", 64), ("LN", "element", 32)]
    cost = {"FC": 2.0, "ADD": 7.0, "SOFTMAX": 30.0, "LN": 11.0}
    layers_nodes = [[0], [1], [2], [3, 4], [5, 6], [7, 2]]
    rows = [{"count": sum(cost[work[i][0]] * work[i][2] for i in nodes), "nodes": nodes} for nodes in layers_nodes]
    got = fit_costs(rows, work)
    assert got["FC"]["fit"] == "direct" and got["FC"]["cost"] == pytest.approx(2.0) and got["FC"]["layers"] == 2
    assert got["ADD"]["fit"] == "direct" and got["ADD"]["cost"] == pytest.approx(7.0)
    assert got["SOFTMAX"]["fit"] == "fitted" and got["SOFTMAX"]["cost"] == pytest.approx(30.0)
    assert got["LN"]["fit"] == "fitted" and got["LN"]["cost"] == pytest.approx(11.0)
    assert got["SOFTMAX"]["work"] == 130 and got["SOFTMAX"]["unit"] == "element"


def test_save_merge_load_and_estimate(cal_dir: Path) -> None:
    b = load_board("qemu-netduinoplus2")
    work = [("FC", "mac", 1000), ("ADD", "element", 100)]
    t1 = make_table(b, "instructions", fit_costs([{"count": 2000.0, "nodes": [0]}, {"count": 700.0, "nodes": [1]}],
                                                 work), {"model_hash": "m1", "inputs": 5})
    p = save_calibration(t1)
    assert p == cal_dir / "qemu-netduinoplus2.json"
    work2 = [("FC", "mac", 3000), ("SOFTMAX", "element", 10)]
    t2 = make_table(b, "instructions", fit_costs([{"count": 12000.0, "nodes": [0]}, {"count": 50.0, "nodes": [1]}],
                                                 work2), {"model_hash": "m2", "inputs": 5})
    save_calibration(t2)
    t = load_calibration("qemu-netduinoplus2")
    assert t["source"] == "measured" and [x["model_hash"] for x in t["profiles"]] == ["m1", "m2"]
    assert t["ops"]["FC"]["cost"] == pytest.approx((2000 + 12000) / 4000)   # weighted by work
    assert t["ops"]["ADD"]["cost"] == pytest.approx(7.0) and t["ops"]["SOFTMAX"]["cost"] == pytest.approx(5.0)
    assert t["fallback"]["mac"] == pytest.approx(3.5)
    # the same model profiled again replaces its contribution
    t2b = make_table(b, "instructions", fit_costs([{"count": 6000.0, "nodes": [0]}, {"count": 50.0, "nodes": [1]}],
                                                  work2), {"model_hash": "m2", "inputs": 5})
    save_calibration(t2b)
    t = load_calibration(b)
    assert t["ops"]["FC"]["cost"] == pytest.approx((2000 + 6000) / 4000) and len(t["profiles"]) == 2
    # estimates: sum of cost x work, fallback for missing op types
    g = load_model(VIT)
    est = estimate(g, t)
    want = sum((t["ops"][op]["cost"] if op in t["ops"] else t["fallback"][u]) * a for op, u, a in node_work(g))
    assert est["total"] == pytest.approx(want) and est["cycles"] == pytest.approx(want)
    assert est["seconds"] == pytest.approx(want / 168e6)


def test_default_per_core_type_and_errors(cal_dir: Path) -> None:
    t = load_calibration("nucleo-h743zi")
    assert t["source"] == "default" and t["default_of"] == "cortex-m7" and t["unit"] == "instructions"
    assert t["ops"]["FULLY_CONNECTED"] == {"unit": "mac", "cost": DEFAULT_COSTS["cortex-m7"]["FULLY_CONNECTED"][1],
                                           "fit": "default"}
    assert load_calibration("qemu-mps2-an386")["default_of"] == "cortex-m4"
    e = estimate(load_model(VIT), load_calibration("qemu-netduinoplus2"))
    assert e["unit"] == "instructions" and e["total"] > 0
    cal_dir.mkdir(parents=True)
    (cal_dir / "qemu-netduinoplus2.json").write_text("{oops")
    with pytest.raises(EdgefmrError, match="calibration table is not valid JSON"):
        load_calibration("qemu-netduinoplus2")
    (cal_dir / "qemu-netduinoplus2.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(EdgefmrError, match="not an edgefmr-calibration version 1 table"):
        load_calibration("qemu-netduinoplus2")


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
    from edgefmr.nas.tasks import load_task
    from edgefmr.nas.train import build_model, load_checkpoint, save_checkpoint
    from edgefmr.nas.vit import ViTConfig

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
