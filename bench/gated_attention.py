"""Gated attention in the fused attention step: what the gate costs on the board in SRAM and executed instructions.

The model is the budget sweep's largest 64-token ViT shape (32x32x3 input, patch 4 = 64 tokens, width 96, depth 4,
4 heads, MLP ratio 4, GELU, mean pooling) with random weights (seed 0; the gate linears' weights drawn from
U(-2, 2) so that the gates differ by token and head), once with gated attention and once with clipped softmax,
quantized by `edgefmr.quant` (PTQ on 32 random images) and built by `edgefmr build` for each QEMU board (`build`:
the default plan, MCUFormer's tricks on, in which the gate is applied per head and query block inside the fused
attention step; `no_tricks`: every node its own step). `arena` is the build's planned arena (kernel scratch
included); `instructions` the executed instructions of one inference (QEMU -icount, minimum over 2 random input
records, exact); `bit_exact`: every output equals the reference interpreter's. `vs_clipped_*`: the gated build's
figure over the clipped one's of the same plan and board.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

NOTE = __doc__.strip()
BOARDS = ("qemu-netduinoplus2", "qemu-mps2-an500")
SHAPE = (3, 32, 32)
CONFIG = {"patch_size": 4, "embed_dim": 96, "depth": 4, "heads": 4, "mlp_ratio": 4.0, "activation": "gelu",
          "pooling": "mean"}
RECORDS = 2


def _graph(attention: str) -> Any:
    import torch

    from edgefmr.nas.train import build_model
    from edgefmr.quant.quantizer import QuantOptions, quantize

    torch.manual_seed(0)
    model = build_model("vit", {**CONFIG, "attention": attention}, SHAPE, 10).eval()
    with torch.no_grad():
        for name, w in model.named_parameters():
            if ".gate." in name:
                w.uniform_(-2.0, 2.0)
    x = np.random.default_rng(1).uniform(0.0, 1.0, (32, *SHAPE)).astype(np.float32)
    return quantize(model, "vit", x, QuantOptions(calib_samples=32)).graph()


def _measure(g: Any, board: str, records: list[list[np.ndarray]], tricks: bool) -> dict[str, Any]:
    from edgefmr.device.semihost import run_semihost
    from edgefmr.firmware.build import build
    from edgefmr.ir import run as run_graph

    with tempfile.TemporaryDirectory(prefix="bench-gated-") as tmp:
        m = build(g, board, Path(tmp), tricks=tricks, test_inputs=records)
        res = run_semihost(Path(tmp), g)
    exact = all(np.array_equal(a, run_graph(g, r)[o]) for outs, r in zip(res.outputs, records, strict=True)
                for o, a in zip(g.outputs, outs, strict=True))
    return {"arena": m["predicted"]["arena_total"], "instructions": int(min(res.instructions())), "bit_exact": exact}


def run() -> list[dict[str, Any]]:
    from edgefmr.ir.model_io import prepare_input

    graphs = {a: _graph(a) for a in ("clipped", "gated")}
    x = np.random.default_rng(2).uniform(0.0, 1.0, (RECORDS, *SHAPE)).astype(np.float32)
    out: list[dict[str, Any]] = []
    for board in BOARDS:
        got = {}
        for attention, g in graphs.items():
            xq, _ = prepare_input(g, x)
            records = [[xi] for xi in xq]
            for plan, tricks in (("build", True), ("no_tricks", False)):
                got[attention, plan] = _measure(g, board, records, tricks)
        for (attention, plan), r in got.items():
            rec = {"board": board, "attention": attention, "plan": plan, **r}
            if attention == "gated":
                base = got["clipped", plan]
                rec["vs_clipped_arena"] = round(r["arena"] / base["arena"], 4)
                rec["vs_clipped_instructions"] = round(r["instructions"] / base["instructions"], 4)
            out.append(rec)
    return out
