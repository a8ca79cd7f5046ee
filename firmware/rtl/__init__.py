"""Ground truth for the FPGA estimator: the int8 MAC array in Verilog (`mac_array.v`, parameters PE and SIMD),
simulated with Icarus Verilog on the vectors numpy also computes (bit-exact check, measured cycles) and
synthesized with yosys `synth_xilinx` (DSP48E1, flip-flop and LUT counts).

    simulate(pe, simd, x, w)      -> SimResult(acc, cycles)    (iverilog + vvp)
    synthesize(pe, simd, ...)     -> SynthResult(dsp, ff, lut) (yosys synth_xilinx -family xc7)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefmr.errors import EdgefmrError

RTL_DIR = Path(__file__).resolve().parent
MAC_ARRAY = RTL_DIR / "mac_array.v"
#: Cycles from an address to the accumulator update, plus the output register (see mac_array.v).
PIPELINE_LATENCY = 5


@dataclass
class SimResult:
    acc: np.ndarray  # [vectors, cols] int64 accumulators
    cycles: int  # clock edges from start to done
    seconds: float


@dataclass
class SynthResult:
    dsp: int
    ff: int
    lut: int
    carry4: int
    cells: dict[str, int]
    seconds: float


def acc_width(depth: int) -> int:
    """Accumulator bits of a depth-long sum of (9-bit x) * (8-bit w) products, as the HLS kernels size it."""
    return (depth * 255 * 128).bit_length() + 1


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise EdgefmrError(f"{name} is not installed (Debian package {package}; scripts/setup.sh installs it)")
    return path


def _hex_words(values: np.ndarray, bits: int) -> list[str]:
    """Each row of `values` packed little-end-first into one hex word of len(row) * bits bits."""
    out = []
    mask = (1 << bits) - 1
    for row in np.asarray(values, np.int64):
        word = 0
        for k, v in enumerate(row.tolist()):
            word |= (int(v) & mask) << (k * bits)
        out.append(f"{word:x}")
    return out


def testbench(pe: int, simd: int, nf: int, sf: int, vectors: int, acc_w: int) -> str:
    return f"""`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 1, start = 0;
    wire [31:0] vec; wire [15:0] nf, sf; wire busy, acc_valid, done;
    reg [{simd * 9 - 1}:0] xq; reg [{pe * simd * 8 - 1}:0] wq;
    wire [{pe * acc_w - 1}:0] acc;
    reg [{simd * 9 - 1}:0] xmem [0:{vectors * sf - 1}];
    reg [{pe * simd * 8 - 1}:0] wmem [0:{nf * sf - 1}];
    efm_mac_array #(.PE({pe}), .SIMD({simd}), .NF({nf}), .SF({sf}), .VECTORS({vectors}), .ACC_W({acc_w})) dut (
        .clk(clk), .rst(rst), .start(start), .vec(vec), .nf(nf), .sf(sf), .busy(busy), .x(xq), .w(wq),
        .acc(acc), .acc_valid(acc_valid), .done(done));
    always #5 clk = ~clk;
    always @(posedge clk) begin
        xq <= xmem[vec * {sf} + sf];
        wq <= wmem[nf * {sf} + sf];
    end
    integer f, cycles, p;
    initial begin
        $readmemh("x.hex", xmem);
        $readmemh("w.hex", wmem);
        f = $fopen("acc.txt", "w");
        @(posedge clk); @(posedge clk); #1 rst = 0; start = 1;
        cycles = 0;
        @(posedge clk); #1 start = 0; cycles = 1;
        while (!done) begin
            @(posedge clk); #1 cycles = cycles + 1;
            if (acc_valid)
                for (p = 0; p < {pe}; p = p + 1) $fwrite(f, "%0d\\n", $signed(acc[p*{acc_w} +: {acc_w}]));
            if (cycles > {vectors * nf * sf * 4 + 100}) begin $display("TIMEOUT"); $finish; end
        end
        $fwrite(f, "cycles %0d\\n", cycles);
        $fclose(f);
        $finish;
    end
endmodule
"""


def simulate(pe: int, simd: int, x: np.ndarray, w: np.ndarray, workdir: str | Path | None = None) -> SimResult:
    """Run vectors x [vectors, depth] (activations minus zero point, 9-bit signed) through the array with weights
    w [cols, depth] (int8): accumulators x @ w.T per vector, and the cycles from start to done."""
    x = np.asarray(x, np.int64)
    w = np.asarray(w, np.int64)
    vectors, depth = x.shape
    cols = w.shape[0]
    if cols % pe or depth % simd or w.shape[1] != depth:
        raise EdgefmrError(f"MAC array {pe}x{simd} needs cols % pe == 0 and depth % simd == 0 (cols {cols}, "
                           f"depth {depth})")
    if x.min(initial=0) < -256 or x.max(initial=0) > 255 or w.min(initial=0) < -128 or w.max(initial=0) > 127:
        raise EdgefmrError("MAC array operands out of range: x must be 9-bit signed, w int8")
    nf, sf = cols // pe, depth // simd
    acc_w = acc_width(depth)
    iverilog, vvp = _tool("iverilog", "iverilog"), _tool("vvp", "iverilog")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        d = Path(tmp)
        # xmem[vec * SF + sf]: SIMD activations; wmem[nf * SF + sf]: PE x SIMD weights (pe-major)
        xw = x.reshape(vectors * sf, simd)
        ww = w.reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).reshape(nf * sf, pe * simd)
        (d / "x.hex").write_text("\n".join(_hex_words(xw, 9)) + "\n")
        (d / "w.hex").write_text("\n".join(_hex_words(ww, 8)) + "\n")
        (d / "tb.v").write_text(testbench(pe, simd, nf, sf, vectors, acc_w))
        seconds, cycles, values = _simulate(d, MAC_ARRAY, iverilog, vvp)
    if values.size != vectors * cols:
        raise EdgefmrError(f"RTL simulation produced {values.size} accumulators, expected {vectors * cols}")
    return SimResult(values.reshape(vectors, cols), cycles, seconds)


_CELL_RE = re.compile(r"^\s+(\S+)\s+(\d+)\s*$", re.M)


def synthesize(pe: int, simd: int, nf: int, sf: int, vectors: int = 4, acc_w: int | None = None,
               family: str = "xc7") -> SynthResult:
    """yosys synth_xilinx of the array: DSP48E1, flip-flops (FD*) and LUTs (LUT1..LUT6) of the flattened design."""
    yosys = _tool("yosys", "yosys")
    acc_w = acc_w or acc_width(sf * simd)
    script = (f"read_verilog {MAC_ARRAY}; chparam -set PE {pe} -set SIMD {simd} -set NF {nf} -set SF {sf} "
              f"-set VECTORS {vectors} -set ACC_W {acc_w} efm_mac_array; "
              f"synth_xilinx -family {family} -top efm_mac_array -flatten; stat")
    t0 = time.time()
    r = subprocess.run([yosys, "-q", "-p", script.replace("; stat", "; tee -o /dev/stdout stat")],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise EdgefmrError(f"yosys failed:\n{(r.stdout + r.stderr)[-3000:]}")
    cells = {name: int(n) for name, n in _CELL_RE.findall(r.stdout)}
    dsp = sum(n for k, n in cells.items() if k.startswith("DSP48"))
    ff = sum(n for k, n in cells.items() if re.fullmatch(r"FD[CPRSE]+", k))
    lut = sum(n for k, n in cells.items() if re.fullmatch(r"LUT[1-6]", k))
    return SynthResult(dsp, ff, lut, cells.get("CARRY4", 0), cells, time.time() - t0)


ENGINE = RTL_DIR / "engine.v"
#: Cycles the engine spends per layer besides its beats: one table read and the array's drain (engine.v).
ENGINE_LAYER_OVERHEAD = 1 + PIPELINE_LATENCY


def engine_folds(pe: int, simd: int, vectors: int, cols: int, depth: int) -> tuple[int, int, int]:
    """(vectors, NF, SF) of one layer on a PE x SIMD engine: ceil(cols / PE) folds of ceil(depth / SIMD) beats."""
    return vectors, -(-cols // pe), -(-depth // simd)


def _table_hex(rows: list[tuple[int, int, int]]) -> str:
    return "\n".join(f"{(v << 32) | (nf << 16) | sf:016x}" for v, nf, sf in rows) + "\n"


def engine_testbench(pe: int, simd: int, rows: list[tuple[int, int, int]], acc_w: int) -> str:
    n = len(rows)
    xbase, wbase, xb, wb = [], [], 0, 0
    for v, nf, sf in rows:
        xbase.append(xb)
        wbase.append(wb)
        xb += v * sf
        wb += nf * sf
    sets = "\n".join(f"        xbase[{i}] = {xbase[i]}; wbase[{i}] = {wbase[i]}; sfs[{i}] = {rows[i][2]};"
                     for i in range(n))
    limit = sum(v * nf * sf + 20 for v, nf, sf in rows) + 100
    return f"""`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 1, start = 0;
    wire [15:0] layer; wire [31:0] vec; wire [15:0] nf, sf; wire busy, acc_valid, done;
    reg [{simd * 9 - 1}:0] xq; reg [{pe * simd * 8 - 1}:0] wq;
    wire [{pe * acc_w - 1}:0] acc;
    reg [{simd * 9 - 1}:0] xmem [0:{max(xb, 1) - 1}];
    reg [{pe * simd * 8 - 1}:0] wmem [0:{max(wb, 1) - 1}];
    integer xbase [0:{n - 1}]; integer wbase [0:{n - 1}]; integer sfs [0:{n - 1}];
    efm_engine #(.PE({pe}), .SIMD({simd}), .LAYERS({n}), .ACC_W({acc_w}), .TABLE("table.hex")) dut (
        .clk(clk), .rst(rst), .start(start), .layer(layer), .vec(vec), .nf(nf), .sf(sf), .busy(busy), .x(xq),
        .w(wq), .acc(acc), .acc_valid(acc_valid), .done(done));
    always #5 clk = ~clk;
    always @(posedge clk) begin
        xq <= xmem[xbase[layer] + vec * sfs[layer] + sf];
        wq <= wmem[wbase[layer] + nf * sfs[layer] + sf];
    end
    integer f, cycles, p;
    initial begin
{sets}
        $readmemh("x.hex", xmem);
        $readmemh("w.hex", wmem);
        f = $fopen("acc.txt", "w");
        @(posedge clk); @(posedge clk); #1 rst = 0; start = 1;
        cycles = 0;
        @(posedge clk); #1 start = 0; cycles = 1;
        while (!done) begin
            @(posedge clk); #1 cycles = cycles + 1;
            if (acc_valid)
                for (p = 0; p < {pe}; p = p + 1) $fwrite(f, "%0d\\n", $signed(acc[p*{acc_w} +: {acc_w}]));
            if (cycles > {limit}) begin $display("TIMEOUT"); $finish; end
        end
        $fwrite(f, "cycles %0d\\n", cycles);
        $fclose(f);
        $finish;
    end
endmodule
"""


def simulate_engine(pe: int, simd: int, layers: list[tuple[np.ndarray, np.ndarray]], acc_w: int | None = None,
                    workdir: str | Path | None = None) -> tuple[list[np.ndarray], int, float]:
    """Run matrix layers (x [vectors, depth] 9-bit signed, w [cols, depth] int8) in turn through the engine with
    weights and activations packed as the engine stores them (zero-padded to whole folds): per layer the
    accumulators x @ w.T, the cycles from start to done, and the seconds the simulation took."""
    rows, xwords, wwords = [], [], []
    for x, w in layers:
        x, w = np.asarray(x, np.int64), np.asarray(w, np.int64)
        v, nf, sf = engine_folds(pe, simd, x.shape[0], w.shape[0], x.shape[1])
        xp = np.zeros((v, sf * simd), np.int64)
        xp[:, :x.shape[1]] = x
        wp = np.zeros((nf * pe, sf * simd), np.int64)
        wp[:w.shape[0], :w.shape[1]] = w
        rows.append((v, nf, sf))
        xwords += _hex_words(xp.reshape(v * sf, simd), 9)
        wwords += _hex_words(wp.reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).reshape(nf * sf, pe * simd), 8)
    acc_w = acc_w or max(acc_width(x.shape[1]) for x, _ in layers)
    iverilog, vvp = _tool("iverilog", "iverilog"), _tool("vvp", "iverilog")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        d = Path(tmp)
        (d / "x.hex").write_text("\n".join(xwords) + "\n")
        (d / "w.hex").write_text("\n".join(wwords) + "\n")
        (d / "table.hex").write_text(_table_hex(rows))
        (d / "tb.v").write_text(engine_testbench(pe, simd, rows, acc_w))
        seconds, cycles, values = _simulate(d, ENGINE, iverilog, vvp)
    out, pos = [], 0
    for (_, w), (v, nf, _) in zip(layers, rows, strict=True):
        n = v * nf * pe
        if pos + n > values.size:
            raise EdgefmrError(f"engine simulation produced {values.size} accumulators, expected more")
        out.append(values[pos:pos + n].reshape(v, nf * pe)[:, :np.asarray(w).shape[0]])
        pos += n
    if pos != values.size:
        raise EdgefmrError(f"engine simulation produced {values.size} accumulators, expected {pos}")
    return out, cycles, seconds


def synthesize_engine(pe: int, simd: int, rows: list[tuple[int, int, int]], acc_w: int, family: str = "xc7"
                      ) -> SynthResult:
    """yosys synth_xilinx of the engine's array and layer-table control for table `rows` (vectors, NF, SF)."""
    yosys = _tool("yosys", "yosys")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "table.hex").write_text(_table_hex(rows))
        script = (f"read_verilog {ENGINE}; chparam -set PE {pe} -set SIMD {simd} -set LAYERS {len(rows)} "
                  f"-set ACC_W {acc_w} efm_engine; synth_xilinx -family {family} -top efm_engine -flatten; "
                  f"tee -o /dev/stdout stat")
        t0 = time.time()
        r = subprocess.run([yosys, "-q", "-p", script], cwd=d, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise EdgefmrError(f"yosys failed:\n{(r.stdout + r.stderr)[-3000:]}")
    cells = {name: int(n) for name, n in _CELL_RE.findall(r.stdout)}
    dsp = sum(n for k, n in cells.items() if k.startswith("DSP48"))
    ff = sum(n for k, n in cells.items() if re.fullmatch(r"FD[CPRSE]+", k))
    lut = sum(n for k, n in cells.items() if re.fullmatch(r"LUT[1-6]", k))
    return SynthResult(dsp, ff, lut, cells.get("CARRY4", 0), cells, time.time() - t0)


def _simulate(d: Path, design: Path, iverilog: str, vvp: str) -> tuple[float, int, np.ndarray]:
    """Compile tb.v in `d` with `design` under Icarus and run it: (wall seconds, the cycles and the accumulators the
    testbench wrote to acc.txt)."""
    t0 = time.time()
    r = subprocess.run([iverilog, "-g2012", "-o", "sim", "tb.v", str(design)], cwd=d, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        raise EdgefmrError(f"iverilog failed:\n{r.stderr[-3000:]}")
    r = subprocess.run([vvp, "-n", "sim"], cwd=d, capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or "TIMEOUT" in r.stdout:
        raise EdgefmrError(f"RTL simulation failed:\n{(r.stdout + r.stderr)[-3000:]}")
    lines = (d / "acc.txt").read_text().split()
    seconds = time.time() - t0
    cycles = int(lines[lines.index("cycles") + 1])
    return seconds, cycles, np.array([int(v) for v in lines[:lines.index("cycles")]], np.int64)
