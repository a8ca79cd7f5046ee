"""Streaming on the FPGA: the step top function of a step program (edgefmr.ir.streaming) and its C simulation.

`efm_top_step(frame, out, reset)` keeps every state in a static array of its own (block RAM, or registers for
small states: ARRAY_PARTITION complete up to REGISTER_STATE_ELEMENTS elements); one call is one step: with `reset`
the states first take their initial values (their zero points), then the states are streamed into the dataflow top
`efm_top` beside the frame, and its state outputs are written back. The testbench `tb_step.cpp` (built as
`csim_step`) streams its built-in frames from a reset and checks every step's output against the interpreter's
streaming program (exit 1 on a difference); `csim_step IN OUT` streams raw frames from a file.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.errors import EdgefmrError
from edgefmr.firmware.hls.emitters import CPP_TYPES
from edgefmr.firmware.hls.project import CXXFLAGS, ap_types_dir, bytes_array, file_mode_cpp
from edgefmr.ir import Graph, graph_hash
from edgefmr.ir.graph import np_dtype
from edgefmr.ir.streaming import frame_array, frame_inputs, initial_value, run_stream, state_pairs, step_outputs

#: States with at most this many elements are partitioned into registers; larger ones stay in block RAM.
REGISTER_STATE_ELEMENTS = 64
CSIM_STEP = "csim_step"


def step_top(g: Graph, top: str) -> tuple[str, str]:
    """(model.cpp addition, model.h declaration) of `{top}_step`."""
    pairs = state_pairs(g)
    state_of = {i: k for k, (i, _) in enumerate(pairs)}
    state_out = {o: k for k, (_, o) in enumerate(pairs)}
    frames, outs = frame_inputs(g), step_outputs(g)
    params = [f"hls::stream<{CPP_TYPES[g.tensor(n).dtype]}> &frame_{k}" for k, n in enumerate(frames)]
    params += [f"hls::stream<{CPP_TYPES[g.tensor(n).dtype]}> &out_{k}" for k, n in enumerate(outs)]
    params.append("bool reset")
    lines = [f"/* Streaming step top: one call is one step of the stream; the states live in static arrays (block "
             f"RAM, or registers up to {REGISTER_STATE_ELEMENTS} elements) between calls; `reset` first sets them "
             "to their initial values. */",
             f"void {top}_step({', '.join(params)}) {{"]
    lines += [f"#pragma HLS INTERFACE mode = axis port = frame_{k}" for k in range(len(frames))]
    lines += [f"#pragma HLS INTERFACE mode = axis port = out_{k}" for k in range(len(outs))]
    lines += ["#pragma HLS INTERFACE mode = s_axilite port = reset",
              "#pragma HLS INTERFACE mode = s_axilite port = return"]
    for k, (i, _) in enumerate(pairs):
        t = g.tensor(i)
        ct = CPP_TYPES[t.dtype]
        lines.append(f"    static {ct} state_{k}[{t.size}]; /* {i} */")
        if t.size <= REGISTER_STATE_ELEMENTS:
            lines.append(f"#pragma HLS ARRAY_PARTITION variable = state_{k} type = complete")
        else:
            lines.append(f"#pragma HLS BIND_STORAGE variable = state_{k} type = ram_2p impl = bram")
    lines.append("    if (reset) {")
    for k, (i, _) in enumerate(pairs):
        t = g.tensor(i)
        lines.append(f"        for (int e = 0; e < {t.size}; e++) {{\n#pragma HLS PIPELINE II = 1\n"
                     f"            state_{k}[e] = {initial_value(g, i)};\n        }}")
    lines.append("    }")
    for k, (i, _) in enumerate(pairs):
        t = g.tensor(i)
        ct = CPP_TYPES[t.dtype]
        lines += [f"    hls::stream<{ct}> state_in_{k}(\"state_in_{k}\");",
                  f"#pragma HLS STREAM variable = state_in_{k} depth = {max(t.size, 2)}",
                  f"    hls::stream<{ct}> state_out_{k}(\"state_out_{k}\");",
                  f"#pragma HLS STREAM variable = state_out_{k} depth = {max(t.size, 2)}",
                  f"    efm::mem_to_stream<{ct}, {t.size}>(state_{k}, state_in_{k});"]
    args = [f"frame_{frames.index(n)}" if n not in state_of else f"state_in_{state_of[n]}" for n in g.inputs]
    args += [f"out_{outs.index(n)}" if n not in state_out else f"state_out_{state_out[n]}" for n in g.outputs]
    lines.append(f"    {top}({', '.join(args)});")
    for k, (i, _) in enumerate(pairs):
        t = g.tensor(i)
        lines.append(f"    efm::stream_to_mem<{CPP_TYPES[t.dtype]}, {t.size}>(state_out_{k}, state_{k});")
    lines.append("}")
    decl = ("/* Streaming step top (docs/streaming.md): one call, one step; the states stay in the design. */\n"
            f"void {top}_step({', '.join(params)});")
    return "\n".join(lines) + "\n", decl


def _bytes(x: np.ndarray) -> bytes:
    return np.ascontiguousarray(x).astype(x.dtype.newbyteorder("<")).tobytes()


def testbench(g: Graph, top: str, frames: np.ndarray) -> str:
    """tb_step.cpp: the built-in frames streamed from a reset and checked step by step, or `csim_step IN OUT`."""
    fin, fout = frame_inputs(g), step_outputs(g)
    want, _ = run_stream(g, frames)
    t_in = [g.tensor(n) for n in fin]
    t_out = [g.tensor(n) for n in fout]
    fbytes = sum(t.nbytes for t in t_in)
    obytes = sum(t.nbytes for t in t_out)
    data_in = b"".join(_bytes(f.reshape(t_in[0].shape)) for f in frames)
    data_out = b"".join(_bytes(o) for step in want for o in step)

    push = []
    pos = 0
    for k, t in enumerate(t_in):
        ct = CPP_TYPES[t.dtype]
        push.append(f"    for (int e = 0; e < {t.size}; e++) {{ {ct} v; std::memcpy(&v, src + {pos} + e * sizeof(v), "
                    f"sizeof(v)); f{k}.write(v); }}")
        pos += t.nbytes
    pull = []
    pos = 0
    for k, t in enumerate(t_out):
        ct = CPP_TYPES[t.dtype]
        pull.append(f"    for (int e = 0; e < {t.size}; e++) {{ {ct} v = o{k}.read(); std::memcpy(dst + {pos} + e * "
                    f"sizeof(v), &v, sizeof(v)); }}")
        pos += t.nbytes
    decls = [f"    hls::stream<{CPP_TYPES[t.dtype]}> f{k}(\"f{k}\");" for k, t in enumerate(t_in)]
    decls += [f"    hls::stream<{CPP_TYPES[t.dtype]}> o{k}(\"o{k}\");" for k, t in enumerate(t_out)]
    args = ", ".join([f"f{k}" for k in range(len(t_in))] + [f"o{k}" for k in range(len(t_out))] + ["reset"])
    return f"""/* Generated by edgefmr: C testbench of {top}_step (streaming: one call per frame, state kept inside). */
#include <cstdio>
#include <cstring>
#include <vector>

#include "model.h"

#define EFM_STEP_COUNT {len(frames)}
{bytes_array("efm_step_frames", data_in)}
{bytes_array("efm_step_outputs", data_out)}
static const size_t frame_bytes = {fbytes};
static const size_t out_bytes = {obytes};

static void step(const unsigned char *src, unsigned char *dst, bool reset) {{
{chr(10).join(decls)}
{chr(10).join(push)}
    {top}_step({args});
{chr(10).join(pull)}
}}

int main(int argc, char **argv) {{
{file_mode_cpp("frame_bytes", "frames", "step(&data[r * frame_bytes], &out[r * out_bytes], r == 0);")}
    int bad = 0;
    std::vector<unsigned char> out(out_bytes + 1);
    for (int r = 0; r < EFM_STEP_COUNT; r++) {{
        step(efm_step_frames + r * frame_bytes, out.data(), r == 0);
        if (std::memcmp(out.data(), efm_step_outputs + r * out_bytes, out_bytes) != 0) {{
            std::printf("step %d: MISMATCH\\n", r);
            bad++;
        }}
    }}
    std::printf("csim_step: %d steps, %d mismatches\\n", EFM_STEP_COUNT, bad);
    return bad ? 1 : 0;
}}
"""


def add_step(out: Path, g: Graph, top: str, frames: np.ndarray) -> dict[str, Any]:
    """Add `{top}_step` to the project in `out` (model.cpp/model.h written by the dataflow build), its testbench
    (`frames` streamed from a reset), compile `csim_step` with g++ and check every step; the manifest's `streaming`
    entry."""
    code, decl = step_top(g, top)
    cpp = out / "model.cpp"
    cpp.write_text(cpp.read_text() + "\n" + code)
    h = out / "model.h"
    text = h.read_text()
    h.write_text(text.replace("\n#endif\n", f"\n{decl}\n\n#endif\n"))
    (out / "tb_step.cpp").write_text(testbench(g, top, frames))
    t0 = time.time()
    _compile(out)
    compile_s = time.time() - t0
    r = subprocess.run([str(out / CSIM_STEP)], cwd=out, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise EdgefmrError(f"{out}: streaming C simulation differs from the interpreter's streaming program:\n"
                           f"{(r.stdout + r.stderr)[-3000:]}")
    pairs = state_pairs(g)
    return {"top": f"{top}_step", "states": [{"input": i, "output": o, "elements": g.tensor(i).size,
                                              "bytes": g.tensor(i).nbytes,
                                              "storage": "registers" if g.tensor(i).size <= REGISTER_STATE_ELEMENTS
                                              else "bram"} for i, o in pairs],
            "state_bytes": sum(g.tensor(i).nbytes for i, _ in pairs),
            "csim": {"steps": len(frames), "bit_exact": True, "compile_s": round(compile_s, 2),
                     "report": r.stdout.strip().splitlines()[-1]}}


def _compile(out: Path) -> None:
    ap = ap_types_dir()
    cmd = ["g++", *CXXFLAGS, "-Ikernels", "-I.", *(["-DEFM_AP_TYPES", "-isystem", str(ap)] if ap else []),
           "model.cpp", "tb_step.cpp", "-o", CSIM_STEP]
    r = subprocess.run(cmd, cwd=out, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise EdgefmrError(f"{out}: streaming C simulation compile failed:\n{(r.stdout + r.stderr)[-3000:]}")


def run_stream_csim(artifact: str | Path, g: Graph, frames: np.ndarray) -> list[list[np.ndarray]]:
    """Stream `frames` from a reset through the compiled `csim_step` of a streaming HLS build; outputs per step."""
    out = Path(artifact)
    exe = out / CSIM_STEP
    if not exe.is_file():
        raise EdgefmrError(f"{out} has no {CSIM_STEP}: build the step program with `edgefmr build --streaming` for an "
                           f"FPGA board")
    import json

    man = out / "manifest.json"
    if man.is_file() and json.loads(man.read_text()).get("model_hash") not in (None, graph_hash(g)):
        raise EdgefmrError(f"{out} was built for another model; build it again")
    x = frame_array(g, frames)
    t_in = g.tensor(frame_inputs(g)[0])
    inp, res = out / "stream_in.bin", out / "stream_out.bin"
    inp.write_bytes(b"".join(_bytes(f.reshape(t_in.shape)) for f in x))
    r = subprocess.run([str(exe), str(inp), str(res)], cwd=out, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise EdgefmrError(f"{out}: streaming C simulation failed:\n{(r.stdout + r.stderr)[-3000:]}")
    raw = res.read_bytes()
    inp.unlink()
    res.unlink()
    outs, pos = [], 0
    for _ in range(len(x)):
        step = []
        for n in step_outputs(g):
            t = g.tensor(n)
            dt = np_dtype(t.dtype).newbyteorder("<")
            step.append(np.frombuffer(raw[pos:pos + t.nbytes], dt).astype(np_dtype(t.dtype)).reshape(t.shape))
            pos += t.nbytes
        outs.append(step)
    return outs
