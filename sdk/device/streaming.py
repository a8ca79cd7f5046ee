"""Streaming on the device (docs/streaming.md): a step program built with ``edgefmr build --streaming`` keeps its
state on the board; the host resets it and sends frames, one step each, over the framed protocol (STREAM_RESET,
STREAM_STEP), or runs a stream in a semihosting image on QEMU with exact per-step instruction counts.

* :class:`Stream` - reset, step one frame, step a batch of frames (outputs and counts per step) on a `Device`.
* :func:`run_stream_on_board` - the board path of ``edgefmr run --stream`` / ``edgefmr profile --stream``.
* :func:`stream_semihost` - a stream on a QEMU board in a semihosting image (bit-exactness per step against the
  interpreter's streaming program, per-step instructions, persistent-state bytes predicted and in the ELF).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgefmr.device.connection import Device, artifact_manifest, board_session, target_graph
from edgefmr.device.protocol import (
    Cmd,
    Counter,
    StreamInfo,
    StreamSteps,
    pack_stream_step,
    stream_steps_per_request,
)
from edgefmr.device.semihost import run_semihost
from edgefmr.errors import EdgefmrError
from edgefmr.firmware.build import build
from edgefmr.ir import Graph
from edgefmr.ir.graph import np_dtype
from edgefmr.ir.streaming import frame_array, io_view, is_streaming, run_stream

#: QEMU -icount shift of stream_semihost: 2^7 ns per instruction, more than two SysTick ticks per instruction at the
#: boards' clocks, so per-step counts are exact executed-instruction counts.
STREAM_ICOUNT_SHIFT = 7


class Stream:
    """The streaming commands on a protocol session `dev` (firmware built with --streaming)."""

    def __init__(self, dev: Device) -> None:
        self.dev = dev
        self.info: StreamInfo | None = None

    def reset(self) -> StreamInfo:
        """Every state to its initial value; the sizes of the state, a frame and a step's output."""
        self.info = StreamInfo.unpack(self.dev._req(Cmd.STREAM_RESET))
        return self.info

    def steps(self, frames: list[bytes]) -> StreamSteps:
        """Run the frames as consecutive steps (batched into as few STREAM_STEP requests as fit a frame); the
        count and the output of every step."""
        info = self.info or self.reset()
        for k, f in enumerate(frames):
            if len(f) != info.frame_bytes:
                raise EdgefmrError(f"frame {k} has {len(f)} bytes; the firmware's frame has {info.frame_bytes}")
        per = stream_steps_per_request(info, min(self.dev.info().max_payload, self.dev._max_chunk() + 8))
        counts: list[int] = []
        outs: list[bytes] = []
        counter = Counter.NONE
        for k in range(0, len(frames), per):
            batch = frames[k:k + per]
            r = StreamSteps.unpack(self.dev._req(Cmd.STREAM_STEP, pack_stream_step(batch),
                                                 timeout=self.dev.run_timeout,
                                                 expect=3 + len(batch) * (4 + info.output_bytes)),
                                   info.output_bytes)
            if len(r.counts) != len(batch):
                raise EdgefmrError(f"STREAM_STEP answered {len(r.counts)} steps for {len(batch)} frames")
            counter = r.counter
            counts += r.counts
            outs += r.outputs
        return StreamSteps(counter, tuple(counts), tuple(outs))

    def step(self, frame: bytes) -> tuple[bytes, int]:
        """One step: (the step's output, its count)."""
        r = self.steps([frame])
        return r.outputs[0], r.counts[0]


@dataclass
class StreamRun:
    """A stream on a board or QEMU: outputs[step][output] in the graph's dtype and shape, counts per step."""

    board: str
    outputs: list[list[np.ndarray]]
    counts: list[float]
    counter: Counter
    quantum: int
    state_bytes: int
    link: dict[str, int] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        """Per-step count statistics: mean, min, max, max/min."""
        c = np.asarray(self.counts, np.float64)
        if not len(c):
            return {"steps": 0}
        return {"steps": len(c), "mean": float(c.mean()), "min": float(c.min()), "max": float(c.max()),
                "max_over_min": float(c.max() / c.min()) if c.min() > 0 else None}


def _split(view: Graph, raw: bytes) -> list[np.ndarray]:
    out, pos = [], 0
    for n in view.outputs:
        t = view.tensor(n)
        out.append(np.frombuffer(raw[pos:pos + t.nbytes], np_dtype(t.dtype)).reshape(t.shape).copy())
        pos += t.nbytes
    return out


def run_stream_on_board(artifact: str | Path, board: str | None, frames: np.ndarray, *, port: str | None = None,
                        graph: Graph | None = None, timeout: float = 2.0, retries: int = 8) -> StreamRun:
    """Reset the stream and run `frames` ([steps, *frame shape], the frame's integer dtype) as consecutive steps on
    the artifact's protocol firmware (a QEMU board started here, or a real board on `port`)."""
    art, manifest = artifact_manifest(artifact, board)
    if "streaming" not in manifest:
        raise EdgefmrError(f"{art} is not a streaming build; build the step program with `edgefmr build --streaming`")
    g = graph if graph is not None else target_graph(art)
    if not is_streaming(g):
        raise EdgefmrError(f"{art}: its model has no marked states; it is not the step program the firmware runs")
    view = io_view(g)
    x = frame_array(g, frames)
    with board_session(art, manifest, port, timeout=timeout, retries=retries) as dev:
        info = dev.info()
        want = manifest.get("model_hash")
        if want and info.model_hash != want:
            raise EdgefmrError(f"board {manifest['board']} runs model {info.model_hash[:16]}, the artifact is "
                               f"{str(want)[:16]}: flash the artifact first")
        s = Stream(dev)
        si = s.reset()
        r = s.steps([np.ascontiguousarray(f).tobytes() for f in x])
        return StreamRun(str(manifest["board"]), [_split(view, o) for o in r.outputs], [float(c) for c in r.counts],
                         r.counter, info.counter_quantum, si.state_bytes, dev.stats)


def stream_semihost(g: Graph, board: str, frames: np.ndarray, out_dir: str | Path, *, optimized: bool = True,
                    tricks: bool = True) -> dict[str, Any]:
    """Stream `frames` through step program `g` in a semihosting image on QEMU board `board` (exact per-step
    instruction counts, -icount shift STREAM_ICOUNT_SHIFT) and check every step bit for bit against the
    interpreter's streaming program (edgefmr.ir.streaming.run_stream). Keys: board, steps, instructions (per
    step), bit_exact, first_mismatch (step or None), state_bytes_predicted (planner), state_bytes_elf (the efm_state
    symbol), arena_bytes, kernels, counter, clock_hz, outputs."""
    x = frame_array(g, frames)
    t_in = g.tensor(io_view(g).inputs[0])
    records = [[f.reshape(t_in.shape)] for f in x]
    m = build(g, board, out_dir, tricks=tricks, test_inputs=records, optimized=optimized, streaming=True)
    view = io_view(g)
    res = run_semihost(out_dir, view, timeout=600.0, icount_shift=STREAM_ICOUNT_SHIFT)
    ref, _ = run_stream(g, x)
    bad = [k for k, (a, b) in enumerate(zip(res.outputs, ref, strict=True))
           if not all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))]
    return {"board": m["board"], "steps": len(records), "instructions": res.instructions(), "bit_exact": not bad,
            "first_mismatch": bad[0] if bad else None,
            "state_bytes_predicted": m["streaming"]["state_bytes"],
            "state_bytes_elf": m["measured"].get("state_symbol", 0),
            "arena_bytes": m["predicted"]["arena_total"], "kernels": sorted(m["arm_kernels"]),
            "counter": res.counter, "clock_hz": res.clock_hz, "outputs": res.outputs,
            "stack_high_water": res.stack_used}
