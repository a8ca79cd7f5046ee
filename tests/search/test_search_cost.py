"""The cost model: planner memory of the lowered graph, calibrated latency, constraints, option parsing."""

from __future__ import annotations

import shutil

import pytest
import torch

from edgefmr.boards import load_board
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.cost import memory_report
from edgefmr.nas.models.lmu import LMUConfig
from edgefmr.nas.models.spiking import SpikingConfig
from edgefmr.nas.models.vit import ViTConfig
from edgefmr.nas.search.cost import (
    Budgets,
    candidate_cost,
    constraints,
    feasible,
    lower_for_cost,
    parse_latency,
    parse_size,
)
from edgefmr.nas.tasks import load_task

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


def test_cost_is_the_planner_memory_plus_stack_and_the_calibrated_latency(digits):
    from edgefmr.profiling.calibration import estimate, load_calibration

    g = lower_for_cost(ViTConfig(embed_dim=16, depth=1, heads=2, patch_size=4, attention="gated"), digits)
    for board in ("qemu-netduinoplus2", "stm32f746g-disco"):
        b = load_board(board)
        c = candidate_cost(g, b, stack_bytes=4096)
        rep = memory_report(g, b)
        assert c.arena == rep["arena_bytes"] and c.flash == rep["flash_const_data_bytes"]
        assert c.sram[b.defaults.stack] == rep["arena_bytes"].get(b.defaults.stack, 0) + 4096
        assert c.sram_total == sum(rep["arena_bytes"].values()) + 4096
        est = estimate(g, load_calibration(b))
        assert c.latency_cycles == pytest.approx(est["cycles"]) and c.latency_seconds == pytest.approx(est["seconds"])
        assert c.macs > 0 and c.latency_source in ("default", "measured")
    # the disco board keeps the stack in DTCM and the arena in SRAM1: two regions
    assert set(candidate_cost(g, "stm32f746g-disco").sram) == {"SRAM1", "DTCM"}


def test_bigger_models_cost_more(digits):
    small = candidate_cost(lower_for_cost(ViTConfig(embed_dim=16, depth=1, heads=1, patch_size=4), digits),
                           "qemu-netduinoplus2")
    big = candidate_cost(lower_for_cost(ViTConfig(embed_dim=64, depth=3, heads=4, patch_size=2), digits),
                         "qemu-netduinoplus2")
    assert big.arena["SRAM"] > small.arena["SRAM"] and big.flash > small.flash
    assert big.latency_cycles > 5 * small.latency_cycles


@pytest.mark.parametrize("family_cfg,task", [(SpikingConfig(T=2, embed_dim=16, depth=1, stem_dim=8), "digits"),
                                             (LMUConfig(order=4, hidden=16, memory_size=2), "seq-digits")])
def test_every_family_is_costed(family_cfg, task):
    c = candidate_cost(lower_for_cost(family_cfg, load_task(task)), "qemu-netduinoplus2")
    assert c.arena["SRAM"] > 0 and c.flash > 0 and c.latency_cycles > 0


def test_constraints_are_hard_and_name_every_limit(digits):
    g = lower_for_cost(ViTConfig(embed_dim=16, depth=1, heads=1, patch_size=4), digits)
    b = load_board("qemu-netduinoplus2")
    c = candidate_cost(g, b)
    assert feasible(constraints(c, Budgets(), b))
    ok = constraints(c, Budgets(sram=c.sram_total, flash=c.flash, latency=c.latency_seconds), b)
    assert feasible(ok)
    over = constraints(c, Budgets(sram=c.sram_total - 1), b)
    assert not feasible(over) and over[0] > 0 and all(v <= 0 for v in over[1:])
    assert constraints(c, Budgets(latency=c.latency_cycles / 2, latency_unit="cycles"), b)[2] > 0
    # a board too small for the model: the board term is violated without any budget
    tiny_stack = candidate_cost(g, b, stack_bytes=b.region("SRAM").size)
    assert constraints(tiny_stack, Budgets(), b)[3] > 0


def test_lower_for_cost_needs_a_family_model(digits):
    with pytest.raises(EdgefmrError, match="Linear is not a family model"):
        lower_for_cost(torch.nn.Linear(2, 2), digits)


@pytest.mark.parametrize("text,n", [("256KB", 262144), ("256K", 262144), ("256KiB", 262144), ("1MB", 1048576),
                                    ("4096", 4096), ("4096B", 4096), ("1.5k", 1536)])
def test_parse_size(text, n):
    assert parse_size(text, "--sram-budget") == n


@pytest.mark.parametrize("text", ["", "abc", "12 GB", "-5K", "0"])
def test_parse_size_errors(text):
    with pytest.raises(EdgefmrError, match="--sram-budget"):
        parse_size(text, "--sram-budget")


def test_parse_latency():
    assert parse_latency("20ms") == (pytest.approx(0.02), "s")
    assert parse_latency("0.5s") == (0.5, "s")
    assert parse_latency("800us") == (pytest.approx(8e-4), "s")
    assert parse_latency("2e6cycles") == (2e6, "cycles")
    with pytest.raises(EdgefmrError, match="expected a time such as 50ms"):
        parse_latency("fast")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("board", ["qemu-netduinoplus2", "stm32f746g-disco"])
def test_predicted_sram_equals_the_built_firmware(tmp_path, digits, board):
    """The search's SRAM prediction == the arena symbols of the linked ELF + the stack the linker reserves."""
    from edgefmr.firmware.build import build

    g = lower_for_cost(ViTConfig(embed_dim=24, depth=2, heads=2, patch_size=2, attention=["softmax", "hash"]),
                       digits)
    c = candidate_cost(g, board, stack_bytes=4096)
    man = build(g, board, tmp_path / board, stack_bytes=4096)
    assert man["measured"]["arena_symbols"] == c.arena
    assert man["predicted"]["stack_reserved"] == c.stack_bytes


def test_fpga_boards_are_costed_by_the_fpga_estimator(digits):
    from edgefmr.firmware.cost import BRAM36_BYTES
    from edgefmr.firmware.hls import estimate

    g = lower_for_cost(ViTConfig(embed_dim=16, depth=1, heads=2, patch_size=4), digits)
    b = load_board("pynq-z2")
    c = candidate_cost(g, b)
    est = estimate(g, b)
    assert c.resources == {r: est["total"][r] for r in ("dsp", "bram36", "lut", "ff")}
    assert c.resources_available == est["available"]
    assert c.latency_cycles == est["total"]["cycles"]
    assert c.latency_seconds == pytest.approx(est["total"]["latency_us"] * 1e-6)
    assert c.sram_total == est["total"]["bram36"] * BRAM36_BYTES and c.flash == g.weight_bytes()
    assert c.latency_source == "fpga-estimator" and c.stack_bytes == 0
    assert feasible(constraints(c, Budgets(), b))
    assert not feasible(constraints(c, Budgets(sram=c.sram_total - 1), b))
    assert not feasible(constraints(c, Budgets(latency=c.latency_seconds / 2), b))
    # a design over the device's resources (even the shared engine with its weights in DDR needs the largest
    # layer's weights on chip) is infeasible by the board term, with no budget given
    big = lower_for_cost(ViTConfig(embed_dim=512, depth=1, heads=4, patch_size=2, mlp_ratio=4.0), digits)
    cb = candidate_cost(big, b)
    over = max((cb.resources[r] - cb.resources_available[r]) / cb.resources_available[r] for r in cb.resources)
    assert over > 0
    assert constraints(cb, Budgets(), b)[3] == pytest.approx(over)
    with pytest.raises(EdgefmrError, match="needed"):
        estimate(big, b)


def test_flash_is_the_builds_constant_data_whatever_the_weights(digits, tmp_path):
    from edgefmr.firmware.build import build

    cfg = ViTConfig(embed_dim=16, depth=1, heads=2, patch_size=4)
    g0, g1 = lower_for_cost(cfg, digits, seed=0), lower_for_cost(cfg, digits, seed=1)
    c0, c1 = candidate_cost(g0, "qemu-netduinoplus2"), candidate_cost(g1, "qemu-netduinoplus2")
    assert c0.flash == c1.flash > g0.weight_bytes()  # weights plus the kernels' parameters; shapes only
    man = build(g0, "qemu-netduinoplus2", tmp_path, run_make=False)
    assert man["predicted"]["const_bytes"] <= c0.flash
