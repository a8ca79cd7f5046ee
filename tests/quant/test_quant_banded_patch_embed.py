"""Large images are patch-embedded band by band: the same integers as the whole-image lowering, a smaller arena."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgefmr.firmware.cost import memory_report
from edgefmr.nas.models.vit import ViTConfig
from edgefmr.nas.train import build_model
from edgefmr.quant import vit as vit_lowering
from edgefmr.quant.quantizer import QuantOptions, evaluate_ir, quantize


@pytest.mark.parametrize("rank_factor", [1.0, 0.25])
def test_banded_patch_embedding_is_bit_exact_and_smaller(monkeypatch, rank_factor: float) -> None:
    torch.manual_seed(0)
    shape = (3, 80, 80)  # 19,200 B int8: above BANDED_PATCH_EMBED_BYTES
    assert np.prod(shape) >= vit_lowering.BANDED_PATCH_EMBED_BYTES
    model = build_model("vit", ViTConfig(patch_size=16, embed_dim=24, depth=1, heads=2, mlp_ratio=1.0,
                                         rank_factor=rank_factor), shape, 5).eval()
    x = np.random.default_rng(0).uniform(0, 1, (6, *shape)).astype(np.float32)
    y = np.arange(6) % 5
    opts = QuantOptions(calib_samples=6, batch_size=6)
    banded = quantize(model, "vit", x, opts).graph()
    monkeypatch.setattr(vit_lowering, "BANDED_PATCH_EMBED_BYTES", 10**9)
    whole = quantize(model, "vit", x, opts).graph()
    ops_b = [n.op for n in banded.nodes]
    assert ops_b.count("CONV_2D") == 5 and ops_b.count("STRIDED_SLICE") == 5  # one per band of 16 rows
    assert [n.op for n in whole.nodes].count("CONV_2D") == 1
    np.testing.assert_array_equal(evaluate_ir(banded, x, y)["logits"], evaluate_ir(whole, x, y)["logits"])
    a_b = memory_report(banded, "stm32f746g-disco")["arena_total"]
    a_w = memory_report(whole, "stm32f746g-disco")["arena_total"]
    assert a_b <= a_w - int(np.prod(shape)) // 3  # no whole NHWC copy beside the input (here 38,400 -> 30,080 B)


def test_banded_patch_embedding_c_host_build_is_bit_exact(tmp_path) -> None:
    from edgefmr.firmware.build import build, run_host
    from edgefmr.ir import run

    torch.manual_seed(1)
    shape = (3, 64, 96)
    model = build_model("vit", ViTConfig(patch_size=16, embed_dim=16, depth=1, heads=1, mlp_ratio=1.0), shape, 4)
    x = np.random.default_rng(1).uniform(0, 1, (2, *shape)).astype(np.float32)
    g = quantize(model.eval(), "vit", x, QuantOptions(calib_samples=2, batch_size=2)).graph()
    assert [n.op for n in g.nodes].count("STRIDED_SLICE") == 4
    build(g, "host", tmp_path)
    t = g.tensors[g.inputs[0]]
    xq = np.clip(np.round(x[:1] / t.scale) + t.zero_point, -128, 127).astype(np.int8)
    (got,) = run_host(tmp_path, g, [[xq]])[0]
    want = run(g, [xq])[g.outputs[0]]
    np.testing.assert_array_equal(got.reshape(want.shape), want)
