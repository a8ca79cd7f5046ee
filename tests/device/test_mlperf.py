"""MLPerf Tiny (EEMBC runner) text protocol of the protocol firmware (firmware/c/runtime/mlperf.c).

Host build: every command and error path against a small hand-written model, and the "%.3f" formatter against C's
printf semantics. QEMU: the runner's exact sequence over socket:// to the ViT fixture's protocol firmware, every
reply line checked, and the binary protocol still working on the same link."""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from paths import FIXTURES

from edgefmr.firmware import toolchain as tc

HAVE_QEMU = bool(shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"))

# Two inputs (6 + 4 bytes), two outputs (3 + 2 bytes). The run clobbers the inputs (as a planner may), so a
# correct `infer N` must load the db bytes again before every inference.
HOST_MODEL_H = """
#ifndef MODEL_H
#define MODEL_H
#include <stdint.h>
#define EFM_NUM_LAYERS 1
#define EFM_NUM_INPUTS 2
#define EFM_NUM_OUTPUTS 2
#define EFM_INPUT_BYTES_TOTAL 10u
extern const char efm_model_hash[65];
int8_t *efm_input(int i);
uint32_t efm_input_bytes(int i);
const int8_t *efm_output(int i);
uint32_t efm_output_bytes(int i);
float efm_output_scale(int i);
int32_t efm_output_zero_point(int i);
void efm_run(void);
#endif
"""

HOST_MODEL_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"
#include "mlperf.h"
const char efm_model_hash[65] = "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface";
static int8_t in0[6], in1[4], out0[3], out1[2];
static unsigned runs;
int8_t *efm_input(int i) { return i == 0 ? in0 : in1; }
uint32_t efm_input_bytes(int i) { return i == 0 ? 6u : 4u; }
const int8_t *efm_output(int i) { return i == 0 ? out0 : out1; }
uint32_t efm_output_bytes(int i) { return i == 0 ? 3u : 2u; }
float efm_output_scale(int i) { return i == 0 ? 0.0625f : 0.1f; }
int32_t efm_output_zero_point(int i) { return i == 0 ? -3 : 5; }
void efm_run(void) {
    for (int k = 0; k < 3; k++) out0[k] = (int8_t)(in0[2 * k] + in0[2 * k + 1]);
    out1[0] = (int8_t)(in1[0] - in1[3]);
    out1[1] = (int8_t)(in1[1] ^ in1[2]);
    memset(in0, 0x55, sizeof(in0));   /* clobber the inputs */
    memset(in1, 0x55, sizeof(in1));
    runs++;
}
static void wr(const char *b, uint32_t n, void *c) { (void)c; fwrite(b, 1, n, stdout); }
static uint32_t clk;
static uint32_t us(void *c) { (void)c; return clk += 1000u * runs; }
static unsigned infers;
static void on_infer(void *c) { (void)c; infers++; }
int main(int argc, char **argv) {
    (void)argv;
    if (argc > 1) {   /* formatter mode: one float bit pattern (hex) per line in, its "%.3f" out */
        char line[64];
        while (fgets(line, sizeof line, stdin)) {
            uint32_t bits = (uint32_t)strtoul(line, 0, 16);
            float v;
            memcpy(&v, &bits, 4);
            char b[32];
            uint32_t n = efm_mlperf_fmt_f3(b, v);
            fwrite(b, 1, n, stdout);
            fputc('\n', stdout);
        }
        return 0;
    }
    static efm_mlperf m;
    efm_mlperf_init(&m, wr, us, on_infer, 0, "edgefmr-host", "edgefmr-proto-1", efm_model_hash);
    efm_mlperf_boot(&m);
    int c;
    while ((c = getchar()) != EOF) efm_mlperf_feed(&m, (uint8_t)c);
    printf("#runs=%u infers=%u commands=%u\n", runs, infers, (unsigned)m.commands);
    return 0;
}
"""


@pytest.fixture(scope="module")
def host_exe(tmp_path_factory) -> Path:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no host C compiler")
    d = tmp_path_factory.mktemp("mlperf_host")
    (d / "model.h").write_text(HOST_MODEL_H)
    (d / "harness.c").write_text(HOST_MODEL_C)
    exe = d / "harness"
    r = subprocess.run([cc, *tc.COMMON_CFLAGS, "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                        f"-I{d}", f"-I{tc.RUNTIME_DIR}", str(d / "harness.c"), str(tc.RUNTIME_DIR / "mlperf.c"),
                        str(tc.RUNTIME_DIR / "format.c"), "-o", str(exe)], capture_output=True, text=True)
    if r.returncode != 0 and "sanitize" in r.stderr:
        pytest.skip(f"the host compiler lacks ASan/UBSan: {r.stderr[:200]}")
    assert r.returncode == 0, r.stderr
    return exe


def _session(exe: Path, text: bytes) -> list[str]:
    out = subprocess.run([str(exe)], input=text, capture_output=True, timeout=30, check=True).stdout
    assert out.endswith(b"\n")
    return out.decode("ascii").split("\r\n")


def _wrap8(v: int) -> int:
    return (v + 128) % 256 - 128


def _expected_results(data: bytes) -> str:
    """The results line of the harness model for db bytes `data`."""
    x0 = [_wrap8(b) for b in data[:6]]
    x1 = [_wrap8(b) for b in data[6:]]
    out0 = [_wrap8(x0[2 * k] + x0[2 * k + 1]) for k in range(3)]
    out1 = [_wrap8(x1[0] - x1[3]), _wrap8(x1[1] ^ x1[2])]
    vals = [(np.float32(q) - np.float32(-3)) * np.float32(0.0625) for q in out0]
    vals += [(np.float32(q) - np.float32(5)) * np.float32(0.1) for q in out1]
    return "m-results-[" + ",".join(f"{float(v):.3f}" for v in vals) + "]"


def test_every_error_path_on_the_host_build(host_exe: Path) -> None:
    data = bytes([1, 2, 0xFE, 0x80, 0x7F, 0x7F, 9, 3, 0x0F, 0xF0])
    final = data[2:] + bytes([1, 1])
    cmds = (b"name%timestamp%help%results%bogus cmd%%db%db load%db load 0%db load 11%db 00%infer 1 0%"
            b"db load 10%db 0102fe%db 8%db 7g%db print%infer 1%infer 0%infer 2 -1%infer 1 1%"
            b"db load 10%db " + data[2:].hex().encode() + b"%db 01%db 0102fe807f7f%db 09030ff0aabb%db print%"
            b"infer 1 0%results%")
    lines = _session(host_exe, cmds)
    head = ["m-timestamp-mode-performance", "m-init-done", "m-ready", "m-name-dut-[edgefmr-host]", "m-ready",
            "m-lap-us-0", "m-ready", "edgefmr-proto-1", ""]
    assert lines[:len(head)] == head
    i = lines.index("m-ready", len(head))
    assert any(ln.startswith("infer N") for ln in lines[len(head):i]) and all(
        not ln.startswith(("e-", "m-")) for ln in lines[len(head):i])
    assert lines[i + 1:] == [
        "e-[No results: run 'infer' first]", "m-ready",
        "e-[Unknown command: bogus]", "m-ready",
        "e-[Unknown command: ]", "m-ready",
        "e-[Command 'db' requires a subcommand]", "m-ready",
        "e-[Command 'db load' requires the # of bytes]", "m-ready",
        "e-[Command 'db load' must be >0 bytes]", "m-ready",
        "e-[Supplied buffer size 11 exceeds maximum of 10]", "m-ready",
        "e-[No bytes expected: send 'db load N' first]", "m-ready",
        "e-[Input db has 0 bytes, expected 10]", "m-ready",
        "m-[Expecting 10 bytes]", "m-ready",
        "m-ready",                                               # db 0102fe: 3 of 10 bytes
        "e-[Insufficent number of hex digits]", "m-ready",      # (sic, the reference's text)
        "e-[Invalid hex digit '7g']", "m-ready",
        "m-buffer-01-02-fe-00-00-00-00-00", "m-buffer-00-00", "m-ready",
        "e-[Input db has 3 bytes, expected 10]", "m-ready",
        "e-[Inference iterations must be >0]", "m-ready",
        "e-[Inference warmup must be >=0]", "m-ready",
        "e-[Input db has 3 bytes, expected 10]", "m-ready",
        "m-[Expecting 10 bytes]", "m-ready",
        "m-ready",                                               # 8 bytes
        "m-ready",                                               # 9
        "m-load-done", "m-ready",                                # 10: the rest of the digits is ignored
        "e-[No bytes expected: send 'db load N' first]", "m-ready",
        "m-buffer-fe-80-7f-7f-09-03-0f-f0", "m-buffer-01-01", "m-ready",
        "m-warmup-start-0", "m-warmup-done", "m-infer-start-1", "m-lap-us-0", "m-lap-us-1000", "m-infer-done",
        _expected_results(final), "m-ready",
        _expected_results(final), "m-ready",
        "#runs=1 infers=1 commands=29\n",
    ]


def test_runner_sequence_on_the_host_build(host_exe: Path) -> None:
    """name, profile, db load N, db chunks, infer 3 2 (inputs clobbered by each run), results, timestamp; line
    ends and control bytes discard a partial command; an over-long command keeps its first 80 characters."""
    data = bytes([1, 2, 0xFE, 0x80, 0x7F, 0x7F, 9, 3, 0x0F, 0xF0])
    res = _expected_results(data)
    text = (b"name%profile%db load 10%db 0102fe80%db " + data[4:].hex().encode() + b"aabb%db print%"
            b"infer 3 2%results%timestamp%\r\nna\x01me%" + b"x" * 100 + b"%")
    lines = _session(host_exe, text)
    assert lines == [
        "m-timestamp-mode-performance", "m-init-done", "m-ready",
        "m-name-dut-[edgefmr-host]", "m-ready",
        "m-profile-[edgefmr-proto-1]", "m-model-[" + "feedface" * 8 + "]", "m-ready",
        "m-[Expecting 10 bytes]", "m-ready",
        "m-ready",
        "m-load-done", "m-ready",
        "m-buffer-01-02-fe-80-7f-7f-09-03", "m-buffer-0f-f0", "m-ready",
        "m-warmup-start-2", "m-warmup-done", "m-infer-start-3",
        "m-lap-us-2000", "m-lap-us-7000",                   # the harness clock: +1000 us x runs so far per read
        "m-infer-done", res, "m-ready",
        res, "m-ready",
        "m-lap-us-12000", "m-ready",
        "e-[Unknown command: me]", "m-ready",
        "e-[Unknown command: " + "x" * 80 + "]", "m-ready",
        "#runs=5 infers=1 commands=11\n",
    ]


def test_results_format_matches_printf(host_exe: Path) -> None:
    """efm_mlperf_fmt_f3 == C printf("%.3f") == Python "%.3f" on random floats, ties and extremes."""
    rng = np.random.default_rng(5)
    vals = [np.float32(v) for v in rng.normal(0, 3, 3000)]
    vals += [np.float32(v) for v in rng.uniform(-1e6, 1e6, 1000)]
    vals += [np.float32(k / 2000) for k in range(-4000, 4000, 7)]          # near ties
    vals += [np.float32(k) / np.float32(16) for k in range(-200, 200)]      # exact binary ties (x.xxx5)
    vals += [np.float32(v) for v in (0.0, 1e-30, -1e-30, 0.0005, -0.0005, 0.0015, 2.0 ** 40, -(2.0 ** 52), 1e-45)]
    bits = [struct.unpack("<I", struct.pack("<f", v))[0] for v in vals]
    out = subprocess.run([str(host_exe), "fmt"], input="\n".join(f"{b:08x}" for b in bits) + "\n",
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [f"{float(v):.3f}" for v in vals]


# ------------------------------------------------------------------------------------------------ QEMU


@pytest.mark.emulator
def test_runner_sequence_over_socket_to_qemu(tmp_path: Path) -> None:
    """The MLPerf Tiny runner's exact sequence against the ViT fixture's protocol firmware on QEMU netduinoplus2:
    name, profile, db load N, db in 31-byte chunks, infer 10 2, results; every reply line checked; the results
    are the interpreter's outputs dequantized; the timestamps agree with the exact instruction count; the binary
    protocol works on the same link afterwards."""
    if not HAVE_QEMU:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    from edgefmr.device.connection import Device
    from edgefmr.device.mlperf import MlperfTinyClient, format_results
    from edgefmr.device.qemu import QemuBoard
    from edgefmr.firmware.build import build
    from edgefmr.ir import run as run_graph
    from edgefmr.ir.model_io import load_model, prepare_input

    board = "qemu-netduinoplus2"
    model = FIXTURES / "vit_digits_int8.tflite"
    g = load_model(model)
    manifest = build(model, board, tmp_path / "art", main="protocol", mlperf_model="ic01")
    assert manifest["mlperf_model"] == "ic01"
    xq, _ = prepare_input(g, np.load(FIXTURES / "digits_test_x.npy")[:2])
    y = run_graph(g, [xq[0]])[g.outputs[0]]
    t = g.tensor(g.outputs[0])
    want = format_results([(np.float32(q) - np.float32(t.zero_point)) * np.float32(t.scale) for q in y.ravel()])
    data = xq[0].tobytes()
    assert len(data) == 64

    with QemuBoard(board, tmp_path / "art" / "model.elf") as q:
        c = MlperfTinyClient(q.transport, timeout=10.0)
        assert c.wait_ready() == ["m-timestamp-mode-performance", "m-init-done"]
        assert c.command("name") == [f"m-name-dut-[edgefmr-{board}]"]
        # the runner looks its test script up by this name (kws01, ic01, vww01, ad01)
        assert c.command("profile") == ["m-profile-[edgefmr-proto-1]", "m-model-[ic01]"]
        # a stray frame start (SOF 0xA5) before a command does not swallow it: answered at once
        q.transport.write(b"\xa5")
        t0 = time.monotonic()
        assert c.command("name", timeout=2.0) == [f"m-name-dut-[edgefmr-{board}]"]
        assert time.monotonic() - t0 < 1.0
        assert c.command(f"db load {len(data)}") == ["m-[Expecting 64 bytes]"]
        chunks = [data[i:i + 31] for i in range(0, len(data), 31)]
        assert [len(ch) for ch in chunks] == [31, 31, 2]
        assert [c.command("db " + ch.hex()) for ch in chunks] == [[], [], ["m-load-done"]]
        lines = c.command("infer 10 2", timeout=120)
        assert lines[:3] == ["m-warmup-start-2", "m-warmup-done", "m-infer-start-10"]
        assert lines[3].startswith("m-lap-us-") and lines[4].startswith("m-lap-us-")
        assert lines[5:] == ["m-infer-done", want]
        us = (int(lines[4][9:]) - int(lines[3][9:])) / 10
        assert c.command("results") == [want]
        assert c.command("db print")[0] == "m-buffer-" + "-".join(f"{b:02x}" for b in data[:8])
        # the binary protocol on the same link: same outputs, and exact instruction counts that the
        # timestamps (virtual microseconds: 2^10 ns per instruction under -icount shift=10) agree with
        d = Device(q.transport, timeout=2.0)
        assert d.info().model_hash == manifest["model_hash"]
        d.load_input(xq[0])
        r = d.run(1)
        assert np.frombuffer(d.read_output(0), np.int8).reshape(y.shape).tolist() == y.tolist()
        assert abs(us - r.total * 1.024) < 0.01 * us
        # the binary run replaced what the text protocol computed
        assert c.command("results", check=False) == ["e-[No results: run 'infer' first]"]


def test_an_input_above_the_db_limit_has_no_db_buffer(tmp_path: Path) -> None:
    """A model input larger than EFM_MLPERF_MAX_DB_BYTES gets no second copy in SRAM: `db load` is refused."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no host C compiler")
    (tmp_path / "model.h").write_text(HOST_MODEL_H)
    (tmp_path / "harness.c").write_text(HOST_MODEL_C)
    exe = tmp_path / "harness"
    subprocess.run([cc, *tc.COMMON_CFLAGS, "-DEFM_MLPERF_MAX_DB_BYTES=8u", f"-I{tmp_path}", f"-I{tc.RUNTIME_DIR}",
                    str(tmp_path / "harness.c"), str(tc.RUNTIME_DIR / "mlperf.c"), str(tc.RUNTIME_DIR / "format.c"),
                    "-o", str(exe)], check=True, capture_output=True)
    lines = _session(exe, b"db load 10%db 0102%infer 1 0%")
    assert "e-[The model input of 10 bytes exceeds the db limit of 8 bytes of this firmware; use the edgefmr " \
           "protocol]" in lines
    assert "e-[No bytes expected: send 'db load N' first]" in lines
    assert "e-[Input db has 0 bytes, expected 10]" in lines
    assert lines[-1].startswith("#runs=0 ")


def test_mlperf_model_name_defaults_from_the_model_file() -> None:
    from edgefmr.errors import EdgefmrError
    from edgefmr.firmware.build import mlperf_model_name
    from edgefmr.ir import Graph

    g = Graph()
    assert mlperf_model_name(g, "models/KWS01.tflite") == "kws01"
    assert mlperf_model_name(g, "vww_96_int8.tflite") == "vww01"
    assert mlperf_model_name(g, "pretrainedResnet_quant.tflite") == "ic01"
    assert mlperf_model_name(g, "my_model.efm") is None                    # the graph hash is reported
    assert mlperf_model_name(Graph(metadata={"mlperf_model": "ad01"}), "my_model.efm") == "ad01"
    assert mlperf_model_name(g, "kws01.tflite", "ic01") == "ic01"          # --mlperf-model wins
    with pytest.raises(EdgefmrError, match="--mlperf-model 'kws02' is not a model the MLPerf Tiny runner knows"):
        mlperf_model_name(g, "m.efm", "kws02")
