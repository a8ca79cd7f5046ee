"""`edgefmr build`: the artifact folder, manifest predictions checked against the ELF, models that do not fit, and
the .tflite fixtures bit-exact (reference interpreter == host C == QEMU netduinoplus2 == QEMU mps2-an500)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from paths import FIXTURES

from edgefmr.boards import load_board
from edgefmr.commands.build import build as build_cmd
from edgefmr.device.semihost import run_semihost
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.build import build, run_host
from edgefmr.firmware.cost import build_arm_kernels, make_plan
from edgefmr.ir import GraphBuilder, graph_hash, run
from edgefmr.ir.model_io import load_model, prepare_input

CNN = FIXTURES / "cnn_digits_int8.tflite"
VIT = FIXTURES / "vit_digits_int8.tflite"
BOARDS = ["qemu-netduinoplus2", "qemu-mps2-an500"]
HAVE_ARM = shutil.which("arm-none-eabi-gcc") is not None
HAVE_QEMU = HAVE_ARM and shutil.which("qemu-system-arm") is not None
needs_arm = pytest.mark.skipif(not HAVE_ARM, reason="needs arm-none-eabi-gcc")
needs_qemu = pytest.mark.skipif(not HAVE_QEMU, reason="needs qemu-system-arm and arm-none-eabi-gcc")


def digits(g) -> list[list[np.ndarray]]:
    """The fixture digits as input records of graph `g`."""
    xq, batch = prepare_input(g, np.load(FIXTURES / "digits_test_x.npy"))
    assert batch
    return [[xi] for xi in xq]


def reference(g, records) -> list[np.ndarray]:
    return [run(g, rec)[g.outputs[0]] for rec in records]


@pytest.mark.parametrize("tricks", [True, False], ids=["tricks", "no-tricks"])
@pytest.mark.parametrize("model", [CNN, VIT], ids=["cnn", "vit"])
def test_fixture_host_bit_exact(model, tricks, tmp_path):
    """All digits through the host build == the reference interpreter, with and without MCUFormer's tricks."""
    g = load_model(model)
    records = digits(g)
    m = build(model, "host", tmp_path, tricks=tricks)
    assert m["board"] == "host" and m["model_hash"] == graph_hash(g)
    got = run_host(tmp_path, g, records)
    for k, (y, want) in enumerate(zip(got, reference(g, records), strict=True)):
        assert np.array_equal(y[0], want), f"digit {k}: host C differs from the interpreter"


@needs_qemu
@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize(("model", "tricks"), [(CNN, True), (VIT, True), (VIT, False)],
                         ids=["cnn-tricks", "vit-tricks", "vit-no-tricks"])
def test_fixture_qemu_bit_exact(board, model, tricks, tmp_path):
    """All digits on the QEMU board == the interpreter; the running firmware's arena equals the prediction and
    its stack high-water mark stays within the static stack estimate."""
    g = load_model(model)
    records = digits(g)
    m = build(model, board, tmp_path, tricks=tricks, test_inputs=records, choose_tricks=False)  # the fused loops
    assert m["tricks"] is tricks
    res = run_semihost(tmp_path, g)
    for k, (y, want) in enumerate(zip(res.outputs, reference(g, records), strict=True)):
        assert np.array_equal(y[0], want), f"digit {k}: {board} differs from the interpreter"
    assert res.arena_bytes == m["predicted"]["arena_total"] == m["plan"]["arena_bytes"][m["plan"]["region"]]
    assert 0 < res.stack_used <= m["predicted"]["stack"] <= res.stack_size
    assert res.counter == "systick" and all(i > 0 for i in res.instructions())


def _elf_sizes(elf: Path) -> tuple[dict[str, int], dict[str, int]]:
    """(section sizes from arm-none-eabi-size -A, symbol sizes from arm-none-eabi-nm -S)."""
    out = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    secs = {p[0]: int(p[1]) for p in (ln.split() for ln in out.splitlines()) if len(p) >= 2 and p[1].isdigit()}
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {p[3]: int(p[1], 16) for p in (ln.split() for ln in out.splitlines()) if len(p) == 4}
    return secs, syms


@needs_arm
@pytest.mark.parametrize("model", [CNN, VIT], ids=["cnn", "vit"])
def test_cli_build_artifact_matches_elf(model, tmp_path):
    """`edgefmr build` under 30 s; the artifact folder; the arena symbol in .bss is exactly the planner's arena
    and the flash sections (.isr_vector + .text + .rodata + .ARM.exidx + .data) are within 1% of the prediction;
    the Makefile rebuilds the same image."""
    out = tmp_path / "art"
    t0 = time.monotonic()
    r = CliRunner().invoke(build_cmd, [str(model), "--board", "qemu-netduinoplus2", "--out", str(out), "--json"])
    elapsed = time.monotonic() - t0
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert elapsed < 30
    m = json.loads(r.output)
    assert m == json.loads((out / "manifest.json").read_text())
    for f in ("Makefile", "linker.ld", "model.elf", "model.bin", "src/model.c", "src/model.h", "src/startup.c"):
        assert (out / f).is_file(), f
    assert m["board"] == "qemu-netduinoplus2" and m["main"] == "protocol"
    assert m["model_hash"] == graph_hash(load_model(model))
    # tricks were asked for; the build uses them only where they do not make the arena larger
    b = load_board("qemu-netduinoplus2")
    other = make_plan(load_model(model), b, not m["tricks"], build_arm_kernels(b), choose=False)
    assert m["predicted"]["arena_total"] <= sum(other.arena_bytes.values())
    secs, syms = _elf_sizes(out / "model.elf")
    assert syms["efm_arena"] == m["predicted"]["arena"]["SRAM"] == m["plan"]["arena_bytes"]["SRAM"]
    flash = sum(secs.get(s, 0) for s in (".isr_vector", ".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".data"))
    assert abs(m["predicted"]["flash"] - flash) <= 0.01 * flash, (m["predicted"]["flash"], flash)
    assert m["fit"]["SRAM"]["arena"] == syms["efm_arena"] and m["fit"]["FLASH"]["flash"] == m["predicted"]["flash"]
    before = (out / "model.bin").read_bytes()
    subprocess.run(["make", "-C", str(out), "clean"], check=True, capture_output=True)
    assert not (out / "model.elf").exists()
    subprocess.run(["make", "-C", str(out), "-j2"], check=True, capture_output=True)
    assert (out / "model.bin").read_bytes() == before


def test_cli_build_host(tmp_path):
    """`--board host` builds a native executable; its Makefile rebuilds it."""
    r = CliRunner().invoke(build_cmd, [str(CNN), "--board", "host", "--out", str(tmp_path), "--no-tricks"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert "board host" in r.output
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["tricks"] is False and m["main"] == "host"
    info = subprocess.run([str(tmp_path / "model"), "--info"], capture_output=True, text=True, check=True).stdout
    assert f"arena_bytes {m['predicted']['arena_total']}" in info and m["model_hash"] in info
    subprocess.run(["make", "-C", str(tmp_path), "clean"], check=True, capture_output=True)
    subprocess.run(["make", "-C", str(tmp_path)], check=True, capture_output=True)
    g = load_model(CNN)
    recs = digits(g)[:3]
    assert all(np.array_equal(a[0], b) for a, b in zip(run_host(tmp_path, g, recs), reference(g, recs), strict=True))


def _fc_model(n_in: int, n_out: int, batch: int = 1):
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    x = b.input("x", (batch, n_in), scale=0.05, zero_point=0)
    w = b.const("w", rng.integers(-127, 128, (n_out, n_in)).astype(np.int8), scale=0.01, zero_point=0)
    b.output(b.op("FULLY_CONNECTED", [x, w], scale=0.1, zero_point=0))
    return b.build()


@needs_arm
def test_model_too_big_for_flash(tmp_path):
    """1.2 MB of weights on a 1 MiB flash: the build fails naming the region, needed and available bytes."""
    with pytest.raises(EdgefmrError) as e:
        build(_fc_model(1024, 1200), "qemu-netduinoplus2", tmp_path)
    msg = str(e.value)
    assert "does not fit board qemu-netduinoplus2" in msg and "region FLASH needs" in msg
    assert "1,048,576 B available" in msg
    needed = int(msg.split("region FLASH needs ")[1].split(" B")[0].replace(",", ""))
    assert 1024 * 1200 <= needed < 1024 * 1200 * 1.05  # the weights plus the per-channel requantization tables


@needs_arm
def test_model_too_big_for_sram(tmp_path):
    """An activation larger than the 128 KiB SRAM: needed vs available bytes of region SRAM, through the CLI."""
    from edgefmr.ir import save

    path = tmp_path / "big.efm"
    save(_fc_model(8, 8, batch=20000), path)
    r = CliRunner().invoke(build_cmd, [str(path), "--board", "qemu-netduinoplus2", "--out", str(tmp_path / "o")])
    assert isinstance(r.exception, EdgefmrError)
    msg = str(r.exception)
    assert "region SRAM needs" in msg and "131,072 B available" in msg and "arena" in msg


@needs_arm
def test_linker_overflow_reports_regions(tmp_path):
    """When only the linked image overflows (code + static data), the error still gives needed vs available."""
    with pytest.raises(EdgefmrError) as e:
        build(_fc_model(8, 8), "qemu-netduinoplus2", tmp_path, stack_bytes=128 * 1024)
    assert "region SRAM needs" in str(e.value) and "stack 131,072" in str(e.value)


#: Real boards -> (clock source file, PLL input oscillator Hz, output divider key of the PLL in clock_config).
REAL_BOARDS = {"nucleo-f411re": ("clock_stm32f4f7.c", 16_000_000, "EFM_PLL_P"),
               "stm32f746g-disco": ("clock_stm32f4f7.c", 16_000_000, "EFM_PLL_P"),
               "nucleo-l4r5zi": ("clock_stm32l4p.c", 16_000_000, "EFM_PLL_R"),
               "nucleo-h743zi": ("clock_stm32h7.c", 64_000_000, "EFM_PLL_P")}


@pytest.mark.parametrize("board", list(REAL_BOARDS))
def test_real_board_pll_gives_board_clock(board):
    """The PLL settings computed from the board file give exactly its clock_hz, within each family's limits."""
    from edgefmr.boards import load_board
    from edgefmr.firmware import toolchain as tc

    b = load_board(board)
    cfg = tc.clock_config(b)
    _, osc, out = REAL_BOARDS[board]
    m, n, d = cfg["EFM_PLL_M"], cfg["EFM_PLL_N"], cfg[out]
    assert osc * n == b.clock_hz * d * m, (cfg, b.clock_hz)
    if board == "nucleo-l4r5zi":  # RM0432: 120 MHz needs range 1 boost and 5 wait states; APB at 120 MHz
        assert 64e6 <= osc / m * n <= 344e6 and d in (2, 4, 6, 8) and 8 <= n <= 127
        assert cfg["EFM_BOOST"] == 1 and cfg["EFM_FLASH_LATENCY"] == 5 and cfg["EFM_PPRE1"] == 0
        assert cfg["EFM_VDDIO2"] == 1 and cfg["EFM_UART_TX_PORT"] == 6 and cfg["EFM_UART_ENR"] == 0x5C
    if board == "nucleo-h743zi":  # RM0433: 480 MHz is VOS0, AXI 240 MHz (4 WS, WRHIGHFREQ 2), APB 120 MHz
        assert 192e6 <= osc / m * n <= 960e6 and d % 2 == 0 and 2e6 <= osc / m <= 16e6
        assert cfg["EFM_VOS0"] == 1 and cfg["EFM_FLASH_ACR"] == 4 | (2 << 4)
        assert cfg["EFM_HPRE"] == 8 and cfg["EFM_PPRE"] == 4  # /2, /2: 480 -> 240 -> 120 MHz
        assert cfg["EFM_UART_ENR"] == 0xE8 and cfg["EFM_UART_ENABLE_BIT"] == 18


def test_real_board_clock_limits_are_refused():
    """Clocks the PLL cannot make exactly, above a family's maximum, or a UART clock that does not follow, fail."""
    from dataclasses import replace

    from edgefmr.boards import load_board
    from edgefmr.firmware import toolchain as tc

    h7, l4 = load_board("nucleo-h743zi"), load_board("nucleo-l4r5zi")
    at400 = tc.clock_config(replace(h7, clock_hz=400_000_000, serial=replace(h7.serial, clock_hz=100_000_000)))
    assert at400["EFM_VOS0"] == 0 and at400["EFM_FLASH_ACR"] == 2 | (2 << 4)  # VOS1, AXI 200 MHz: 2 WS
    assert 64_000_000 * at400["EFM_PLL_N"] == 400_000_000 * at400["EFM_PLL_P"] * at400["EFM_PLL_M"]
    with pytest.raises(EdgefmrError, match="above the STM32H743 maximum"):
        tc.clock_config(replace(h7, clock_hz=500_000_000))
    with pytest.raises(EdgefmrError, match="serial.clock_hz = 120000000"):
        tc.clock_config(replace(h7, clock_hz=400_000_000))  # APB1 is 100 MHz at 400 MHz
    with pytest.raises(EdgefmrError, match="above the STM32L4\\+ maximum"):
        tc.clock_config(replace(l4, clock_hz=160_000_000))
    with pytest.raises(EdgefmrError, match="cannot be made exactly from the 16 MHz HSI16"):
        tc.clock_config(replace(l4, clock_hz=119_999_999))
    at80 = tc.clock_config(replace(l4, clock_hz=80_000_000, serial=replace(l4.serial, clock_hz=80_000_000)))
    assert at80["EFM_BOOST"] == 0 and at80["EFM_FLASH_LATENCY"] == 3
    with pytest.raises(EdgefmrError, match="STM32G474RET6 has no clock-tree set-up"):
        tc.clock_config(replace(l4, device="STM32G474RET6"))
    with pytest.raises(EdgefmrError, match="STM32H747XIH6 has no clock-tree set-up"):
        tc.clock_config(replace(h7, device="STM32H747XIH6"))  # dual core, SMPS: not RM0433


@needs_arm
@pytest.mark.parametrize("board", list(REAL_BOARDS))
def test_real_board_builds_with_clock_tree(board, tmp_path):
    """Real boards link with their clock-tree set-up (PLL from the HSI to the board's clock, UART clock and pins)
    and UART driver; the RAM the build predicts per region matches the ELF (STM32F746: arena in SRAM1 with
    .data/.bss and the stack in DTCM; STM32H743: arena in AXI SRAM, the rest in DTCM; STM32L4R5: SRAM3 / SRAM1)."""
    from edgefmr.boards import load_board
    from edgefmr.firmware import toolchain as tc

    m = build(VIT, board, tmp_path)
    b = load_board(board)
    header = (tmp_path / "src" / "efm_board.h").read_text()
    cfg = tc.clock_config(b)
    source, _, _ = REAL_BOARDS[board]
    assert "#define EFM_VIRTUAL_BOARD 0" in header and "#define EFM_SEMIHOSTING 0" in header
    assert all(f"#define {k} {v}u" in header for k, v in cfg.items())
    assert (tmp_path / "src" / source).is_file()
    secs, syms = _elf_sizes(tmp_path / "model.elf")
    assert "efm_clock_init" in syms
    assert syms["efm_arena"] == m["predicted"]["arena"][b.defaults.arena]
    assert set(m["fit"]) == {b.defaults.arena, b.defaults.stack, b.defaults.code} | {b.defaults.data}
    regions = m["measured"]["regions"]
    for r, need in m["fit"].items():
        if r == b.defaults.code:
            continue
        predicted = sum(need.get(k, 0) for k in ("arena", "stack", "static"))
        assert abs(regions[r]["ram"] - predicted) <= 64, (r, regions[r], need)


#: One small random-weight model per family and attention variant, quantized to the integer IR by edgefmr.quant.
FAMILY_CASES = {
    "vit-gated": ("vit", (1, 8, 8), {"patch_size": 2, "embed_dim": 16, "depth": 2, "heads": 2, "mlp_ratio": 2.0,
                                     "attention": "gated"}, {}),
    "vit-hash": ("vit", (1, 8, 8), {"patch_size": 2, "embed_dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0,
                                    "attention": "hash", "hash_bits": 6, "hash_anchors": 4}, {}),
    "vit-clipped-cls-lowrank": ("vit", (1, 7, 7), {"patch_size": 3, "embed_dim": 16, "depth": 1, "heads": 2,
                                                   "mlp_ratio": 2.0, "attention": "clipped", "pooling": "cls",
                                                   "rank_factor": 0.5}, {}),
    "vit-binarized-mlp": ("vit", (1, 8, 8), {"patch_size": 2, "embed_dim": 16, "depth": 1, "heads": 2,
                                             "mlp_ratio": 2.0}, {"binarize": ("blocks.*.mlp.*",)}),
    "spiking-sdsa": ("spiking", (1, 8, 8), {"T": 2, "embed_dim": 16, "depth": 1, "stem_dim": 8, "mlp_ratio": 2.0,
                                            "threshold": 0.5}, {}),
    "lmu-spiking": ("lmu", (16, 3), {"order": 6, "hidden": 16, "memory_size": 4, "patch": 1, "kernel": 3,
                                     "spiking": True, "pool": "mean", "threshold": 0.5}, {}),
    "lmu-gelu": ("lmu", (16, 3), {"order": 6, "hidden": 16, "memory_size": 4, "patch": 2, "kernel": 3}, {}),
}


def family_graph(name: str):
    """The integer IR graph of FAMILY_CASES[name] and four input records."""
    import torch
    from quant_cases import make_model

    from edgefmr.quant.quantizer import QuantOptions, quantize

    torch.set_num_threads(1)
    family, shape, cfg, opts = FAMILY_CASES[name]
    model = make_model(family, shape, cfg)
    x = np.random.default_rng(1).uniform(0.0, 1.0, (36, *shape)).astype(np.float32)
    g = quantize(model, family, x[:32], QuantOptions(calib_samples=32, **opts)).graph()
    xq, _ = prepare_input(g, x[32:])
    return g, [[xi] for xi in xq]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FAMILY_CASES))
def test_family_models_host_bit_exact(name, tmp_path):
    """Integer models of every family (ViT with gated, hash and clipped attention, binarized MLP, class token and
    low rank; spiking with SDSA; LMU, spiking LMU) from edgefmr.quant: host C == interpreter, with and without
    MCUFormer's tricks."""
    g, records = family_graph(name)
    want = reference(g, records)
    for tricks in (True, False):
        build(g, "host", tmp_path / str(tricks), tricks=tricks)
        got = run_host(tmp_path / str(tricks), g, records)
        assert all(np.array_equal(a[0], b) for a, b in zip(got, want, strict=True)), f"tricks={tricks}"


@needs_qemu
@pytest.mark.slow
@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_family_models_qemu_bit_exact(board, tmp_path):
    """The same family models, all in one image per board (with tricks): QEMU == interpreter."""
    from op_cases import merge_graphs

    cases = [family_graph(n) for n in sorted(FAMILY_CASES)]
    g = merge_graphs([c[0] for c in cases])
    records = [[rec[r][0] for _, rec in cases] for r in range(len(cases[0][1]))]
    build(g, board, tmp_path, test_inputs=records, choose_tricks=False)  # the fused loops on the board
    res = run_semihost(tmp_path, g)
    for r, rec in enumerate(records):
        want = [run(g, rec)[o] for o in g.outputs]
        for name, a, b in zip(g.outputs, res.outputs[r], want, strict=True):
            assert np.array_equal(a, b), f"{board}: {name} record {r}"
