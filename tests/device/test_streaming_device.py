"""Streaming over the framed protocol (STREAM_RESET, STREAM_STEP) on a QEMU board, the message codecs, and a
kws-synth LMU streamed for 1,000 frames on QEMU's Cortex-M4 against the interpreter."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest
from stream_cases import frames, quantized, step_graph

from edgefmr.device.protocol import (
    MAX_PAYLOAD,
    Cmd,
    Counter,
    DeviceError,
    LinkError,
    Status,
    StreamInfo,
    StreamSteps,
    pack_stream_step,
    stream_steps_per_request,
)
from edgefmr.errors import EdgefmrError
from edgefmr.ir.streaming import run_stream, without_states

qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                          reason="needs qemu-system-arm and arm-none-eabi-gcc")


def test_stream_messages_round_trip():
    info = StreamInfo(576, 3, 4)
    assert StreamInfo.unpack(info.pack()) == info
    steps = StreamSteps(Counter.QEMU_INSTRUCTIONS, (10, 20), (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"))
    assert StreamSteps.unpack(steps.pack(), 4) == steps
    assert pack_stream_step([b"abc", b"def"]) == struct.pack("<H", 2) + b"abcdef"
    with pytest.raises(LinkError, match="malformed STREAM_STEP"):
        StreamSteps.unpack(steps.pack()[:-1], 4)
    with pytest.raises(LinkError, match="malformed STREAM_RESET"):
        StreamInfo.unpack(b"\x00" * 11)
    n = stream_steps_per_request(info)
    assert 2 + n * 3 <= MAX_PAYLOAD and 3 + n * 8 <= MAX_PAYLOAD - 1
    assert 2 + (n + 1) * 3 > MAX_PAYLOAD or 3 + (n + 1) * 8 > MAX_PAYLOAD - 1
    with pytest.raises(EdgefmrError, match="does not fit one protocol frame"):
        stream_steps_per_request(StreamInfo(0, 2000, 1))


@pytest.mark.emulator
@qemu
def test_protocol_stream_on_qemu(tmp_path):
    """A --streaming protocol build: batched steps == the interpreter over three training lengths; a reset starts
    the stream over (the same frames give the same outputs); one-frame steps continue the stream; malformed
    requests are refused; firmware built without --streaming does not know the commands."""
    from edgefmr.device.connection import artifact_manifest, board_session
    from edgefmr.device.streaming import Stream, run_stream_on_board
    from edgefmr.firmware.build import build

    g = step_graph("lmu-spiking")
    x = frames(g, 3 * quantized("lmu-spiking").model.steps, seed=3)
    want, _ = run_stream(g, x)
    m = build(g, "qemu-mps2-an386", tmp_path / "s", streaming=True)
    r = run_stream_on_board(tmp_path / "s", None, x, graph=g)
    assert [o[0].tolist() for o in r.outputs] == [w[0].tolist() for w in want]
    assert r.state_bytes == m["streaming"]["state_bytes"] == m["measured"]["state_symbol"]
    assert r.counter == Counter.QEMU_INSTRUCTIONS and min(r.counts) > 0
    art, man = artifact_manifest(tmp_path / "s")
    with board_session(art, man) as dev:
        s = Stream(dev)
        info = s.reset()
        assert (info.frame_bytes, info.output_bytes) == (x[0].nbytes, want[0][0].nbytes)
        first = s.steps([f.tobytes() for f in x[:4]])
        out, count = s.step(x[4].tobytes())
        assert out == want[4][0].tobytes() and count > 0
        s.reset()
        again = s.steps([f.tobytes() for f in x[:4]])
        assert again.outputs == first.outputs == tuple(w[0].tobytes() for w in want[:4])
        with pytest.raises(DeviceError) as e:
            dev._req(Cmd.STREAM_STEP, struct.pack("<H", 2) + x[0].tobytes())
        assert e.value.status == Status.BAD_LENGTH
        with pytest.raises(DeviceError) as e:
            dev._req(Cmd.STREAM_STEP, struct.pack("<H", 0))
        assert e.value.status == Status.BAD_ARG
        with pytest.raises(EdgefmrError, match="frame 0 has"):
            s.steps([b"\x00"])
    build(without_states(g), "qemu-mps2-an386", tmp_path / "p")
    art, man = artifact_manifest(tmp_path / "p")
    with board_session(art, man) as dev, pytest.raises(DeviceError) as e:
        Stream(dev).reset()
    assert e.value.status == Status.UNKNOWN_COMMAND
    with pytest.raises(EdgefmrError, match="not a streaming build"):
        run_stream_on_board(tmp_path / "p", None, x)


@pytest.mark.emulator
@pytest.mark.slow
@qemu
def test_kws_synth_lmu_1000_frames_on_qemu_m4(tmp_path):
    """An LMU for kws-synth (the family's default size), streamed on QEMU's Cortex-M4 for 1,000 frames of twenty
    back-to-back utterances (20x the training length): every step == the interpreter; per-step instructions do
    not grow with the step index (max/min <= 1.05) and cost at most 1.1x the whole-sequence instructions / steps."""
    import torch

    from edgefmr.device.streaming import stream_semihost
    from edgefmr.nas.tasks import load_task
    from edgefmr.nas.train import build_model
    from edgefmr.ops.quantize import affine_quantize
    from edgefmr.quant.lmu import stream_graph
    from edgefmr.quant.quantizer import QuantOptions, quantize

    torch.set_num_threads(1)
    torch.manual_seed(0)
    task = load_task("kws-synth")
    model = build_model("lmu", {}, task.input_shape, task.n_classes).eval()
    qm = quantize(model, "lmu", task.x_train[:32], QuantOptions(calib_samples=32))
    g = stream_graph(qm, 1)
    t = g.tensor(g.inputs[0])
    x = affine_quantize(task.x_test[:20].reshape(-1, task.x_test.shape[-1]), t.scale, t.zero_point, "int8")
    assert len(x) == 1000 and len(x) > qm.model.steps
    r = stream_semihost(g, "qemu-mps2-an386", x, tmp_path)
    assert r["bit_exact"], f"first mismatch at step {r['first_mismatch']}"
    ins = np.asarray(r["instructions"])
    assert len(ins) == 1000 and ins.max() / ins.min() <= 1.05, (ins.min(), ins.max())
    # a step costs at most 1.1x the whole-sequence inference divided by its embedded steps
    from edgefmr.device.semihost import graph_instructions

    whole = qm.graph()
    tw = whole.tensor(whole.inputs[0])
    xw = affine_quantize(task.x_test[:1], tw.scale, tw.zero_point, "int8")
    w = graph_instructions(whole, "qemu-mps2-an386", [[xw]], tmp_path / "whole")
    assert w["bit_exact"]
    assert ins.mean() <= 1.1 * w["instructions"] / qm.model.steps, (ins.mean(), w["instructions"] / qm.model.steps)
