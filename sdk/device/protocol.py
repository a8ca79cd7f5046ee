"""The edgefmr device protocol, host side: frames with CRCs, a resynchronizing decoder, a request/response link
with sequence numbers, timeouts and bounded retries, and the typed payloads of every command.

The normative description is docs/protocol.md; the firmware side is firmware/c/runtime/protocol.c.
"""

from __future__ import annotations

import random
import struct
import time
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

from edgefmr.device.transport import Transport
from edgefmr.errors import EdgefmrError

SOF = 0xA5
VERSION = 1
HEADER_BYTES = 7          # SOF, VER, TYPE, SEQ, LEN lo, LEN hi, HCRC
TRAILER_BYTES = 4         # CRC-32 of VER..payload end
OVERHEAD = HEADER_BYTES + TRAILER_BYTES
MAX_PAYLOAD = 1024
RESPONSE_BIT = 0x80
#: VER is below this in every protocol version: SOF followed by a byte ≥ 0x20 (text) is a stray SOF, not a frame
VERSION_LIMIT = 0x20


class Cmd(IntEnum):
    """Request types (a response has the same type with bit 7 set)."""

    INFO = 0x01
    PING = 0x02
    LAYER_INFO = 0x03
    LOAD_INPUT = 0x10
    RUN = 0x11
    PROFILE = 0x12
    STACK = 0x13
    READ_OUTPUT = 0x20
    READ_TENSOR = 0x21
    STREAM_RESET = 0x30     # streaming builds (docs/streaming.md): state to its initial value
    STREAM_STEP = 0x31      # streaming builds: a batch of frames, one step each


NAK = 0xFF  # device → host: a frame whose header was valid failed its CRC (or had another protocol version)
ACCEPTED = 0xFE  # device → host: a long request (RUN) arrived and is executing; its answer follows when done


class NakReason(IntEnum):
    CRC = 1
    VERSION = 2
    HEADER = 3   # a request header failed its CRC-8 (its SEQ is unknown: the NAK carries 0)


class Status(IntEnum):
    """First payload byte of every response."""

    OK = 0
    UNKNOWN_COMMAND = 1
    BAD_LENGTH = 2
    BAD_INDEX = 3
    BAD_RANGE = 4
    BAD_STATE = 5
    TOO_LARGE = 6
    BAD_ARG = 7
    UNAVAILABLE = 8


STATUS_TEXT = {
    Status.UNKNOWN_COMMAND: "the firmware does not know this command",
    Status.BAD_LENGTH: "request payload has the wrong length",
    Status.BAD_INDEX: "input, output or layer index out of range",
    Status.BAD_RANGE: "offset + length beyond the tensor",
    Status.BAD_STATE: "nothing valid to read: run the model (to this layer) after the last load",
    Status.TOO_LARGE: "requested length exceeds the maximum payload",
    Status.BAD_ARG: "invalid argument",
    Status.UNAVAILABLE: "this layer's output is never stored whole (fused by the planner)",
}


class Counter(IntEnum):
    """What the device's per-inference and per-layer counts measure."""

    NONE = 0
    DWT_CYCLES = 1          # DWT CYCCNT, core clock cycles (real Cortex-M3/M4/M7)
    QEMU_INSTRUCTIONS = 2   # SysTick under QEMU -icount shift=0: executed instructions
    SYSTICK_CYCLES = 3      # SysTick on the processor clock (real core without a usable DWT)

    @property
    def unit(self) -> str:
        return {0: "none", 1: "cycles", 2: "instructions", 3: "cycles"}[int(self)]

    @property
    def label(self) -> str:
        return {0: "no counter", 1: "core cycles (DWT CYCCNT)",
                2: "executed instructions (QEMU -icount, not cycles)",
                3: "core cycles (SysTick)"}[int(self)]


class LinkError(EdgefmrError):
    """The link gave no valid answer within the retries and timeouts."""


class DeviceError(EdgefmrError):
    """The device answered with an error status."""

    def __init__(self, cmd: int, status: int, detail: str = "") -> None:
        self.cmd, self.status = cmd, status
        try:
            name, text = Status(status).name, STATUS_TEXT.get(Status(status), "")
        except ValueError:
            name, text = f"status {status}", "unknown status code"
        what = _cmd_name(cmd)
        super().__init__(f"device rejected {what}{' ' + detail if detail else ''}: {name} ({text})")


def _cmd_name(t: int) -> str:
    try:
        return Cmd(t & ~RESPONSE_BIT).name
    except ValueError:
        return f"type 0x{t:02X}"


# ------------------------------------------------------------------------------------------------ CRCs

def _crc8_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = ((c << 1) ^ 0x07) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        table.append(c)
    return table


_CRC8 = _crc8_table()


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS: poly 0x07, init 0x00, no reflection, xorout 0 (check "123456789" → 0xF4)."""
    c = 0
    for b in data:
        c = _CRC8[c ^ b]
    return c


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC (zlib, Ethernet): reflected poly 0xEDB88320, init and xorout 0xFFFFFFFF (check 0xCBF43926)."""
    return zlib.crc32(data) & 0xFFFFFFFF


# ------------------------------------------------------------------------------------------------ frames

@dataclass(frozen=True)
class Frame:
    """A frame whose CRCs checked."""

    type: int
    seq: int
    payload: bytes
    version: int = VERSION


@dataclass(frozen=True)
class BadFrame:
    """A frame whose header checked but whose CRC-32 did not (its type and seq are probably right)."""

    type: int
    seq: int


def encode_frame(ftype: int, seq: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    """The bytes of one frame."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    hdr = bytes((version, ftype & 0xFF, seq & 0xFF, len(payload) & 0xFF, len(payload) >> 8))
    body = hdr + bytes((crc8(hdr),)) + payload
    return bytes((SOF,)) + body + struct.pack("<I", crc32(body))


class FrameDecoder:
    """Incremental frame parser with resynchronization.

    Bytes before a SOF are garbage; so is a SOF followed by a byte ≥ VERSION_LIMIT (a stray SOF before text). A
    header is valid when its CRC-8 checks and LEN ≤ MAX_PAYLOAD; otherwise
    the SOF is dropped and scanning restarts at the next byte. A complete frame whose CRC-32 fails yields a
    `BadFrame` and scanning restarts at the byte after its SOF, so a good frame hidden behind a damaged one
    is still found.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.buf = bytearray()
        self.max_payload = max_payload
        self.garbage = 0       # bytes skipped while looking for a frame
        self.bad_headers = 0
        self.bad_crcs = 0

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        self.buf += data
        return self._scan()

    def _scan(self) -> list[Frame | BadFrame]:
        out: list[Frame | BadFrame] = []
        buf = self.buf
        while True:
            i = buf.find(SOF)
            if i < 0:
                self.garbage += len(buf)
                buf.clear()
                break
            if i:
                self.garbage += i
                del buf[:i]
            if len(buf) >= 2 and buf[1] >= VERSION_LIMIT:
                self.garbage += 1   # a stray SOF before text: not a frame start
                del buf[:1]
                continue
            if len(buf) < HEADER_BYTES:
                break
            n = buf[4] | (buf[5] << 8)
            if crc8(bytes(buf[1:6])) != buf[6] or n > self.max_payload:
                self.bad_headers += 1
                self.garbage += 1
                del buf[:1]
                continue
            need = HEADER_BYTES + n + TRAILER_BYTES
            if len(buf) < need:
                break
            body = bytes(buf[1:HEADER_BYTES + n])
            if struct.unpack_from("<I", buf, HEADER_BYTES + n)[0] == crc32(body):
                out.append(Frame(type=buf[2], seq=buf[3], payload=bytes(buf[HEADER_BYTES:HEADER_BYTES + n]),
                                 version=buf[1]))
                del buf[:need]
            else:
                self.bad_crcs += 1
                out.append(BadFrame(type=buf[2], seq=buf[3]))
                self.garbage += 1
                del buf[:1]
        return out

    def pending(self) -> bool:
        """True while a frame has started (SOF seen) but is not complete."""
        return bool(self.buf)

    def give_up_partial(self) -> list[Frame | BadFrame]:
        """After a silence: drop the SOF of the incomplete frame at the head and rescan what follows it."""
        out: list[Frame | BadFrame] = []
        while self.buf:
            self.garbage += 1
            del self.buf[:1]
            out += self._scan()
        return out


# ------------------------------------------------------------------------------------------------ link

@dataclass
class LinkStats:
    """Counters of one link session (reported by `edgefmr profile`)."""

    requests: int = 0
    frames_sent: int = 0
    retries: int = 0
    timeouts: int = 0
    naks: int = 0
    bad_crc: int = 0
    bad_headers: int = 0
    stale_frames: int = 0
    gaps: int = 0              # resends after a damaged answer went quiet (before the timeout)
    garbage_bytes: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Link:
    """Request/response over a transport: one outstanding request, retried on timeout, NAK or damaged answer.

    Each new request takes the next sequence number; a retry resends the identical frame (same seq), which the
    device recognizes and answers from its cache without executing the command again. `timeout` is the wait for
    a response to begin; long commands pass their own. After `retries` resends, `LinkError` — unless the device
    answered this request (a NAK or a damaged response with its seq): a live but noisy line then gets up to
    `noisy_retries` resends, since a long frame arrives intact only rarely at high byte error rates.

    Adaptive timeouts: until an exchange has been timed, the wait is `initial_timeout` (at most `timeout`); then the
    wait for a response is 3 × the smoothed round trip
    plus 4 × its mean deviation (Jacobson's estimator; only first-attempt exchanges are sampled, as in Karn's
    algorithm), at least `min_timeout` and at most `timeout`, plus twice the wire time at the line's baud rate. A lost
    or damaged frame is then resent after a few round trips instead of a fixed second. While not a byte has come
    back since the request was sent, each attempt doubles the wait (up to `timeout`); attempts with short waits do
    not use up `retries` before (retries + 1) × `timeout` have passed, so a stalled or dead line gets the same
    patience as with fixed timeouts before `LinkError`.
    """

    transport: Transport
    timeout: float = 1.0
    retries: int = 8
    min_timeout: float = 0.03
    initial_timeout: float = 0.25
    min_gap: float = 0.005
    adaptive: bool = True
    noisy_retries: int = 119
    max_payload: int = MAX_PAYLOAD
    stats: LinkStats = field(default_factory=LinkStats)
    seq: int = field(default_factory=lambda: random.randrange(256))

    def __post_init__(self) -> None:
        self.decoder = FrameDecoder(self.max_payload)
        self.last_attempts = 0
        self._evidence = False                     # the device answered the current request (damaged or NAK)
        self._unaccepted = False                   # the last wait of a long request ended before ACCEPTED
        self._events: list[Frame | BadFrame] = []   # decoded but not yet looked at
        self.srtt: float | None = None             # smoothed round trip of a clean exchange, wire time excluded
        self._last_rx = time.monotonic()           # when the device was last heard (any byte)
        self.rttvar = 0.0

    def response_timeout(self) -> float:
        """The wait for a response to begin, before the wire time: adaptive once exchanges have been timed."""
        if not self.adaptive:
            return self.timeout
        if self.srtt is None:
            return min(self.timeout, self.initial_timeout)
        return min(self.timeout, max(self.min_timeout, 3 * self.srtt + 4 * self.rttvar))

    def _sample_rtt(self, seconds: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = seconds, seconds / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - seconds)
            self.srtt = 0.875 * self.srtt + 0.125 * seconds

    def _wire_time(self, nbytes: int) -> float:
        return 0.0 if not self.transport.baud else nbytes * 11.0 / self.transport.baud

    def request(self, cmd: int, payload: bytes = b"", timeout: float | None = None,
                expect_bytes: int = 0) -> bytes:
        """Send `cmd` and return the response payload after its status byte (DeviceError on a bad status)."""
        self.seq = (self.seq + 1) & 0xFF
        seq = self.seq
        frame = encode_frame(cmd, seq, payload)
        wire1 = self._wire_time(len(frame) + OVERHEAD + expect_bytes)
        wire = wire1 * 2
        base = self.response_timeout()
        wait = (base if timeout is None else timeout) + wire
        idle = base + wire
        self.stats.requests += 1
        start = time.monotonic()
        self._evidence = False
        limit, attempt = self.retries + 1, -1
        while True:
            attempt += 1
            if attempt == limit:
                now = time.monotonic()
                if base < self.timeout and now - start < (self.retries + 1) * self.timeout:
                    limit += 1   # short adaptive waits: keep the patience of `retries` full timeouts
                elif not self._evidence or limit >= self.noisy_retries + 1:
                    break
                else:
                    limit = self.noisy_retries + 1   # the device answers, damaged: a noisy link, not a dead one
            self.last_attempts = attempt + 1
            if attempt:
                self.stats.retries += 1
            self.transport.write(frame)
            self.stats.frames_sent += 1
            self.stats.bytes_sent += len(frame)
            timeouts = self.stats.timeouts
            resp = self._await(cmd, seq, wait, idle if idle < wait else None)
            if resp is None and self.stats.timeouts > timeouts and base < self.timeout and self._last_rx < start:
                # not a byte since the request was sent: back off (doubling up to `timeout`), the device may be
                # stalled; a device heard meanwhile is alive on a lossy line, and keeps the short wait
                base = min(self.timeout, 2 * base)
                wait = (base if timeout is None else timeout) + wire
                idle = base + wire
            if resp is None and self._unaccepted and time.monotonic() - start < wait:
                limit += 1   # a long request not (yet) accepted: maybe running; resending is free until `wait`
            if resp is not None:
                if attempt == 0 and timeout is None:
                    self._sample_rtt(max(0.0, time.monotonic() - start - wire1))
                self._sync_decoder_stats()
                if resp.version != VERSION:
                    raise LinkError(f"device speaks protocol version {resp.version}; this host speaks {VERSION}")
                if not resp.payload:
                    raise LinkError(f"device sent an empty {_cmd_name(cmd)} response (no status byte)")
                if resp.payload[0] != Status.OK:
                    raise DeviceError(cmd, resp.payload[0])
                return resp.payload[1:]
        self._sync_decoder_stats()
        total = time.monotonic() - start
        noisy = " (the device answered, but every answer was damaged: a very noisy line)" if self._evidence else ""
        raise LinkError(f"no valid response to {_cmd_name(cmd)} from {self.transport.name} after "
                        f"{attempt} attempts ({wait:.2f} s timeout each, {total:.1f} s in all){noisy}: "
                        f"check the port, that the board runs edgefmr protocol firmware, and the cable")

    def _await(self, cmd: int, seq: int, wait: float, idle: float | None = None) -> Frame | None:
        """The matching response, or None to resend (timeout, NAK, damaged response).

        Short requests (`idle` None) wait `wait`. A long request (a RUN) waits `idle` for the device's ACCEPTED
        frame (or its answer), then up to `wait` for the answer; once the answer has begun, a silence of `idle`
        ends the wait (an answer whose header was damaged is resent from the device's cache at once). Bytes that
        arrive before ACCEPTED extend the first wait by `idle` (they may be the answer)."""
        start = time.monotonic()
        deadline = start + (wait if idle is None else idle)
        accepted = False
        self._unaccepted = False
        damaged_at = None   # when damaged bytes (not a frame) last arrived (short requests; long ones once accepted)
        gap = max(self._wire_time(8), self.min_gap, 0.5 * (self.srtt or 0.0))
        while True:
            now = time.monotonic()
            if damaged_at is not None and now - damaged_at >= gap:
                # a damaged answer then silence (a few byte times): nothing more is coming, resend at once
                self.stats.gaps += 1
                return self._give_up(cmd, seq)
            left = deadline - now
            if left <= 0:
                self.stats.timeouts += 1
                self._unaccepted = idle is not None and not accepted
                return self._give_up(cmd, seq)
            if not self._events:
                data = self.transport.read(4096, left if damaged_at is None else min(left, gap))
                if not data:
                    continue
                self.stats.bytes_received += len(data)
                self._last_rx = time.monotonic()
                garbage = self.decoder.garbage
                self._events = self.decoder.feed(data)
                if idle is None or accepted:   # (a long request: once it runs, its answer is all that comes)
                    now = time.monotonic()
                    if self.decoder.garbage > garbage:
                        damaged_at = now   # bytes that are no frame: a damaged header or SOF
                    elif self.decoder.pending() and idle is None:
                        damaged_at = None
                        deadline = max(deadline, now + wait)   # an answer is arriving: only a silence ends it
                if idle is not None:
                    now = time.monotonic()
                    deadline = (min(start + wait, now + idle) if accepted
                                else max(deadline, min(start + wait, now + idle)))
            while self._events:
                r = self._classify(self._events.pop(0), cmd, seq)
                if isinstance(r, Frame):
                    return r
                if r == "resend":
                    return None
                if r == "accepted" and idle is not None:
                    accepted = True
                    deadline = start + wait

    def _give_up(self, cmd: int, seq: int) -> Frame | None:
        """Stop waiting: the partial frame is dropped; the answer if one of the events left is it, else None."""
        self._events += self.decoder.give_up_partial()
        while self._events:
            r = self._classify(self._events.pop(0), cmd, seq)
            if isinstance(r, Frame):
                return r
        return None

    def _classify(self, ev: Frame | BadFrame, cmd: int, seq: int) -> Frame | str:
        if isinstance(ev, BadFrame):
            self.stats.bad_crc += 1
            # a damaged copy of our answer (or a NAK of our request): resend now, the device answers from its cache
            if (ev.seq == seq and ev.type in (cmd | RESPONSE_BIT, NAK)) or (ev.type == NAK and ev.seq == 0):
                self._evidence = True   # (SEQ 0: a damaged header NAK, whose SEQ says nothing)
                return "resend"
            return "ignore"
        if ev.type == NAK and ev.payload[:1] == bytes((NakReason.HEADER,)):
            self.stats.naks += 1   # our request's header was damaged (the device cannot know its SEQ): resend
            self._evidence = True
            return "resend"
        if ev.seq != seq:
            self.stats.stale_frames += 1
            return "ignore"
        if ev.type == ACCEPTED:
            self._evidence = True
            return "accepted"
        if ev.type == NAK:
            self.stats.naks += 1
            if ev.payload[:1] == bytes((NakReason.VERSION,)):
                raise LinkError(f"device rejected protocol version {VERSION} "
                                f"(it speaks {ev.payload[1] if len(ev.payload) > 1 else '?'})")
            self._evidence = True
            return "resend"
        if ev.type != cmd | RESPONSE_BIT:
            self.stats.stale_frames += 1
            return "ignore"
        return ev

    def _sync_decoder_stats(self) -> None:
        self.stats.garbage_bytes = self.decoder.garbage
        self.stats.bad_headers = self.decoder.bad_headers


# ------------------------------------------------------------------------------------------------ payloads

def _take_str(p: bytes, off: int) -> tuple[str, int]:
    n = p[off]
    return p[off + 1:off + 1 + n].decode("ascii", "replace"), off + 1 + n


def pack_str(s: str) -> bytes:
    b = s.encode("ascii")[:255]
    return bytes((len(b),)) + b


@dataclass(frozen=True)
class Info:
    """INFO response: what the firmware is, runs and reserves."""

    protocol_version: int
    counter: Counter
    counter_quantum: int      # resolution of counts in counter units (1 = exact)
    max_payload: int
    core_clock_hz: int
    arena_bytes: int
    stack_bytes: int
    num_layers: int
    input_bytes: tuple[int, ...]
    output_bytes: tuple[int, ...]
    board: str
    firmware_version: str
    model_hash: str

    _FIXED = struct.Struct("<BBHHIIIHBB")

    def pack(self) -> bytes:
        return (self._FIXED.pack(self.protocol_version, int(self.counter), self.counter_quantum, self.max_payload,
                                 self.core_clock_hz,
                                 self.arena_bytes, self.stack_bytes, self.num_layers, len(self.input_bytes),
                                 len(self.output_bytes))
                + b"".join(struct.pack("<I", n) for n in self.input_bytes + self.output_bytes)
                + pack_str(self.board) + pack_str(self.firmware_version) + pack_str(self.model_hash))

    @classmethod
    def unpack(cls, p: bytes) -> Info:
        try:
            v, ck, q, mp, clk, arena, stack, nl, ni, no = cls._FIXED.unpack_from(p)
            off = cls._FIXED.size
            sizes = struct.unpack_from(f"<{ni + no}I", p, off)
            off += 4 * (ni + no)
            board, off = _take_str(p, off)
            fw, off = _take_str(p, off)
            mh, off = _take_str(p, off)
        except (struct.error, IndexError):
            raise LinkError(f"malformed INFO response ({len(p)} bytes)") from None
        try:
            counter = Counter(ck)
        except ValueError:
            raise LinkError(f"INFO: unknown counter kind {ck}") from None
        return cls(v, counter, q, mp, clk, arena, stack, nl, tuple(sizes[:ni]), tuple(sizes[ni:]), board, fw, mh)


@dataclass(frozen=True)
class LayerInfo:
    index: int
    name: str
    op: str
    output_bytes: int

    def pack(self) -> bytes:
        return struct.pack("<I", self.output_bytes) + pack_str(self.name) + pack_str(self.op)

    @classmethod
    def unpack(cls, index: int, p: bytes) -> LayerInfo:
        try:
            (nb,) = struct.unpack_from("<I", p)
            name, off = _take_str(p, 4)
            op, off = _take_str(p, off)
        except (struct.error, IndexError):
            raise LinkError(f"malformed LAYER_INFO response ({len(p)} bytes)") from None
        return cls(index, name, op, nb)


RUN_PROFILE = 0x01       # RUN flag: time every layer (PROFILE reads the sums)
ALL_LAYERS = 0xFFFF      # RUN last_layer: the whole model


def pack_run(n: int, profile: bool = False, last_layer: int = ALL_LAYERS) -> bytes:
    return struct.pack("<IBH", n, RUN_PROFILE if profile else 0, last_layer)


@dataclass(frozen=True)
class RunResult:
    """RUN response: counts per inference over the n runs, and whether the inputs survived the runs."""

    runs: int
    counter: Counter
    total: int
    min: int
    max: int
    inputs_unchanged: bool

    _S = struct.Struct("<IBQIIB")

    def pack(self) -> bytes:
        return self._S.pack(self.runs, int(self.counter), self.total, self.min, self.max, int(self.inputs_unchanged))

    @classmethod
    def unpack(cls, p: bytes) -> RunResult:
        if len(p) != cls._S.size:
            raise LinkError(f"malformed RUN response ({len(p)} bytes, want {cls._S.size})")
        r, ck, tot, mn, mx, fl = cls._S.unpack(p)
        return cls(r, Counter(ck), tot, mn, mx, bool(fl & 1))

    @property
    def mean(self) -> float:
        return self.total / self.runs if self.runs else 0.0


@dataclass(frozen=True)
class ProfilePage:
    """PROFILE response: per-layer count sums over `runs` profiled inferences, for layers first..first+len-1."""

    runs: int
    counter: Counter
    first: int
    sums: tuple[int, ...]

    def pack(self) -> bytes:
        return struct.pack("<IBHH", self.runs, int(self.counter), self.first, len(self.sums)) + b"".join(
            struct.pack("<Q", s) for s in self.sums)

    @classmethod
    def unpack(cls, p: bytes) -> ProfilePage:
        try:
            runs, ck, first, n = struct.unpack_from("<IBHH", p)
            sums = struct.unpack_from(f"<{n}Q", p, 9)
        except struct.error:
            raise LinkError(f"malformed PROFILE response ({len(p)} bytes)") from None
        return cls(runs, Counter(ck), first, sums)


PROFILE_PER_PAGE = (MAX_PAYLOAD - 1 - 9) // 8


@dataclass(frozen=True)
class StackInfo:
    """STACK response: the stack region's size and the most of it ever used (stack painting)."""

    stack_bytes: int
    used_bytes: int

    def pack(self) -> bytes:
        return struct.pack("<II", self.stack_bytes, self.used_bytes)

    @classmethod
    def unpack(cls, p: bytes) -> StackInfo:
        if len(p) != 8:
            raise LinkError(f"malformed STACK response ({len(p)} bytes)")
        return cls(*struct.unpack("<II", p))


STACK_REPAINT = 0x01


def pack_load(index: int, offset: int, data: bytes) -> bytes:
    return struct.pack("<BI", index, offset) + data


def pack_read_output(index: int, offset: int, length: int) -> bytes:
    return struct.pack("<BIH", index, offset, length)


def pack_read_tensor(layer: int, offset: int, length: int) -> bytes:
    return struct.pack("<HIH", layer, offset, length)


# ------------------------------------------------------------------------------------------------ streaming


@dataclass(frozen=True)
class StreamInfo:
    """STREAM_RESET response: bytes of the persistent state, of one frame and of one step's output."""

    state_bytes: int
    frame_bytes: int
    output_bytes: int

    _S = struct.Struct("<III")

    def pack(self) -> bytes:
        return self._S.pack(self.state_bytes, self.frame_bytes, self.output_bytes)

    @classmethod
    def unpack(cls, p: bytes) -> StreamInfo:
        if len(p) != cls._S.size:
            raise LinkError(f"malformed STREAM_RESET response ({len(p)} bytes, want {cls._S.size})")
        return cls(*cls._S.unpack(p))


def pack_stream_step(frames: list[bytes]) -> bytes:
    """STREAM_STEP request: n u16, then the n frames (each the frame inputs concatenated)."""
    return struct.pack("<H", len(frames)) + b"".join(frames)


def stream_steps_per_request(info: StreamInfo, max_payload: int = MAX_PAYLOAD) -> int:
    """The most frames one STREAM_STEP may carry: its request and its answer must fit `max_payload`."""
    n = min((max_payload - 2) // max(info.frame_bytes, 1), (max_payload - 4) // (4 + info.output_bytes), 0xFFFF)
    if n < 1:
        raise EdgefmrError(f"a frame of {info.frame_bytes} B or a step output of {info.output_bytes} B does not fit "
                           f"one protocol frame ({max_payload} B payload)")
    return n


@dataclass(frozen=True)
class StreamSteps:
    """STREAM_STEP response: the count of each step (in `counter` units) and each step's output bytes."""

    counter: Counter
    counts: tuple[int, ...]
    outputs: tuple[bytes, ...]

    def pack(self) -> bytes:
        return struct.pack("<HB", len(self.counts), int(self.counter)) + b"".join(
            struct.pack("<I", c) + o for c, o in zip(self.counts, self.outputs, strict=True))

    @classmethod
    def unpack(cls, p: bytes, output_bytes: int) -> StreamSteps:
        try:
            n, ck = struct.unpack_from("<HB", p)
            counter = Counter(ck)
        except (struct.error, ValueError):
            raise LinkError(f"malformed STREAM_STEP response ({len(p)} bytes)") from None
        if len(p) != 3 + n * (4 + output_bytes):
            raise LinkError(f"malformed STREAM_STEP response: {len(p)} bytes for {n} steps of {output_bytes} B")
        counts, outs = [], []
        for k in range(n):
            off = 3 + k * (4 + output_bytes)
            counts.append(struct.unpack_from("<I", p, off)[0])
            outs.append(bytes(p[off + 4: off + 4 + output_bytes]))
        return cls(counter, tuple(counts), tuple(outs))
