"""End to end on QEMU boards: the launcher (banner, always stopped, clear errors) and the protocol firmware
(firmware/c/runtime/main_protocol.c + protocol.c) driven by edgefmr.device.connection, with a small hand-written model
that implements the generated model C API."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from paths import FIXTURES

from edgefmr.boards import load_board
from edgefmr.device.connection import Device
from edgefmr.device.protocol import Cmd, Counter, DeviceError, LinkError
from edgefmr.device.qemu import QemuBoard, QemuError
from edgefmr.device.transport import FaultPlan, FaultyTransport

HAVE_TOOLS = bool(shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"))
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="needs qemu-system-arm and arm-none-eabi-gcc")
BOARDS = ["qemu-netduinoplus2", "qemu-mps2-an500"]
N = 96  # input bytes of the test model

# The model: layer 0 y = x + 1, layer 1 y = 2x, layer 2 (fused, no stored output) spins SPIN loop iterations
# (exactly 2 * SPIN instructions), layer 3 = layer 1 reversed, written over the input (as a planner may do).
MODEL_H = """
#ifndef MODEL_H
#define MODEL_H
#include <stdint.h>
#define EFM_NUM_LAYERS 4
#define EFM_NUM_INPUTS 1
#define EFM_NUM_OUTPUTS 1
extern const char efm_model_hash[65];
extern const uint32_t efm_arena_bytes;
int8_t *efm_input(int i);
uint32_t efm_input_bytes(int i);
const int8_t *efm_output(int i);
uint32_t efm_output_bytes(int i);
#define EFM_INPUT_BYTES_TOTAL NBYTES
float efm_output_scale(int i);
int32_t efm_output_zero_point(int i);
void efm_run(void);
void efm_run_layer(int layer);
const char *efm_layer_name(int layer);
const char *efm_layer_op(int layer);
const void *efm_layer_output(int layer);
uint32_t efm_layer_output_bytes(int layer);
#endif
"""

MODEL_C = """
#include "model.h"
#define N NBYTES
static int8_t efm_arena[3 * N] __attribute__((aligned(16)));
const char efm_model_hash[65] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const uint32_t efm_arena_bytes = sizeof(efm_arena);
int8_t *efm_input(int i) { (void)i; return efm_arena; }
uint32_t efm_input_bytes(int i) { (void)i; return N; }
const int8_t *efm_output(int i) { (void)i; return efm_arena; }
uint32_t efm_output_bytes(int i) { (void)i; return N; }
float efm_output_scale(int i) { (void)i; return 0.5f; }
int32_t efm_output_zero_point(int i) { (void)i; return 3; }
__attribute__((noinline)) static void spin(uint32_t n) {
    __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(n) : : "cc");
}
void efm_run_layer(int layer) {
    int8_t *x = efm_arena, *a = efm_arena + N, *b = efm_arena + 2 * N;
    switch (layer) {
    case 0: for (int i = 0; i < N; i++) a[i] = (int8_t)(x[i] + 1); break;
    case 1: for (int i = 0; i < N; i++) b[i] = (int8_t)(x[i] * 2); break;
    case 2: spin(SPIN_ITERS); break;
    default: for (int i = 0; i < N; i++) x[i] = b[N - 1 - i]; break;
    }
}
void efm_run(void) { for (int l = 0; l < EFM_NUM_LAYERS; l++) efm_run_layer(l); }
static const char *const names[4] = {"add_one", "double", "spin", "reverse"};
static const char *const ops[4] = {"ADD", "MUL", "SPIN", "REVERSE"};
const char *efm_layer_name(int layer) { return names[layer]; }
const char *efm_layer_op(int layer) { return ops[layer]; }
const void *efm_layer_output(int layer) {
    return layer == 0 ? (const void *)(efm_arena + N) : layer == 1 ? (const void *)(efm_arena + 2 * N)
         : layer == 3 ? (const void *)efm_arena : (const void *)0;
}
uint32_t efm_layer_output_bytes(int layer) { return layer == 2 ? 0u : N; }
"""

# A firmware for launcher tests: banner, then echoes each received byte + 1; 'q' exits with code 3.
ECHO_C = """
#include "efm_board.h"
#include "efm_runtime.h"
int main(void) {
    efm_uart_init();
    efm_uart_write("EFM-ECHO ready\\n", 15u);
    for (;;) {
        uint8_t c = efm_uart_getc();
        if (c == 'q') return 3;
        efm_uart_putc((uint8_t)(c + 1u));
    }
}
"""


def build_elf(out: Path, board_name: str, main_sources: dict[str, str], runtime: list[str]) -> Path:
    """Compile runtime files + the given sources with the board's flags and generated header/linker script."""
    from edgefmr.firmware import toolchain as tc

    board = load_board(board_name)
    t = tc.toolchain(board)
    out.mkdir(parents=True, exist_ok=True)
    (out / "efm_board.h").write_text(tc.board_header(board, semihosting=True))
    (out / "link.ld").write_text(tc.linker_script(board, []))
    srcs = []
    for name in runtime:
        shutil.copy(tc.RUNTIME_DIR / name, out / name)
        if name.endswith(".c"):
            srcs.append(name)
    for name, text in main_sources.items():
        (out / name).write_text(text)
        if name.endswith(".c"):
            srcs.append(name)
    elf = out / "fw.elf"
    r = subprocess.run([t.cc, *t.cflags, "-I.", *srcs, *t.ldflags, "-T", "link.ld", "-o", elf.name],
                       cwd=out, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return elf


def _uart(board_name: str) -> str:
    from edgefmr.firmware import toolchain as tc

    return tc.uart_driver(load_board(board_name))


BASE_RUNTIME = ["efm_runtime.h", "startup.c", "semihost.c", "format.c", "counter.c"]


def build_protocol_fw(out: Path, board_name: str, spin: int = 1000) -> Path:
    model_c = MODEL_C.replace("NBYTES", str(N)).replace("SPIN_ITERS", f"{spin}u")
    return build_elf(out, board_name, {"model.h": MODEL_H.replace("NBYTES", f"{N}u"), "model.c": model_c},
                     BASE_RUNTIME + [_uart(board_name), "protocol.h", "protocol.c", "mlperf.h", "mlperf.c",
                                     "main_protocol.c"])


@pytest.fixture(scope="module")
def fw(tmp_path_factory) -> dict[str, Path]:
    if not HAVE_TOOLS:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    root = tmp_path_factory.mktemp("fw")
    return {b: build_protocol_fw(root / b, b) for b in BOARDS}


def _expected(x: np.ndarray) -> bytes:
    return (x.astype(np.int8) * np.int8(2)).astype(np.int8)[::-1].tobytes()


# ------------------------------------------------------------------------------------------------ launcher

def test_missing_qemu_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elf = tmp_path / "x.elf"
    elf.write_bytes(b"\x7fELF")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(QemuError, match=r"qemu-system-arm not found on PATH; install it: .*apt-get install "
                                        r"qemu-system-arm"):
        QemuBoard("qemu-netduinoplus2", elf).start()


def test_non_qemu_board_is_refused(tmp_path: Path) -> None:
    elf = tmp_path / "x.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(QemuError, match="not a QEMU board"):
        QemuBoard("nucleo-f446re", elf)


@needs_tools
@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_launcher_banner_link_and_exit_code(tmp_path: Path, board: str) -> None:
    elf = build_elf(tmp_path, board, {"echo.c": ECHO_C}, BASE_RUNTIME + [_uart(board)])
    with QemuBoard(board, elf, banner=b"EFM-ECHO") as q:
        assert q.banner_line == b"EFM-ECHO ready"
        q.transport.write(b"abc")
        got = b""
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:
            got += q.transport.read(16, 0.5)
        assert got == b"bcd"
        q.transport.write(b"q")
        assert q.wait(10) == 3             # semihosting exit code reaches the host
    assert q.proc.poll() is not None


@needs_tools
@pytest.mark.emulator
def test_banner_timeout_is_stated(tmp_path: Path) -> None:
    elf = build_elf(tmp_path, "qemu-netduinoplus2", {"echo.c": ECHO_C}, BASE_RUNTIME + [_uart("qemu-netduinoplus2")])
    t0 = time.monotonic()
    with pytest.raises(QemuError, match=r"no firmware banner b'EFM-PROTO' .* within 1.5 s .*serial said b'EFM-ECHO"):
        with QemuBoard("qemu-netduinoplus2", elf, banner=b"EFM-PROTO", banner_timeout=1.5):
            pass
    assert time.monotonic() - t0 < 8


# Python ignores SIGINT when it starts with SIGINT ignored (a job started in the background by a shell): restore the
# interactive behaviour (KeyboardInterrupt) so the test means the same wherever it runs.
_CHILD = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from edgefmr.device.qemu import QemuBoard
q = QemuBoard(sys.argv[1], sys.argv[2], banner=b"EFM-ECHO").start()
print(q.proc.pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):  # exited (a zombie waits for its reaper; it runs nothing)
            return True
        time.sleep(0.05)
    return False


@needs_tools
@pytest.mark.emulator
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_qemu_left_when_python_is_killed(tmp_path: Path, sig: signal.Signals) -> None:
    elf = build_elf(tmp_path, "qemu-netduinoplus2", {"echo.c": ECHO_C}, BASE_RUNTIME + [_uart("qemu-netduinoplus2")])
    child = subprocess.Popen([sys.executable, "-c", _CHILD, "qemu-netduinoplus2", str(elf)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip().isdigit(), child.stderr.read()
        qpid = int(line)
        assert not _gone(qpid, 0.3), "QEMU should be running while its Python session is"
        os.kill(child.pid, sig)
        child.wait(10)
        assert _gone(qpid, 5), f"QEMU {qpid} still running after the Python side got {sig.name}"
    finally:
        if child.poll() is None:
            child.kill()


# ------------------------------------------------------------------------------------------------ protocol firmware

@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_protocol_session(fw: dict[str, Path], board: str) -> None:
    with QemuBoard(board, fw[board]) as q, Device(q.transport, timeout=2.0) as d:
        assert q.banner_line.startswith(f"EFM-PROTO 1 {board} 0123".encode())
        info = d.info()
        b = load_board(board)
        assert (info.board, info.core_clock_hz, info.num_layers, info.input_bytes, info.output_bytes) == (
            board, b.clock_hz, 4, (N,), (N,))
        assert info.counter == Counter.QEMU_INSTRUCTIONS and info.counter_quantum == 1
        assert info.arena_bytes == 3 * N and info.model_hash == "0123456789abcdef" * 4
        assert info.stack_bytes == 8192
        assert [(li.name, li.op, li.output_bytes) for li in d.layers()] == [
            ("add_one", "ADD", N), ("double", "MUL", N), ("spin", "SPIN", 0), ("reverse", "REVERSE", N)]
        assert d.ping(bytes(range(256)) * 3) == bytes(range(256)) * 3
        rng = np.random.default_rng(0)
        for _ in range(3):
            x = rng.integers(-128, 128, N, dtype=np.int8)
            assert d.infer([x]) == [_expected(x)]
        # intermediate tensors: run up to the layer, then read it
        x = rng.integers(-128, 128, N, dtype=np.int8)
        d.load_input(x)
        d.run(1, last_layer=0)
        assert d.read_tensor(0) == (x + np.int8(1)).astype(np.int8).tobytes()
        with pytest.raises(DeviceError, match="BAD_STATE"):
            d.read_output()
        with pytest.raises(DeviceError, match="UNAVAILABLE"):
            d.read_tensor(2)
        d.run(1, last_layer=1)
        assert d.read_tensor(1) == (x * np.int8(2)).astype(np.int8).tobytes()
        # runs and profile: deterministic exact counts, sums consistent
        d.load_input(x)
        r1 = d.run(1)
        assert not r1.inputs_unchanged      # layer 3 overwrites the input
        r = d.run(5, profile=True)
        assert r.min == r.max and r.total == 5 * r.min and r.counter == Counter.QEMU_INSTRUCTIONS
        p = d.profile()
        assert p.runs == 5 and [lp.name for lp in p.layers] == ["add_one", "double", "spin", "reverse"]
        assert sum(lp.count for lp in p.layers) == r.min
        assert all(float(lp.count).is_integer() and lp.count > 0 for lp in p.layers)
        # the spin layer: 2000 loop instructions plus the call (a handful)
        assert 2000 <= p.layers[2].count <= 2020
        st = d.stack()
        assert 0 < st.used_bytes < st.stack_bytes == 8192
        # a clean link: nothing damaged; a resend only where an answer was late for the adaptive timeout (a busy
        # machine), and the device answered it from its cache
        assert d.stats["naks"] == d.stats["bad_crc"] == d.stats["bad_headers"] == 0
        assert d.stats["retries"] == d.stats["timeouts"] + d.stats["gaps"], d.stats


@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_instruction_count_is_exact(tmp_path: Path, board: str) -> None:
    """SysTick under -icount, converted by the firmware, counts instructions exactly: a layer with SPIN loop
    iterations of 2 instructions differs by exactly 2 x the iteration difference, across 2^24-tick wraps."""
    if not HAVE_TOOLS:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    counts = {}
    for spin in (1000, 1000 + 300_000):
        elf = build_protocol_fw(tmp_path / str(spin), board, spin=spin)
        with QemuBoard(board, elf) as q, Device(q.transport, timeout=2.0) as d:
            d.load_input(np.zeros(N, np.int8))
            d.run(3, profile=True)
            counts[spin] = d.profile().layers[2].count
    assert counts[301_000] - counts[1000] == 2 * 300_000


@pytest.mark.emulator
def test_one_percent_corruption_on_the_real_firmware(fw: dict[str, Path]) -> None:
    """1% of link bytes corrupted both ways (plus drops and inserted garbage): the firmware's parser and the
    host's retries still deliver exact results; the retries are counted."""
    board = "qemu-netduinoplus2"
    with QemuBoard(board, fw[board]) as q:
        plan = dict(corrupt=0.01, drop=0.001, insert=0.001)
        t = FaultyTransport(q.transport, tx=FaultPlan(**plan), rx=FaultPlan(**plan), seed=3)
        d = Device(t, timeout=0.3, retries=12, run_timeout=5.0)
        rng = np.random.default_rng(1)
        for _ in range(4):
            x = rng.integers(-128, 128, N, dtype=np.int8)
            assert d.infer([x]) == [_expected(x)]
        assert d.stats["retries"] > 0 and t.tx.stats.corrupted + t.rx.stats.corrupted > 0


@pytest.mark.emulator
def test_dead_link_fails_within_stated_timeout(fw: dict[str, Path]) -> None:
    board = "qemu-mps2-an500"
    with QemuBoard(board, fw[board]) as q:
        t = FaultyTransport(q.transport, tx=FaultPlan(drop=1.0))   # nothing reaches the board
        d = Device(t, timeout=0.2, retries=2)
        t0 = time.monotonic()
        with pytest.raises(LinkError, match=r"no valid response to INFO .* after 3 attempts \(0.20 s timeout"):
            d.info()
        assert time.monotonic() - t0 < 3 * 0.2 + 1.0


@pytest.mark.emulator
def test_firmware_rejects_bad_requests(fw: dict[str, Path]) -> None:
    import struct

    board = "qemu-netduinoplus2"
    with QemuBoard(board, fw[board]) as q, Device(q.transport, timeout=2.0) as d:
        link = d.link
        for cmd, payload, status in [
            (0x55, b"", "UNKNOWN_COMMAND"),
            (Cmd.INFO, b"x", "BAD_LENGTH"),
            (Cmd.LOAD_INPUT, struct.pack("<BI", 1, 0) + b"a", "BAD_INDEX"),
            (Cmd.LOAD_INPUT, struct.pack("<BI", 0, N - 1) + b"ab", "BAD_RANGE"),
            (Cmd.RUN, struct.pack("<IBH", 0, 0, 0xFFFF), "BAD_ARG"),
            (Cmd.RUN, struct.pack("<IBH", 2, 0, 1), "BAD_ARG"),
            (Cmd.RUN, struct.pack("<IBH", 1, 0, 4), "BAD_INDEX"),
            (Cmd.READ_OUTPUT, struct.pack("<BIH", 0, 0, 1024), "TOO_LARGE"),
            (Cmd.READ_OUTPUT, struct.pack("<BIH", 0, 0, N), "BAD_STATE"),
            (Cmd.READ_TENSOR, struct.pack("<HIH", 9, 0, 1), "BAD_INDEX"),
            (Cmd.PROFILE, struct.pack("<HH", 4, 1), "BAD_INDEX"),
        ]:
            with pytest.raises(DeviceError, match=status):
                link.request(cmd, payload)
        assert d.ping(b"still alive") == b"still alive"


def test_protocol_core_builds_for_the_host(tmp_path: Path) -> None:
    """The protocol core (protocol.c) builds warning-free for the host too (fuzz target, host tests)."""
    from edgefmr.firmware import toolchain as tc

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no host C compiler")
    src = tmp_path / "t.c"
    src.write_text(textwrap.dedent("""
        #include "protocol.h"
        #include <stdio.h>
        int main(void) { return efm_crc8((const uint8_t *)"123456789", 9) == 0xF4 &&
                                efm_crc32(0, (const uint8_t *)"123456789", 9) == 0xCBF43926u ? 0 : 1; }
    """))
    exe = tmp_path / "t"
    subprocess.run([cc, *tc.COMMON_CFLAGS, f"-I{tc.RUNTIME_DIR}", str(src), str(tc.RUNTIME_DIR / "protocol.c"),
                    "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)]).returncode == 0


# ------------------------------------------------------------------------------------------------ run_on_board



@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_run_on_board_is_bit_exact_with_the_interpreter(tmp_path: Path, board: str) -> None:
    if not HAVE_TOOLS:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    from edgefmr.device.connection import run_on_board
    from edgefmr.firmware.build import build
    from edgefmr.ir import run as run_graph
    from edgefmr.ir.model_io import load_model, prepare_input

    model = FIXTURES / "cnn_digits_int8.tflite"
    g = load_model(model)
    build(model, board, tmp_path / "art", tricks=False)
    x = np.load(FIXTURES / "digits_test_x.npy")[:6]
    xq, _ = prepare_input(g, x)
    records = [[xi] for xi in xq] + [[xq[0]]]          # the first input again at the end
    r = run_on_board(tmp_path / "art", board, records, graph=g)
    for got, xi in zip(r.outputs, records, strict=True):
        assert np.array_equal(got[0], run_graph(g, xi)[g.outputs[0]])
    assert r.counter == Counter.QEMU_INSTRUCTIONS and r.quantum == 1
    assert r.counts[0] == r.counts[-1] > 10_000          # same input, same exact count
    assert "instructions per inference: an executed-instruction count under QEMU, not cycles" in r.describe()
    # the artifact is for this board only; a real board needs a port; a wrong path is named
    from edgefmr.errors import EdgefmrError

    other = BOARDS[1 - BOARDS.index(board)]
    with pytest.raises(EdgefmrError, match=f"was built for board {board}, not {other}"):
        run_on_board(tmp_path / "art", other, records, graph=g)
    with pytest.raises(EdgefmrError, match="not a build artifact folder"):
        run_on_board(tmp_path / "nothing", board, records, graph=g)


def test_run_on_board_real_board_needs_a_port(tmp_path: Path) -> None:
    import json

    from edgefmr.device.connection import run_on_board
    from edgefmr.errors import EdgefmrError

    art = tmp_path / "art"
    art.mkdir()
    model = str(FIXTURES / "cnn_digits_int8.tflite")
    (art / "manifest.json").write_text(json.dumps({"board": "nucleo-f446re", "main": "protocol", "model_hash": "00",
                                                   "model": model}))
    with pytest.raises(EdgefmrError, match="nucleo-f446re is a real board: give --port"):
        run_on_board(art, None, [])
    (art / "manifest.json").write_text(json.dumps({"board": "nucleo-f446re", "main": "semihost"}))
    with pytest.raises(EdgefmrError, match="needs the protocol firmware"):
        run_on_board(art, None, [])


def test_frame_parser_survives_fuzzing_under_sanitizers(tmp_path: Path) -> None:
    """tests/firmware/fuzz_protocol.c on the host build of protocol.c with ASan/UBSan: random streams of valid,
    damaged, truncated frames and garbage; every valid frame executed exactly once, in order, nothing else."""
    from edgefmr.firmware import toolchain as tc

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no host C compiler")
    exe = tmp_path / "fuzz"
    src = Path(__file__).with_name("fuzz_protocol.c")
    r = subprocess.run([cc, "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                        "-fno-sanitize-recover=all", "-DEFM_FUZZ_MAIN", f"-I{tc.RUNTIME_DIR}", str(src),
                        str(tc.RUNTIME_DIR / "protocol.c"), "-o", str(exe)], capture_output=True, text=True)
    if r.returncode != 0 and "sanitize" in r.stderr:
        pytest.skip(f"the host compiler lacks ASan/UBSan: {r.stderr[:200]}")
    assert r.returncode == 0, r.stderr
    run = subprocess.run([str(exe), "1500", "12345"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok 1500", run.stderr[-2000:]
