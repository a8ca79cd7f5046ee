"""Peak SRAM with and without MCUFormer's memory tricks, from the planner (edgefmr.firmware.planner).

One record per model x board: the planned arena (the static buffer the firmware reserves) with tricks (fused
patch embedding, per-head attention, row-block fusion, token overwriting) and without (one step per node,
lifetime-based greedy packing with RESHAPE/CONCATENATION views), their ratio, and the board's SRAM budget.
"""

from __future__ import annotations

from pathlib import Path

from edgefmr.boards import load_board
from edgefmr.firmware.planner import plan
from edgefmr.firmware.vit_graph import MCUFORMER, ViTConfig, build_vit
from edgefmr.ir.model_io import load_model

NOTE = """peak_sram_* = the planned activation arena in bytes (what `efm_arena` reserves; tensors, views and step
scratch, 16-byte aligned); peak_live_* = the most bytes live at once (a lower bound on any arena); budget = the
board's on-chip SRAM (all data regions; 320 KiB on the STM32F746G-DISCO, MCUFormer's target). Models with random
int8 weights are built by edgefmr.firmware.vit_graph; `vit64` is the >= 64-token ViT of the acceptance test
(issue 5), `mcuformer` the MCUFormer-sized ViT (embed 192, depth 12, 3 heads, MLP ratio 4, patch 20 at 240x240
-> 144 tokens + class token, low-rank 0.9). Its 240x240x3 input image alone is 172,800 B, so with tricks the
patch embedding is the peak (image + one band of tokens); peak_after_embed_* is the peak of the remaining steps
(the transformer blocks). flash_constants_bytes counts weights only (the 12-block MCUFormer-sized model holds
6.9 MB of int8 weights, far beyond the board's 1 MiB flash: the searched MCUFormer models are smaller)."""

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"

#: The >= 64-token ViT of the acceptance criterion: 32x32x3 image, patch 4 -> 64 tokens + class token.
VIT64 = ViTConfig(image_size=32, patch=4, embed=64, depth=4, heads=4, mlp_ratio=4.0, lowrank=None, in_chans=3,
                  num_classes=10, cls_token=True)


def _models():
    yield "vit_digits_int8.tflite", load_model(FIXTURES / "vit_digits_int8.tflite")
    yield "cnn_digits_int8.tflite", load_model(FIXTURES / "cnn_digits_int8.tflite")
    yield "vit64", build_vit(VIT64)
    yield "mcuformer", build_vit(MCUFORMER)


def _tokens(g) -> int | None:
    for s in plan(g, tricks=True).schedule.steps:
        if s.kind == "attention":
            return s.tile.tokens
    return None


def run() -> list[dict]:
    records = []
    for name, g in _models():
        tokens = _tokens(g)
        for board_name in ("stm32f746g-disco", "qemu-netduinoplus2"):
            board = load_board(board_name)
            p, q = plan(g, board, tricks=True), plan(g, board, tricks=False)
            region = board.region(p.region)
            first_block = next((s.index for s in p.schedule.steps if s.kind == "attention"), None)
            q_first = next((s.index for s in q.schedule.steps if g.nodes[s.nodes[0]].op == "FULLY_CONNECTED"), None)
            peak = max(p.layers, key=lambda la: la.live_bytes)
            rec = {
                "model": name, "board": board_name, "tokens": tokens, "steps_tricks": len(p.schedule.steps),
                "nodes": len(g.nodes),
                "peak_sram_tricks": p.arena_size, "peak_sram_no_tricks": q.arena_size,
                "ratio": round(p.arena_size / q.arena_size, 4),
                "peak_live_tricks": p.peak_bytes, "peak_live_no_tricks": q.peak_bytes,
                "peak_step_tricks": f"{peak.kind}:{peak.name}"[:60],
                "budget": board.sram_bytes, "arena_region": p.region, "arena_region_bytes": region.size,
                "fits_arena_region_tricks": p.arena_size <= region.size,
                "fits_arena_region_no_tricks": q.arena_size <= region.size,
                "flash_constants_bytes": g.weight_bytes(), "flash_bytes": board.flash_bytes,
            }
            if first_block is not None and q_first is not None:
                rec["peak_after_embed_tricks"] = max(p.live_bytes[max(first_block - 1, 0):])
                rec["peak_after_embed_no_tricks"] = max(q.live_bytes[q_first - 1:])
            records.append(rec)
    return records
