"""LMUFormer: Legendre matrices and ZOH, parallel (FFT) == sequential forms, causal streaming, learning."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from numpy.polynomial import legendre

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.families import FAMILIES
from edgefmr.nas.models.lif import measure_firing_rates, ops_summary
from edgefmr.nas.models.lmu import (
    LMUConfig,
    LMUFormer,
    LMUMemory,
    impulse_response,
    legendre_ab,
    legendre_zoh,
    stream_agreement,
)
from edgefmr.nas.models.macs import macs

torch.set_num_threads(1)

SMALL = {"order": 12, "hidden": 24, "memory_size": 6, "depth": 2, "patch": 2, "kernel": 3}


def _randomize_bn(model):
    """Non-trivial eval-mode BN statistics so that the test exercises them."""
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def test_registered_family():
    assert FAMILIES["lmu"] == (LMUConfig, LMUFormer)


def test_legendre_matrices():
    a, b = legendre_ab(2, 1.0)
    assert a.tolist() == [[-1.0, -1.0], [3.0, -3.0]] and b.tolist() == [1.0, -3.0]
    a4, b4 = legendre_ab(4, 2.0)
    assert a4[3, 0] == pytest.approx(7 * (-1) ** 4 / 2) and a4[0, 3] == pytest.approx(-1 / 2)
    assert b4[3] == pytest.approx(-7 / 2)


def test_zoh_discretisation():
    a, b = legendre_ab(6, 10.0)
    ad, bd = legendre_zoh(6, 10.0)
    from scipy.linalg import expm

    assert np.allclose(ad, expm(a))
    assert np.allclose(bd, np.linalg.solve(a, (ad - np.eye(6)) @ b))  # B̄ = A⁻¹ (Ā − I) B


def test_memory_holds_a_delayed_input():
    """Decoding the memory with shifted Legendre polynomials recovers u(t − r·θ)."""
    d, theta = 12, 50.0
    ad, bd = legendre_zoh(d, theta)
    u = np.sin(2 * np.pi * np.arange(400) / 120.0)
    m, ms = np.zeros(d), []
    for x in u:
        m = ad @ m + bd * x
        ms.append(m)
    ms = np.array(ms)
    for r in (0.0, 0.25, 0.5, 1.0):
        p = np.array([legendre.legval(2 * r - 1, np.eye(d)[i]) for i in range(d)])
        lag = int(round(r * theta))
        assert np.abs(ms[200:] @ p - u[200 - lag : 400 - lag]).max() < 0.05


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_fft_memory_equals_recurrence(dtype, tol):
    mem = LMUMemory(channels=3, order=16, theta=40.0)
    u = torch.randn(2, 3, 70, dtype=dtype)
    par = mem(u).reshape(2, 3, 16, 70)
    m, seq = None, []
    for t in range(70):
        m = mem.step(u[:, :, t], m)
        seq.append(m)
    seq = torch.stack(seq, -1)
    assert (par - seq).abs().max() < tol
    h = impulse_response(*legendre_zoh(16, 40.0), 5)
    assert np.allclose(h[:, 0], legendre_zoh(16, 40.0)[1])


CASES = [
    {},
    {"pool": "mean", "act": "relu"},
    {"patch": 4, "kernel": 6, "depth": 1, "theta": 10.0},
    {"spiking": True, "pool": "mean", "threshold": 0.3},
]


@pytest.mark.parametrize("extra", CASES)
def test_parallel_equals_sequential_and_streaming_equals_whole(extra):
    torch.manual_seed(0)
    model = _randomize_bn(LMUFormer(LMUConfig.from_dict({**SMALL, **extra}), (64, 3), 7))
    x = torch.randn(5, 64, 3)
    a32 = stream_agreement(model, x, chunks=(1, 3, 10))
    a64 = stream_agreement(copy.deepcopy(model).double(), x.double(), chunks=(7, 2))
    assert a32["parallel_vs_sequential"] < 1e-5 and a64["parallel_vs_sequential"] < 1e-10
    assert a32["memory_parallel_vs_sequential"] < 1e-5 and a64["memory_parallel_vs_sequential"] < 1e-10
    assert a32["stream_vs_whole"] < 1e-5 and a64["stream_vs_whole"] < 1e-10
    assert a32["prediction_agreement"] == 1.0
    if extra.get("spiking"):
        rates = measure_firing_rates(model, x)
        assert any(r > 0 for r in rates.values())  # the comparison is not between silent networks


def test_stream_api_chunks_and_reset():
    torch.manual_seed(1)
    model = _randomize_bn(LMUFormer(LMUConfig.from_dict({**SMALL, "patch": 4, "kernel": 4}), (32, 2), 3))
    x = torch.randn(2, 32, 2)
    whole = model(x)
    model.reset_stream()
    assert model.stream(x[:, :3]) is None  # no complete patch of 4 yet
    assert model.stream_steps(x[:, 3:4]).shape == (2, 1, 3)
    for t in range(4, 32):
        out = model.stream_step(x[:, t])
    assert torch.allclose(out, whole, atol=1e-5)
    model.reset_stream()
    assert torch.allclose(model.stream(x), whole, atol=1e-5)
    with pytest.raises(ValueError, match="batch size"):
        model.stream(x[:1, :4])
    with pytest.raises(RuntimeError, match="eval"):
        model.train().stream(x)


def test_causal_no_future_leakage():
    torch.manual_seed(2)
    model = _randomize_bn(LMUFormer(LMUConfig.from_dict(SMALL), (40, 1), 4))
    x = torch.randn(3, 40, 1)
    y = x.clone()
    y[:, 21:] = torch.randn(3, 19, 1)  # change the future from input step 21 on
    with torch.no_grad():
        a, b = model.forward_steps(x), model.forward_steps(y)
    # embedded step j (patch 2) ends at input 2j + 1: steps 0..9 only see inputs 0..19 (kernel 3 reaches back)
    # (equal up to FFT rounding: the FFT mixes every step's rounding, not its values)
    assert (a[:, :10] - b[:, :10]).abs().max() < 1e-6
    assert (a[:, 11:] - b[:, 11:]).abs().amax(dim=(0, 2)).min() > 1e-3


def test_config_errors_and_image_input():
    with pytest.raises(EdgefmrError, match="unknown lmu config key 'dim'"):
        LMUConfig.from_dict({"dim": 3})
    with pytest.raises(EdgefmrError, match="'kernel'.*patch"):
        LMUConfig.from_dict({"patch": 4, "kernel": 2})
    with pytest.raises(EdgefmrError, match="'order'"):
        LMUConfig.from_dict({"order": 0})
    with pytest.raises(EdgefmrError, match="'pool'"):
        LMUConfig.from_dict({"pool": "max"})
    model = LMUFormer(LMUConfig.from_dict(SMALL), (1, 8, 8), 10)  # an image is read row by row
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    assert model.theta == 4.0  # auto θ: the 8 rows / patch 2


def test_cost_macs_matches_streaming_count():
    for extra in ({}, {"pool": "mean", "spiking": True}):
        model = LMUFormer(LMUConfig.from_dict({**SMALL, **extra}), (64, 1), 10)
        assert macs(model, (64, 1)) == model.macs()


def test_learns_seq_digits():
    from edgefmr.nas.tasks import load_task
    from edgefmr.nas.train import train

    task = load_task("seq-digits")
    cfg = {"order": 16, "hidden": 32, "memory_size": 8, "patch": 2, "kernel": 4}
    model, metrics = train("lmu", task, cfg, epochs=4, lr=5e-3, progress=False, seed=0)
    assert metrics["accuracy"] > 0.6  # chance is 0.1
    a = stream_agreement(model, torch.as_tensor(task.x_test[:50]))
    assert a["parallel_vs_sequential"] < 1e-5 and a["prediction_agreement"] == 1.0


def test_spiking_variant_learns_and_counts_ops():
    from edgefmr.nas.tasks import load_task
    from edgefmr.nas.train import train

    task = load_task("seq-digits")
    cfg = {"order": 16, "hidden": 32, "memory_size": 8, "patch": 2, "kernel": 4, "spiking": True,
           "pool": "mean"}
    model, metrics = train("lmu", task, cfg, epochs=4, lr=5e-3, progress=False, seed=0)
    assert metrics["accuracy"] > 0.4  # chance is 0.1
    rates = measure_firing_rates(model, torch.as_tensor(task.x_test))
    assert set(rates) >= {"blocks.0.lif_in", "blocks.0.act_u.lif", "lif_out"}
    assert all(0 < r < 1 for r in rates.values())
    s = ops_summary(model)
    assert s["accumulates"] > 0 and s["multiplications"] > 0


def test_checkpoint_roundtrip(tmp_path):
    from edgefmr.nas.train import load_checkpoint, save_checkpoint

    cfg = LMUConfig.from_dict({**SMALL, "spiking": True, "pool": "mean"})
    model = _randomize_bn(LMUFormer(cfg, (64, 1), 10))
    save_checkpoint(tmp_path / "m.pt", "lmu", cfg, "seq-digits", (64, 1), 10, model)
    loaded, info = load_checkpoint(tmp_path / "m.pt")
    x = torch.randn(3, 64, 1)
    assert info["config"] == cfg.to_dict() and torch.equal(loaded(x), model(x))
