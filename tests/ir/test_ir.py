"""The IR file: save/load round trip, validation errors that name what is wrong."""

import json
import zipfile

import numpy as np
import pytest

from edgefmr.errors import EdgefmrError, IRError
from edgefmr.ir import GraphBuilder, graph_hash, load, run, save
from edgefmr.ir.efm import from_json, to_json
from edgefmr.ir.graph import Quant, Tensor
from edgefmr.ir.model_io import as_records


def small_graph(seed=0):
    rng = np.random.default_rng(seed)
    b = GraphBuilder({"name": "small"})
    x = b.input("x", (2, 6), scale=0.05, zero_point=-3)
    w = b.const("w", rng.integers(-127, 128, (4, 6)).astype(np.int8), scale=[0.01, 0.02, 0.03, 0.04], zero_point=0)
    y = b.op("FULLY_CONNECTED", [x, w, None], scale=0.2, zero_point=1, activation="RELU")
    b.output(y)
    return b.build()


def test_save_load_round_trip(tmp_path):
    g = small_graph()
    save(g, tmp_path / "m.efm")
    g2 = load(tmp_path / "m.efm")
    assert graph_hash(g) == graph_hash(g2)
    x = np.arange(-6, 6, dtype=np.int8).reshape(2, 6)
    np.testing.assert_array_equal(run(g, [x])[g.outputs[0]], run(g2, [x])[g2.outputs[0]])
    assert not (tmp_path / "m.efm.part").exists()


def test_hash_changes_with_weights():
    assert graph_hash(small_graph(0)) != graph_hash(small_graph(1))


def _doc(g):
    doc, arrays = to_json(g)
    return json.loads(json.dumps(doc)), arrays


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(version=99), "IR version 99"),
        (lambda d: d.update(format="other"), "not an edgefmr IR document"),
        (lambda d: d["nodes"][0].update(op="NOPE"), "unknown op 'NOPE'"),
        (lambda d: d["nodes"][0]["attrs"].update(activation="SIGMOID"), "activation: is 'SIGMOID'; valid: one of"),
        (lambda d: d["nodes"][0]["attrs"].update(colour=1), "unknown key 'colour'"),
        (lambda d: d["tensors"][-1].update(shape=[2, 5]), "inferred [2, 4]"),
        (lambda d: d["nodes"][0].update(inputs=["x", "missing", ""]), "missing"),
        (lambda d: d.update(outputs=["nowhere"]), "nowhere"),
        (lambda d: d["tensors"][0].update(dtype="int9"), "unknown dtype 'int9'"),
    ],
)
def test_invalid_documents_name_the_fault(mutate, message):
    doc, arrays = _doc(small_graph())
    mutate(doc)
    with pytest.raises(IRError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_json(doc, arrays, "bad.efm")


def test_weights_shape_mismatch(tmp_path):
    doc, arrays = _doc(small_graph())
    arrays[0] = arrays[0][:2]
    with pytest.raises(IRError, match="data is int8"):
        from_json(doc, arrays)


def test_not_a_zip_and_truncated(tmp_path):
    p = tmp_path / "junk.efm"
    p.write_bytes(b"not a zip at all")
    with pytest.raises(IRError, match="junk.efm: not a valid .efm file"):
        load(p)
    save(small_graph(), tmp_path / "m.efm")
    data = (tmp_path / "m.efm").read_bytes()
    (tmp_path / "t.efm").write_bytes(data[: len(data) // 2])
    with pytest.raises(IRError, match="t.efm"):
        load(tmp_path / "t.efm")


def test_missing_array(tmp_path):
    g = small_graph()
    save(g, tmp_path / "m.efm")
    with zipfile.ZipFile(tmp_path / "m.efm") as z, zipfile.ZipFile(tmp_path / "n.efm", "w") as out:
        for name in z.namelist():
            if name != "arrays/0.npy":
                out.writestr(name, z.read(name))
    with pytest.raises(IRError, match=r"\$.tensors\[\d+\].data: array 0 is not in the file"):
        load(tmp_path / "n.efm")


def test_interpreter_checks_inputs():
    g = small_graph()
    from edgefmr.errors import EdgefmrError

    with pytest.raises(EdgefmrError, match=r"must be int8\[2, 6\]"):
        run(g, [np.zeros((2, 6), np.int16)])


def test_builder_multi_output_node():
    b = GraphBuilder()
    x = b.input("x", (4, 3), scale=0.1, zero_point=0)
    s, v = b.op_multi("LIF", [x], [{"dtype": "int8"}, {"dtype": "int32"}], tau=2.0, threshold=1.0)
    b.output(s, v)
    g = b.build()
    assert g.tensors[s].shape == (4, 3) and g.tensors[v].shape == (3,) and g.tensors[v].dtype == "int32"
    out = run(g, [np.full((4, 3), 30, np.int8)])
    assert set(np.unique(out[s])) <= {0, 1}


def test_default_op_counts_are_macs():
    from edgefmr.ops.registry import call

    g = small_graph()
    c = call(g.nodes[0], g)
    assert c.opdef.op_counts(c) == {"mults": 2 * 6 * 4, "adds": 2 * 6 * 4}


def test_as_records_shapes_and_refusals() -> None:
    """The one input-record rule of profile, hil and validate: [N, *shape] (or one record, or [N, *shape[1:]] for a
    batch dimension of 1), no empty batch, no NaN or infinity in float data (named by index)."""
    t = Tensor("x", (1, 4, 2), "int8", Quant([0.1], [0]))
    assert as_records(t, np.zeros((1, 4, 2), np.int8), "x.npy").shape == (1, 1, 4, 2)
    assert as_records(t, np.zeros((3, 4, 2), np.int8), "x.npy").shape == (3, 1, 4, 2)
    assert as_records(t, np.zeros((3, 1, 4, 2), np.float32), "x.npy").dtype == np.float32
    with pytest.raises(EdgefmrError, match=r"x.npy: shape \[3, 5\] does not fit"):
        as_records(t, np.zeros((3, 5), np.int8), "x.npy")
    with pytest.raises(EdgefmrError, match="holds 0 inputs"):
        as_records(t, np.zeros((0, 4, 2), np.int8), "x.npy")
    bad = np.zeros((2, 4, 2), np.float64)
    bad[1, 3, 0] = np.nan
    with pytest.raises(EdgefmrError, match=r"NaN at index \[1, 3, 0\]"):
        as_records(t, bad, "x.npy")
