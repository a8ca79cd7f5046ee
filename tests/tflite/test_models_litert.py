"""Whole models: the reference interpreter equals LiteRT's reference kernels on every tensor, bit for bit."""


import numpy as np
import pytest
from paths import FIXTURES

from edgefmr.ir import run
from edgefmr.ir.model_io import load_model
from edgefmr.tflite import from_tflite, to_tflite
from edgefmr.tflite.litert import litert_interpreter

FIX = FIXTURES
MODELS = ["vit_digits_int8.tflite", "cnn_digits_int8.tflite"]


def litert_all_tensors(content: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    it = litert_interpreter(content)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    out = {}
    for d in it.get_tensor_details():
        try:
            out[d["name"]] = it.get_tensor(d["index"])
        except ValueError:  # tensors LiteRT does not keep (e.g. scratch)
            pass
    return out


@pytest.mark.parametrize("name", MODELS)
def test_converter_models_bit_exact_on_every_tensor(name):
    content = (FIX / name).read_bytes()
    g = load_model(FIX / name)
    xs = np.load(FIX / "digits_test_x.npy")[:, None]  # [N, 1, 8, 8, 1]
    for x in xs[:8]:
        ours = run(g, [x], keep_all=True)
        ref = litert_all_tensors(content, x)
        compared = 0
        for node in g.nodes:
            for t in node.outputs:
                if t in ref:
                    np.testing.assert_array_equal(ours[t], ref[t], err_msg=f"{name}: {node.op} -> {t}")
                    compared += 1
        assert compared == len(g.nodes), (compared, len(g.nodes))


@pytest.mark.parametrize("name", MODELS)
def test_converter_models_accuracy_and_all_inputs(name):
    g = load_model(FIX / name)
    xs, ys = np.load(FIX / "digits_test_x.npy")[:, None], np.load(FIX / "digits_test_y.npy")
    it = litert_interpreter((FIX / name).read_bytes())
    preds = []
    for x in xs:
        y = run(g, [x])[g.outputs[0]]
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        np.testing.assert_array_equal(y, it.get_tensor(it.get_output_details()[0]["index"]))
        preds.append(int(y.argmax()))
    assert np.mean(np.array(preds) == ys) >= 0.85  # the fixtures' recorded int8 accuracy is ~0.92 on 297 images


@pytest.mark.parametrize("name", MODELS)
def test_exported_models_run_the_same_on_litert(name):
    """Our exporter's file of an imported model gives LiteRT the same results as the converter's file."""
    g = load_model(FIX / name)
    ours = to_tflite(g)
    assert from_tflite(ours).nodes == g.nodes
    x = np.load(FIX / "digits_test_x.npy")[3:4]
    a, b = litert_all_tensors(ours, x), litert_all_tensors((FIX / name).read_bytes(), x)
    for out in g.outputs:
        np.testing.assert_array_equal(a[out], b[out])


# The benchmark fixtures of tests/fixtures/make_bench_fixtures.py, each with its own int8 input records.
BENCH_MODELS = ["vit64_int8", "vit16_d64_int8", "dscnn_int8", "resnet8_int8", "mobilenet_v1_025_int8"]


@pytest.mark.parametrize("stem", BENCH_MODELS)
def test_bench_models_bit_exact(stem):
    """Every tensor on the first record and the outputs on the first 3 equal LiteRT's reference kernels (3 to stay
    fast: the ViT-64 takes ~1 s per record in the interpreter); our exporter's file of the imported graph re-imports
    to the same nodes."""
    content = (FIX / f"{stem}.tflite").read_bytes()
    g = load_model(FIX / f"{stem}.tflite")
    xs = np.load(FIX / f"{stem}_x.npy")
    assert xs.dtype == np.int8 and len(xs) >= 4
    xs = xs.reshape(len(xs), *g.tensor(g.inputs[0]).shape)
    it = litert_interpreter(content)
    for i, x in enumerate(xs[:3]):
        ours = run(g, [x], keep_all=i == 0)
        if i == 0:
            ref = litert_all_tensors(content, x)
            compared = 0
            for node in g.nodes:
                for t in node.outputs:
                    np.testing.assert_array_equal(ours[t], ref[t], err_msg=f"{stem}: {node.op} -> {t}")
                    compared += 1
            assert compared == sum(len(n.outputs) for n in g.nodes)
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        np.testing.assert_array_equal(ours[g.outputs[0]], it.get_tensor(it.get_output_details()[0]["index"]))
    assert from_tflite(to_tflite(g)).nodes == g.nodes
