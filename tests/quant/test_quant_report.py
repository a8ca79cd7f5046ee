"""Op counts on the IR: attention multiplications vs additions, zero Q.K multiplications for hash attention and
SDSA, and the per-layer activation statistics of the report."""

from __future__ import annotations

import torch
from quant_cases import CASES, data, make_model

from edgefmr.quant.quantizer import QuantOptions, quantize
from edgefmr.quant.report import activation_stats, graph_counts, outlier_summary

torch.set_num_threads(1)


def _counts(case: str) -> tuple[dict, object]:
    family, shape, cfg, opts = CASES[case]
    qm = quantize(make_model(family, shape, cfg), family, data(shape, 16), QuantOptions(calib_samples=16, **opts))
    return graph_counts(qm.graph()), qm


def test_softmax_attention_counts() -> None:
    c, _ = _counts("vit-softmax")  # 16 tokens, 2 heads of 8, one layer
    lay = c["attention_layers"]["blocks.0.attn"]
    n, d, h = 16, 8, 2
    assert lay["qk_ops"] == ["BATCH_MATMUL"] and lay["qk_mults"] == h * n * n * d
    assert lay["mults"] == 2 * h * n * n * d + h * n * n  # Q.K, P.V, softmax normalization
    assert lay["exps"] == h * n * n and lay["divs"] == h * n
    assert c["macs"] > lay["mults"] and c["ops"]["SOFTMAX"] == 1


def test_hash_attention_has_no_qk_multiplications() -> None:
    c, _ = _counts("vit-hash")
    lay = c["attention_layers"]["blocks.0.attn"]
    assert lay["qk_ops"] == ["HASH_ATTENTION"] and lay["qk_mults"] == 0
    assert lay["qk_adds"] > 0 and lay["mults"] > 0  # the hash encoding and the reciprocal multiply
    soft, _ = _counts("vit-softmax")
    assert lay["qk_adds"] < soft["attention_layers"]["blocks.0.attn"]["qk_adds"]


def test_sdsa_is_ands_and_additions() -> None:
    c, _ = _counts("spiking-sdsa")
    lay = c["attention_layers"]["blocks.0.attn"]
    assert lay["qk_mults"] == 0
    assert lay["mults"] == 2 * 16  # only the leak of the LIF on the column sums: T x D neurons
    assert lay["ands"] > 0 and lay["adds"] > 0
    assert set(lay["qk_ops"]) == {"MUL", "TRANSPOSE", "SPIKE_FULLY_CONNECTED"}


def test_activation_stats_and_outliers() -> None:
    _, qm = _counts("vit-gated")
    rows = {r["tensor"]: r for r in activation_stats(qm)}
    assert set(qm.residual_keys) <= set(rows)
    for r in rows.values():
        assert r["max_abs"] == max(abs(r["min"]), abs(r["max"])) and r["scale"] > 0
    s = outlier_summary(qm)
    assert s["max_abs_activation"] == max(qm.observers[k].max_abs for k in qm.residual_keys)
    assert s["kurtosis"] > 0
