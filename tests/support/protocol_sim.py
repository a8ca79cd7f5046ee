"""A simulated device that speaks the framed protocol (docs/protocol.md) over an in-memory or pty link: the
peer of the host protocol tests and of the flash tests' simulated board."""

from __future__ import annotations

import struct
import threading
import time

import numpy as np

from edgefmr.device.protocol import (
    ACCEPTED,
    ALL_LAYERS,
    MAX_PAYLOAD,
    NAK,
    RESPONSE_BIT,
    RUN_PROFILE,
    STACK_REPAINT,
    VERSION,
    BadFrame,
    Cmd,
    Counter,
    Frame,
    FrameDecoder,
    Info,
    LayerInfo,
    NakReason,
    ProfilePage,
    RunResult,
    StackInfo,
    Status,
    encode_frame,
)
from edgefmr.device.transport import PipeEnd


class SimDevice:
    """A Python model of firmware/c/runtime/protocol.c (same states, checks and error codes).

    Model: input of `nin` bytes; layer 0 = x+1, layer 1 = 2x, layer 2 is fused (no stored output), layer 3 =
    reversed layer 1 and overwrites the input; output = layer 3. Per-layer counts are fixed per layer.
    """

    COUNTS = (1000, 2500, 700, 333)

    def __init__(self, end: PipeEnd, nin: int = 300, version: int = VERSION) -> None:
        self.end, self.nin, self.version = end, nin, version
        self.dec = FrameDecoder()
        self.input = bytearray(nin)
        self.layers = [bytearray(nin), bytearray(nin), bytearray(), bytearray(nin)]
        self.outputs_valid = False
        self.tensor_layer = -1
        self.prof_runs = 0
        self.prof = [0] * 4
        self.stack_used = 512
        self.executed: list[int] = []
        self.last: tuple[int, int, bytes] | None = None
        self.last_resp = b""
        self.sent_naks = 0
        self.hold_responses = 0  # delay the next N responses by `hold_s`
        self.hold_s = 0.0
        self.run_s = 0.0         # how long a RUN takes (the device reads nothing meanwhile)
        self.accepted = True     # send ACCEPTED before a RUN executes, as the firmware does
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.end.read(4096, 0.01)
            except OSError:  # the link was closed under the device (a test's teardown): nothing more to serve
                return
            evs = self.dec.feed(data) if data else (self.dec.give_up_partial() if self.dec.pending() else [])
            for ev in evs:
                self._handle(ev)

    def _send(self, frame: bytes) -> None:
        if self.hold_responses:
            self.hold_responses -= 1
            time.sleep(self.hold_s)
        self.end.write(frame)

    def _handle(self, ev: Frame | BadFrame) -> None:
        if isinstance(ev, BadFrame):
            if not ev.type & RESPONSE_BIT:
                self.sent_naks += 1
                self._send(encode_frame(NAK, ev.seq, bytes((NakReason.CRC,)), self.version))
            return
        if ev.type & RESPONSE_BIT:
            return
        if ev.version != self.version:
            self._send(encode_frame(NAK, ev.seq, bytes((NakReason.VERSION, self.version)), self.version))
            return
        key = (ev.seq, ev.type, ev.payload)
        if key == self.last:
            self._send(self.last_resp)
            return
        self.executed.append(ev.type)
        if ev.type == Cmd.RUN:
            if self.accepted:
                self.end.write(encode_frame(ACCEPTED, ev.seq, b"", self.version))
            time.sleep(self.run_s)
        status, data = self._execute(ev.type, ev.payload)
        self.last = key
        self.last_resp = encode_frame(ev.type | RESPONSE_BIT, ev.seq, bytes((status,)) + data, self.version)
        self._send(self.last_resp)

    def _layer_bytes(self, i: int) -> int:
        return len(self.layers[i])

    def _execute(self, t: int, p: bytes) -> tuple[int, bytes]:  # noqa: C901 - one branch per command
        n = len(p)
        if t == Cmd.INFO:
            if n:
                return Status.BAD_LENGTH, b""
            return Status.OK, Info(VERSION, Counter.QEMU_INSTRUCTIONS, 1, MAX_PAYLOAD, 168_000_000, 4096, 8192, 4,
                                   (self.nin,), (self.nin,), "sim-board", "sim-1", "ab" * 32).pack()
        if t == Cmd.PING:
            return (Status.TOO_LARGE, b"") if n > MAX_PAYLOAD - 1 else (Status.OK, p)
        if t == Cmd.LAYER_INFO:
            if n != 2:
                return Status.BAD_LENGTH, b""
            (li,) = struct.unpack("<H", p)
            if li >= 4:
                return Status.BAD_INDEX, b""
            return Status.OK, LayerInfo(li, f"layer{li}", ["ADD", "MUL", "FUSED", "REVERSE"][li],
                                        self._layer_bytes(li)).pack()
        if t == Cmd.LOAD_INPUT:
            if n < 5:
                return Status.BAD_LENGTH, b""
            idx, off = struct.unpack_from("<BI", p)
            data = p[5:]
            if idx != 0:
                return Status.BAD_INDEX, b""
            if off + len(data) > self.nin:
                return Status.BAD_RANGE, b""
            self.input[off:off + len(data)] = data
            self.outputs_valid, self.tensor_layer = False, -1
            return Status.OK, b""
        if t == Cmd.RUN:
            if n != 7:
                return Status.BAD_LENGTH, b""
            runs, flags, last = struct.unpack("<IBH", p)
            if runs == 0:
                return Status.BAD_ARG, b""
            if last != ALL_LAYERS and last >= 4:
                return Status.BAD_INDEX, b""
            if last != ALL_LAYERS and runs != 1:
                return Status.BAD_ARG, b""
            stop = 3 if last == ALL_LAYERS else last
            before = bytes(self.input)
            if flags & RUN_PROFILE:
                self.prof_runs, self.prof = 0, [0] * 4
            totals = []
            for _ in range(runs):
                x = np.frombuffer(bytes(self.input), np.int8)
                outs = [(x + 1).astype(np.int8), (x * 2).astype(np.int8), None, (x * 2).astype(np.int8)[::-1]]
                for li in range(stop + 1):
                    if outs[li] is not None:
                        self.layers[li][:] = outs[li].tobytes()
                    if flags & RUN_PROFILE:
                        self.prof[li] += self.COUNTS[li]
                if stop == 3:
                    self.input[:] = self.layers[3]  # the plan reuses the input's memory for the output
                totals.append(sum(self.COUNTS[:stop + 1]))
            if flags & RUN_PROFILE:
                self.prof_runs = runs
            self.outputs_valid = stop == 3
            self.tensor_layer = stop
            return Status.OK, RunResult(runs, Counter.QEMU_INSTRUCTIONS, sum(totals), min(totals), max(totals),
                                        bytes(self.input) == before).pack()
        if t == Cmd.PROFILE:
            if n != 4:
                return Status.BAD_LENGTH, b""
            first, cnt = struct.unpack("<HH", p)
            if first >= 4:
                return Status.BAD_INDEX, b""
            cnt = min(cnt, 4 - first)
            return Status.OK, ProfilePage(self.prof_runs, Counter.QEMU_INSTRUCTIONS, first,
                                          tuple(self.prof[first:first + cnt])).pack()
        if t == Cmd.STACK:
            if n != 1:
                return Status.BAD_LENGTH, b""
            out = StackInfo(8192, self.stack_used).pack()
            if p[0] & STACK_REPAINT:
                self.stack_used = 128
            return Status.OK, out
        if t in (Cmd.READ_OUTPUT, Cmd.READ_TENSOR):
            if n != (7 if t == Cmd.READ_OUTPUT else 8):
                return Status.BAD_LENGTH, b""
            if t == Cmd.READ_OUTPUT:
                idx, off, ln = struct.unpack("<BIH", p)
                if idx != 0:
                    return Status.BAD_INDEX, b""
                src, ok = self.layers[3], self.outputs_valid
            else:
                idx, off, ln = struct.unpack("<HIH", p)
                if idx >= 4:
                    return Status.BAD_INDEX, b""
                if not self.layers[idx]:
                    return Status.UNAVAILABLE, b""
                src, ok = self.layers[idx], self.tensor_layer == idx
            if ln > MAX_PAYLOAD - 1:
                return Status.TOO_LARGE, b""
            if off + ln > len(src):
                return Status.BAD_RANGE, b""
            if not ok:
                return Status.BAD_STATE, b""
            return Status.OK, bytes(src[off:off + ln])
        return Status.UNKNOWN_COMMAND, b""
