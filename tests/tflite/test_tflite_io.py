"""`.tflite` import/export: round trips, and clear one-line errors on files edgefmr cannot take."""

import subprocess
import sys

import flatbuffers
import numpy as np
import pytest

from edgefmr.errors import EdgefmrError
from edgefmr.ir import GraphBuilder, run
from edgefmr.tflite import from_tflite, to_tflite
from edgefmr.tflite.schema import S


def fc_model():
    rng = np.random.default_rng(3)
    b = GraphBuilder()
    x = b.input("x", (1, 10), scale=0.03, zero_point=5)
    w = b.const("w", rng.integers(-127, 128, (3, 10)).astype(np.int8), scale=0.01, zero_point=0)
    bias = b.const("bias", rng.integers(-100, 100, 3).astype(np.int32))
    b.output(b.op("FULLY_CONNECTED", [x, w, bias], scale=0.1, zero_point=0))
    return b.build()


def float_version(buf: bytes) -> bytes:
    """The same model with every tensor float32 and no quantization (a float model)."""
    m = S.ModelT.InitFromPackedBuf(buf, 0)
    for t in m.subgraphs[0].tensors:
        if t.buffer and m.buffers[t.buffer].data is not None:
            old = np.frombuffer(np.asarray(m.buffers[t.buffer].data, np.uint8).tobytes(),
                                np.int8 if t.type == S.TensorType.INT8 else np.int32)
            m.buffers[t.buffer].data = np.frombuffer(old.astype(np.float32).tobytes(), np.uint8)
        t.type = S.TensorType.FLOAT32
        t.quantization = None
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_round_trip_preserves_results():
    g = fc_model()
    g2 = from_tflite(to_tflite(g))
    x = np.arange(10, dtype=np.int8).reshape(1, 10)
    np.testing.assert_array_equal(run(g, [x])[g.outputs[0]], run(g2, [x])[g2.outputs[0]])


def test_wrong_identifier():
    buf = bytearray(to_tflite(fc_model()))
    buf[4:8] = b"XXXX"
    with pytest.raises(EdgefmrError, match="not a .tflite file"):
        from_tflite(bytes(buf), "m.tflite")


def test_truncated():
    buf = to_tflite(fc_model())
    with pytest.raises(EdgefmrError, match="m.tflite: corrupt or truncated"):
        from_tflite(buf[: len(buf) // 3], "m.tflite")


def test_float_model_is_rejected_with_reason():
    with pytest.raises(EdgefmrError, match=r"unsupported: op FULLY_CONNECTED \(needs int8.*float32"):
        from_tflite(float_version(to_tflite(fc_model())), "f.tflite")


def test_unsupported_ops_are_listed_together():
    m = S.ModelT.InitFromPackedBuf(to_tflite(fc_model()), 0)
    m.operatorCodes[0].builtinCode = m.operatorCodes[0].deprecatedBuiltinCode = S.BuiltinOperator.LSTM
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(EdgefmrError, match="unsupported: op LSTM at node 0"):
        from_tflite(bytes(b.Output()), "l.tflite")


@pytest.mark.parametrize("kind", ["truncated", "identifier", "float", "empty"])
def test_cli_bad_tflite_one_line_error(tmp_path, kind):
    buf = to_tflite(fc_model())
    data = {"truncated": buf[:100], "identifier": buf[:4] + b"ABCD" + buf[8:], "float": float_version(buf),
            "empty": b""}[kind]
    p = tmp_path / f"{kind}.tflite"
    p.write_bytes(data)
    r = subprocess.run([sys.executable, "-m", "edgefmr.cli", "inspect", str(p)], capture_output=True, text=True)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(p) in lines[0], r.stderr
