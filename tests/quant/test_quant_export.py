"""Export: float ONNX (onnxruntime == the float model), integer ONNX QDQ (onnxruntime vs the interpreter), .tflite
(LiteRT == the interpreter, bit for bit) and clear errors when a model's ops do not map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quant_cases import CASES, data, make_model

from edgefmr.errors import EdgefmrError
from edgefmr.quant import export
from edgefmr.quant.quantizer import QuantOptions, quantize

torch.set_num_threads(1)
pytest.importorskip("onnxruntime")

RELU_VIT = {"patch_size": 2, "embed_dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0, "activation": "relu"}


def _qm(case: str, **opts):
    family, shape, cfg, o = CASES[case]
    x = data(shape, 40)
    return quantize(make_model(family, shape, cfg), family, x[:32], QuantOptions(calib_samples=32, **o, **opts)), x


@pytest.mark.parametrize("case", ["vit-gated", "spiking-sdsa", "lmu-spiking"])
def test_float_onnx_matches_the_float_model(case: str, tmp_path) -> None:
    qm, x = _qm(case)
    r = export.export_float_onnx(qm, tmp_path / "f.onnx", x[32:])
    assert r["max_abs_diff"] < 1e-4 and r["prediction_agreement"] == 1.0


@pytest.mark.parametrize("case", ["vit-softmax", "vit-clipped", "vit-gated", "vit-binarized-mlp"])
def test_qdq_onnx_runs_close_to_the_interpreter(case: str, tmp_path) -> None:
    qm, x = _qm(case)
    r = export.export_qdq_onnx(qm.graph(), tmp_path / "q.onnx", x[32:])
    assert r["basic"]["max_lsb_diff"] <= 3  # float LayerNorm/softmax/GELU-free math vs the integer kernels
    assert r["basic"]["prediction_agreement"] >= 0.75
    import onnx

    ops = {n.op_type for n in onnx.load(tmp_path / "q.onnx").graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "MatMul"} <= ops


@pytest.mark.parametrize("case,op", [("vit-hash", "HASH_ATTENTION"), ("spiking-sdsa", "LIF"),
                                     ("lmu-gelu", "LMU_UPDATE")])
def test_qdq_names_the_ops_without_an_onnx_form(case: str, op: str, tmp_path) -> None:
    qm, _ = _qm(case)
    with pytest.raises(EdgefmrError, match=f"ops without an ONNX form: .*{op}"):
        export.to_onnx_qdq(qm.graph())


def test_tflite_of_a_builtin_only_vit_is_bit_exact_on_litert(tmp_path) -> None:
    x = data((1, 8, 8), 40)
    model = make_model("vit", (1, 8, 8), RELU_VIT)
    qm = quantize(model, "vit", x[:32], QuantOptions(calib_samples=32, layernorm="decomposed"))
    g = qm.graph()
    assert "LAYER_NORM" not in {n.op for n in g.nodes} and "RSQRT" in {n.op for n in g.nodes}
    r = export.export_tflite(g, tmp_path / "m.tflite", x[32:])
    assert r["bit_exact"] and r["bit_exact_samples"] == 8
    gelu = quantize(make_model("vit", (1, 8, 8), {**RELU_VIT, "activation": "gelu"}), "vit", x[:32],
                    QuantOptions(calib_samples=32))
    with pytest.raises(EdgefmrError, match="ops without a TFLite builtin: .*LAYER_NORM.*LUT"):
        export.export_tflite(gelu.graph(), tmp_path / "g.tflite", x[32:])


def test_decomposed_layernorm_is_faithful() -> None:
    from edgefmr.quant.quantizer import evaluate_ir

    x = data((1, 8, 8), 40)
    qm = quantize(make_model("vit", (1, 8, 8), RELU_VIT), "vit", x[:32],
                  QuantOptions(calib_samples=32, layernorm="decomposed"))
    np.testing.assert_array_equal(qm.int_logits(x[32:]), evaluate_ir(qm.graph(), x[32:])["logits"])
