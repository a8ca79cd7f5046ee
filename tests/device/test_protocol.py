"""Host side of the device protocol against a device simulated in Python over an in-memory link that
corrupts, drops, inserts and delays bytes: every fault is detected and retried, never silently accepted."""

from __future__ import annotations

import random
import struct
import time

import numpy as np
import pytest
from protocol_sim import SimDevice

from edgefmr.device.connection import Device
from edgefmr.device.protocol import (
    ALL_LAYERS,
    MAX_PAYLOAD,
    RESPONSE_BIT,
    SOF,
    VERSION,
    Cmd,
    Counter,
    DeviceError,
    Frame,
    FrameDecoder,
    Info,
    Link,
    LinkError,
    ProfilePage,
    RunResult,
    Status,
    crc8,
    crc32,
    encode_frame,
)
from edgefmr.device.transport import FaultPlan, FaultyTransport, Transport, loopback_pair

# ------------------------------------------------------------------------------------------------ simulated device




@pytest.fixture
def sim():
    """(host transport wrapped in a FaultyTransport, simulated device)."""
    host, dev_end = loopback_pair()
    faulty = FaultyTransport(host, seed=1)
    dev = SimDevice(dev_end)
    yield faulty, dev
    dev.stop()
    host.close()


def _expected_output(x: np.ndarray) -> bytes:
    return (x.astype(np.int8) * np.int8(2)).astype(np.int8)[::-1].tobytes()


# ------------------------------------------------------------------------------------------------ CRCs and frames

def test_crc_check_values() -> None:
    assert crc8(b"123456789") == 0xF4          # CRC-8/SMBUS check value
    assert crc32(b"123456789") == 0xCBF43926   # CRC-32/ISO-HDLC check value


def test_frame_layout_is_the_documented_one() -> None:
    f = encode_frame(Cmd.PING, 0x42, b"\x01\x02\x03")
    assert f[0] == SOF and f[1] == VERSION and f[2] == Cmd.PING and f[3] == 0x42
    assert f[4:6] == b"\x03\x00" and f[6] == crc8(f[1:6]) and f[7:10] == b"\x01\x02\x03"
    assert struct.unpack("<I", f[10:])[0] == crc32(f[1:10]) and len(f) == 14


def test_decoder_roundtrip_bytewise_and_in_chunks() -> None:
    rng = random.Random(0)
    frames = [(rng.randrange(256), rng.randrange(256), rng.randbytes(rng.randrange(0, MAX_PAYLOAD + 1)))
              for _ in range(40)]
    stream = b"".join(encode_frame(*f) for f in frames)
    for chunking in (1, 7, 4096):
        d = FrameDecoder()
        got = []
        for i in range(0, len(stream), chunking):
            got += d.feed(stream[i:i + chunking])
        assert [(g.type, g.seq, g.payload) for g in got] == frames
        assert d.garbage == 0 and not d.pending()


def test_decoder_resyncs_after_garbage_with_fake_sofs() -> None:
    good1, good2 = encode_frame(1, 1, b"hello"), encode_frame(2, 2, b"world" * 50)
    garbage = bytes([SOF, 1, 2, 3, SOF, SOF, 0, 0, 0, SOF, 1, 1, 1, 0xFF, 0xFF]) + b"EFM banner\r\n"
    d = FrameDecoder()
    got = d.feed(garbage + good1 + garbage + good2 + garbage[:3])
    assert [(g.type, g.payload) for g in got if isinstance(g, Frame)] == [(1, b"hello"), (2, b"world" * 50)]
    assert d.garbage >= 2 * len(garbage)
    assert d.give_up_partial() == [] and not d.pending()


def test_oversized_length_is_an_invalid_header() -> None:
    hdr = bytes((VERSION, 1, 1, 0xFF, 0xFF))
    d = FrameDecoder()
    got = d.feed(bytes((SOF,)) + hdr + bytes((crc8(hdr),)) + encode_frame(3, 3, b"x"))
    assert [(g.type, g.payload) for g in got] == [(3, b"x")] and d.bad_headers == 1


def test_every_single_byte_corruption_and_deletion_is_rejected() -> None:
    """Exhaustive: each byte of a frame XORed with several patterns, or deleted; a good frame follows.
    Only the good frame may come out, and it must come out."""
    frame = encode_frame(Cmd.RUN, 7, bytes(range(40)))
    good = encode_frame(Cmd.INFO, 8, b"ok")
    for pos in range(len(frame)):
        variants = [frame[:pos] + bytes((frame[pos] ^ x,)) + frame[pos + 1:] for x in (0x01, 0x80, 0xFF, 0x5A)]
        variants.append(frame[:pos] + frame[pos + 1:])
        for v in variants:
            d = FrameDecoder()
            got = [g for g in d.feed(v + good) + d.give_up_partial() if isinstance(g, Frame)]
            assert [(g.type, g.seq, g.payload) for g in got] == [(Cmd.INFO, 8, b"ok")], (pos, v.hex())


def test_random_burst_corruption_never_accepted() -> None:
    rng = random.Random(5)
    for _ in range(300):
        payload = rng.randbytes(rng.randrange(0, 200))
        f = bytearray(encode_frame(rng.randrange(256), rng.randrange(256), payload))
        a = rng.randrange(len(f))
        for i in range(a, min(len(f), a + rng.randrange(1, 9))):
            f[i] ^= rng.randrange(1, 256)
        for g in FrameDecoder().feed(bytes(f)):
            assert not isinstance(g, Frame) or g.payload == payload


# ------------------------------------------------------------------------------------------------ session


def test_session_all_commands(sim) -> None:
    t, dev = sim
    d = Device(t, timeout=0.2)
    info = d.info()
    assert (info.board, info.counter, info.num_layers, info.input_bytes, info.model_hash) == (
        "sim-board", Counter.QEMU_INSTRUCTIONS, 4, (300,), "ab" * 32)
    assert d.ping(b"\x00\xa5\xff" * 10) == b"\x00\xa5\xff" * 10
    assert [(li.name, li.op, li.output_bytes) for li in d.layers()][2] == ("layer2", "FUSED", 0)
    x = (np.arange(300) % 256 - 128).astype(np.int8)
    d.load_input(x)
    r = d.run(3, profile=True)
    assert (r.runs, r.min, r.max, r.total, r.inputs_unchanged) == (3, 4533, 4533, 3 * 4533, False)
    prof = d.profile()
    assert prof.runs == 3 and [lp.count for lp in prof.layers] == list(SimDevice.COUNTS)
    assert abs(sum(lp.share for lp in prof.layers) - 1) < 1e-12
    d.load_input(x)
    assert d.infer([x]) == [_expected_output(x)]
    d.load_input(x)
    d.run(1, last_layer=1)
    assert d.read_tensor(1) == (x * np.int8(2)).astype(np.int8).tobytes()
    st = d.stack(repaint=True)
    assert (st.stack_bytes, st.used_bytes) == (8192, 512) and d.stack().used_bytes == 128
    assert d.stats["retries"] == 0 and d.stats["timeouts"] == 0


def test_device_errors_are_reported_not_retried(sim) -> None:
    t, dev = sim
    d = Device(t, timeout=0.2)
    d.info()
    cases = [
        (lambda: d.read_output(), Status.BAD_STATE),                       # nothing run yet
        (lambda: d.link.request(Cmd.READ_TENSOR, struct.pack("<HIH", 2, 0, 1)), Status.UNAVAILABLE),
        (lambda: d.link.request(Cmd.READ_TENSOR, struct.pack("<HIH", 9, 0, 1)), Status.BAD_INDEX),
        (lambda: d.link.request(Cmd.LOAD_INPUT, struct.pack("<BI", 0, 299) + b"ab"), Status.BAD_RANGE),
        (lambda: d.link.request(Cmd.RUN, struct.pack("<IBH", 0, 0, ALL_LAYERS)), Status.BAD_ARG),
        (lambda: d.link.request(Cmd.RUN, b"\x01"), Status.BAD_LENGTH),
        (lambda: d.link.request(0x55), Status.UNKNOWN_COMMAND),
        (lambda: d.link.request(Cmd.READ_OUTPUT, struct.pack("<BIH", 0, 0, MAX_PAYLOAD)), Status.TOO_LARGE),
    ]
    for call, status in cases:
        sent = d.link.stats.frames_sent
        with pytest.raises(DeviceError) as e:
            call()
        assert e.value.status == status and status.name in str(e.value)
        assert d.link.stats.frames_sent == sent + 1
    x = np.zeros(300, np.int8)
    d.load_input(x)
    d.run(1)
    with pytest.raises(DeviceError, match="BAD_STATE"):   # layer 1 was overwritten territory: run to it first
        d.read_tensor(1)
    from edgefmr.errors import EdgefmrError

    with pytest.raises(EdgefmrError, match="300"):
        d.load_input(np.zeros(299, np.int8))


def test_lost_response_is_retried_and_answered_from_cache(sim) -> None:
    t, dev = sim
    d = Device(t, timeout=0.1)
    d.info()
    d.load_input(np.ones(300, np.int8))
    dev.accepted = False                          # (so that the one read chunk dropped below is the response)
    t.rx_hooks.append(lambda data: b"")          # the whole RUN response is lost
    r = d.run(1, timeout=0.1)
    assert r.runs == 1
    assert dev.executed.count(Cmd.RUN) == 1       # the retry was not executed a second time
    assert d.stats["timeouts"] == 1 and d.stats["retries"] == 1


def test_corrupted_response_triggers_immediate_resend(sim) -> None:
    t, dev = sim
    d = Device(t, timeout=5.0)                   # a timeout would make this test slow: it must not be needed
    t.rx_hooks.append(lambda data: data[:12] + bytes((data[12] ^ 0x10,)) + data[13:])
    t0 = time.monotonic()
    assert d.info().board == "sim-board"
    assert time.monotonic() - t0 < 1.0
    assert d.stats["bad_crc"] == 1 and d.stats["retries"] == 1 and d.stats["timeouts"] == 0


def test_corrupted_request_is_nakked_and_resent(sim) -> None:
    t, dev = sim
    d = Device(t, timeout=5.0)
    t.tx_hooks.append(lambda data: data[:-1] + bytes((data[-1] ^ 1,)))   # bad CRC-32, good header
    assert d.ping(b"abc") == b"abc"
    assert dev.sent_naks == 1 and d.stats["naks"] == 1 and d.stats["timeouts"] == 0


def test_truncated_request_is_recovered(sim) -> None:
    t, dev = sim
    d = Device(t, timeout=0.1)
    t.tx_hooks.append(lambda data: data[:len(data) // 2])   # half a frame: the device waits for the rest
    assert d.ping(b"x" * 100) == b"x" * 100
    assert d.stats["retries"] >= 1


def test_late_response_to_an_old_request_is_ignored(sim) -> None:
    t, dev = sim
    d = Device(t, timeout=0.05, retries=8)
    dev.hold_responses, dev.hold_s = 1, 0.15      # the first answer arrives after the host gave up on it
    assert d.ping(b"first") == b"first"
    assert d.ping(b"second") == b"second"         # a duplicate "first" answer is still in flight: ignored
    time.sleep(0.2)
    assert d.ping(b"third") == b"third"
    assert d.stats["stale_frames"] >= 1


def test_long_run_is_waited_for_after_accepted(sim) -> None:
    """A RUN much longer than the link timeout: ACCEPTED tells the host to wait; nothing is resent."""
    t, dev = sim
    d = Device(t, timeout=0.05, retries=2, run_timeout=5.0)
    d.load_input(np.zeros(300, np.int8))
    dev.run_s = 0.5
    t0 = time.monotonic()
    assert d.run(1).runs == 1
    assert 0.5 <= time.monotonic() - t0 < 1.5
    assert d.stats["retries"] == 0 and dev.executed.count(Cmd.RUN) == 1


def test_long_run_without_accepted_is_not_given_up(sim) -> None:
    """ACCEPTED lost (or a device that does not send it): the host resends every timeout while the RUN may be
    running, without using up its retries; the device answers the duplicates from its cache."""
    t, dev = sim
    d = Device(t, timeout=0.05, retries=2, run_timeout=5.0)
    d.load_input(np.zeros(300, np.int8))
    dev.run_s, dev.accepted = 0.5, False
    assert d.run(1).runs == 1
    assert d.stats["retries"] > 2 and dev.executed.count(Cmd.RUN) == 1


def test_lost_run_request_is_resent_after_the_link_timeout(sim) -> None:
    """A RUN request that never arrived is resent after the link timeout, not after the long RUN wait."""
    t, dev = sim
    d = Device(t, timeout=0.05, retries=3, run_timeout=30.0)
    d.load_input(np.zeros(300, np.int8))
    t.tx_hooks.append(lambda data: b"")                    # the first RUN is lost on the wire
    dev.run_s = 0.2
    t0 = time.monotonic()
    assert d.run(1).runs == 1
    assert time.monotonic() - t0 < 1.5 and d.stats["retries"] >= 1 and dev.executed.count(Cmd.RUN) == 1


def test_garbage_before_and_between_responses(sim) -> None:
    t, dev = sim
    d = Device(t, timeout=0.2)
    for _ in range(5):
        t.rx_hooks.append(lambda data: b"\xa5\x01\x00garbage\xa5" + data + b"\xa5\xa5\x00")
    for i in range(5):
        assert d.ping(bytes([i]) * 20) == bytes([i]) * 20
    assert d.stats["garbage_bytes"] > 50 and d.stats["retries"] == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_session_correct_with_one_percent_corruption(seed: int) -> None:
    """1% of bytes corrupted in both directions plus drops and garbage: results exact, retries counted."""
    host, dev_end = loopback_pair()
    plan = dict(corrupt=0.01, drop=0.001, insert=0.001)
    t = FaultyTransport(host, tx=FaultPlan(**plan), rx=FaultPlan(**plan), seed=seed)
    dev = SimDevice(dev_end, nin=1500)
    try:
        d = Device(t, timeout=0.02, retries=10, run_timeout=0.5)
        rng = np.random.default_rng(seed)
        for _ in range(3):
            x = rng.integers(-128, 128, 1500, dtype=np.int8)
            assert d.infer([x]) == [_expected_output(x)]
        assert d.stats["retries"] > 0
        assert t.tx.stats.corrupted + t.rx.stats.corrupted > 50
    finally:
        dev.stop()
        host.close()


class _DeadTransport(Transport):
    name = "dead-link"

    def write(self, data: bytes) -> None:
        pass

    def read(self, max_bytes: int, timeout: float) -> bytes:
        time.sleep(timeout)
        return b""


def test_dead_link_fails_within_the_stated_time() -> None:
    link = Link(_DeadTransport(), timeout=0.05, retries=3)
    t0 = time.monotonic()
    with pytest.raises(LinkError, match=r"no valid response to INFO from dead-link after 4 attempts \(0.05 s"):
        link.request(Cmd.INFO)
    assert time.monotonic() - t0 < 4 * 0.05 + 0.5
    assert link.stats.timeouts == 4


def test_protocol_version_mismatch_is_an_error() -> None:
    host, dev_end = loopback_pair()
    dev = SimDevice(dev_end, version=2)
    try:
        with pytest.raises(LinkError, match="protocol version"):
            Link(host, timeout=0.2).request(Cmd.INFO)
    finally:
        dev.stop()
        host.close()


def test_wire_time_scales_the_timeout() -> None:
    class Slow(_DeadTransport):
        baud = 9600

    link = Link(Slow(), timeout=0.01, retries=0)
    t0 = time.monotonic()
    with pytest.raises(LinkError):
        link.request(Cmd.PING, b"x" * 200, expect_bytes=200)
    # 2 x (214 + 11 + 200) bytes x 11 bits / 9600 baud ≈ 0.97 s on top of the 0.01 s base
    assert 0.9 < time.monotonic() - t0 < 1.5


def test_payload_codecs_roundtrip() -> None:
    info = Info(1, Counter.DWT_CYCLES, 1, 1024, 216_000_000, 1234, 4096, 17, (784, 3), (10,), "nucleo-h743zi",
                "0.1.0", "f" * 64)
    assert Info.unpack(info.pack()) == info
    rr = RunResult(5, Counter.SYSTICK_CYCLES, 1 << 40, 7, 9, True)
    assert RunResult.unpack(rr.pack()) == rr
    pp = ProfilePage(2, Counter.QEMU_INSTRUCTIONS, 3, (1, 2, 1 << 50))
    assert ProfilePage.unpack(pp.pack()) == pp
    with pytest.raises(LinkError, match="malformed INFO"):
        Info.unpack(info.pack()[:20])
    assert Counter.QEMU_INSTRUCTIONS.unit == "instructions" and "QEMU" in Counter.QEMU_INSTRUCTIONS.label
    assert bytes((RESPONSE_BIT | Cmd.INFO,)) == b"\x81"


# ------------------------------------------------------------------------------------------------ fast recovery

def test_stray_sof_before_text_is_not_a_frame_start() -> None:
    """SOF followed by a text byte (VER ≥ 0x20) is dropped at once; the frame after it is still found."""
    dec = FrameDecoder()
    f = encode_frame(Cmd.PING, 7, b"hi")
    assert dec.feed(b"\xa5name%" + f) == [Frame(type=Cmd.PING, seq=7, payload=b"hi", version=VERSION)]
    assert not dec.pending() and dec.garbage == len(b"\xa5name%")


def test_damaged_answer_is_resent_after_a_gap_not_a_timeout() -> None:
    """An answer whose header is damaged: the host resends after a few byte times of silence, long before the
    1 s timeout, and counts it as a gap."""
    host, dev_end = loopback_pair()
    t = FaultyTransport(host, seed=1)
    dev = SimDevice(dev_end)
    try:
        d = Device(t, timeout=1.0)
        d.ping(b"x")                              # time the link
        t.rx_hooks.append(lambda data: data[:3] + bytes([data[3] ^ 0x40]) + data[4:])  # the SEQ of the answer
        t0 = time.monotonic()
        assert d.ping(b"y" * 10) == b"y" * 10
        assert time.monotonic() - t0 < 0.3
        assert d.stats["gaps"] + d.stats["timeouts"] >= 1 and d.stats["retries"] == 1
    finally:
        dev.stop()
        host.close()


def test_timeouts_adapt_to_the_link_and_back_off_on_silence() -> None:
    """After a few exchanges the response wait is a few round trips (not the 1 s timeout); a lost request is resent
    after it, and silence doubles the wait up to `timeout` (a dead line still gets the full timeouts)."""
    host, dev_end = loopback_pair()
    t = FaultyTransport(host, seed=1)
    dev = SimDevice(dev_end)
    try:
        d = Device(t, timeout=1.0)
        for i in range(10):
            d.ping(bytes([i]))
        assert d.link.min_timeout <= d.link.response_timeout() < 0.2
        t.tx_hooks.append(lambda data: b"")       # the next request is lost on the way
        t0 = time.monotonic()
        assert d.ping(b"z") == b"z"
        assert time.monotonic() - t0 < 0.3 and d.stats["timeouts"] == 1
    finally:
        dev.stop()
        host.close()
    link = Link(_DeadTransport(), timeout=0.2, retries=4)
    link.srtt, link.rttvar = 0.001, 0.0         # a fast link that goes dead
    t0 = time.monotonic()
    with pytest.raises(LinkError):
        link.request(Cmd.PING)
    assert 0.01 + 0.02 + 0.04 + 0.08 + 0.16 - 0.02 < time.monotonic() - t0 < 1.5   # 10 ms doubling, capped


@pytest.mark.parametrize("seed", [3])
def test_fault_transport_flip_drop_duplicate_is_reproducible_and_survived(seed: int) -> None:
    """FaultyTransport.symmetric with flips, drops and duplicates (seeded: the same damage twice); the session stays
    exact and recovers at the speed of the link (no second-long waits)."""
    results = []
    for _ in range(2):
        host, dev_end = loopback_pair()
        t = FaultyTransport.symmetric(host, flip=0.01, drop=0.002, duplicate=0.002, seed=seed)
        dev = SimDevice(dev_end, nin=300)
        try:
            d = Device(t, timeout=1.0, run_timeout=2.0)
            rng = np.random.default_rng(seed)
            t0 = time.monotonic()
            for _ in range(3):
                x = rng.integers(-128, 128, 300, dtype=np.int8)
                assert d.infer([x]) == [_expected_output(x)]
            results.append((t.tx.stats.corrupted, t.rx.stats.duplicated >= 0, time.monotonic() - t0))
            assert t.tx.stats.corrupted + t.rx.stats.corrupted > 5
        finally:
            dev.stop()
            host.close()
    assert results[0][0] == results[1][0]        # the same faults from the same seed on the request side
    assert all(r[2] < 8 for r in results)        # each wait a few round trips: the old 1 s timeouts took ~40 s


def test_link_faults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """$EDGEFMR_LINK_FAULTS wraps any session's link (board_session) in a seeded FaultyTransport."""
    from edgefmr.device.transport import faults_from_env, parse_faults
    from edgefmr.errors import EdgefmrError

    assert parse_faults("flip=0.01, drop=0.001,seed=3") == {"flip": 0.01, "drop": 0.001, "seed": 3}
    for bad, msg in (("flop=0.1", "unknown fault 'flop'"), ("flip=x", "not a number"),
                     ("flip=2", "not a probability")):
        with pytest.raises(EdgefmrError, match=msg):
            parse_faults(bad)
    monkeypatch.delenv("EDGEFMR_LINK_FAULTS", raising=False)
    assert faults_from_env() is None
    monkeypatch.setenv("EDGEFMR_LINK_FAULTS", "flip=0.5,duplicate=0.1,seed=7")
    host, _dev = loopback_pair()
    t = faults_from_env()(host)
    assert isinstance(t, FaultyTransport) and t.tx.corrupt == t.rx.corrupt == 0.5 and t.rx.duplicate == 0.1
    t.write(bytes(1000))
    assert 400 < t.tx.stats.corrupted < 600
