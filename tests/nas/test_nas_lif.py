"""LIF neuron: dynamics, hard reset, surrogate gradients, firing-rate recording, op counting."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from edgefmr.errors import EdgefmrError
from edgefmr.nas.models.lif import LIF, RateMeter, firing_rates, measure_firing_rates, op_counts, ops_summary, spike

torch.set_num_threads(1)


def test_constant_input_dynamics_and_hard_reset():
    lif = LIF(tau=2.0, threshold=1.0)
    x = torch.full((6, 1, 1), 1.5)
    s = lif(x)[:, 0, 0].tolist()
    # H1 = 0.75 (no spike), H2 = 0.75 + (1.5 - 0.75)/2 = 1.125 (spike, reset to 0), then it repeats.
    assert s == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    s1, v = lif.step(torch.tensor([1.5]))
    assert s1.item() == 0.0 and v.item() == pytest.approx(0.75)
    s2, v = lif.step(torch.tensor([1.5]), v)
    assert s2.item() == 1.0 and v.item() == 0.0  # hard reset


def test_leak_and_subthreshold():
    lif = LIF(tau=4.0, threshold=1.0)
    x = torch.zeros(5, 1)
    x[0] = 2.0  # H1 = 0.5, then decays by 3/4 per step, never fires
    _, v = lif.step(x[0])
    for t in range(1, 5):
        s, v = lif.step(x[t], v)
        assert s.item() == 0.0
    assert v.item() == pytest.approx(0.5 * 0.75**4)
    assert lif(x).sum().item() == 0.0


def test_step_api_matches_multistep_forward():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 5) * 2
    lif = LIF(tau=2.0, threshold=0.7)
    full = lif(x)
    v = None
    for t in range(8):
        s, v = lif.step(x[t], v)
        assert torch.equal(s, full[t])


@pytest.mark.parametrize("surrogate,expected_at_0", [("sigmoid", 1.0), ("atan", 1.0)])
def test_surrogate_gradient(surrogate, expected_at_0):
    x = torch.tensor([0.0, 0.5, -2.0], requires_grad=True)
    y = spike(x, surrogate)
    assert y.tolist() == [1.0, 1.0, 0.0]
    y.sum().backward()
    g = x.grad.tolist()
    assert g[0] == pytest.approx(expected_at_0)  # sigmoid: alpha/4 with alpha=4; atan: alpha/2 with alpha=2
    if surrogate == "sigmoid":
        s = 1 / (1 + math.exp(-4 * 0.5))
        assert g[1] == pytest.approx(4 * s * (1 - s))
    else:
        assert g[1] == pytest.approx(1.0 / (1 + (math.pi / 2 * 2 * 0.5) ** 2))
    assert 0 < g[2] < g[1] < g[0]


def test_gradient_reaches_input_through_time():
    x = torch.full((4, 2, 3), 0.8, requires_grad=True)
    LIF(tau=2.0)(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_firing_rate_recording_and_reset():
    lif = LIF(tau=2.0, threshold=1.0)
    assert lif.firing_rate == 0.0
    lif(torch.full((6, 1, 1), 1.5))  # 3 spikes in 6 updates
    lif(torch.zeros(4, 1, 1))  # 0 in 4
    assert lif.firing_rate == pytest.approx(3 / 10)
    assert lif.last_rate == 0.0
    lif.reset_stats()
    assert lif.firing_rate == 0.0


def test_invalid_parameters():
    with pytest.raises(EdgefmrError, match="tau"):
        LIF(tau=0.5)
    with pytest.raises(EdgefmrError, match="threshold"):
        LIF(threshold=0.0)
    with pytest.raises(EdgefmrError, match="surrogate.*valid: sigmoid, atan"):
        LIF(surrogate="relu")


class _TinySNN(nn.Module):
    """real input -> fc1 (MACs) -> LIF -> fc2 (accumulates) -> mask meter -> sum."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 6)
        self.lif = LIF(tau=2.0, threshold=0.5)
        self.fc2 = nn.Linear(6, 3)
        self.meter = RateMeter()

    def forward(self, x):  # x [B, 4]; T = 3
        s = self.lif(self.fc1(x).unsqueeze(0).expand(3, *x.shape[:1], 6))
        self.seen = s
        return self.fc2(self.meter(s)).mean(0)

    def synapses(self):
        return [("fc1", "linear", "", 4 * 6, 1), ("fc2", "linear", "lif", 6 * 3, 3), ("sum", "sum", "meter", 6, 3)]


def test_op_counts_equal_actual_spike_accumulates():
    torch.manual_seed(1)
    net = _TinySNN()
    x = torch.randn(10, 4)
    rates = measure_firing_rates(net, x, batch_size=4)
    assert set(rates) == {"lif"} and 0 < rates["lif"] < 1
    assert firing_rates(net) == rates
    # accumulate by accumulate over the actual spikes, batch by batch, per sample
    net.eval()
    actual = 0.0
    with torch.no_grad():
        for i in range(0, 10, 4):
            net(x[i : i + 4])
            actual += float(net.seen.sum()) * 3  # each spike adds one weight per output
    rows = {r["layer"]: r for r in op_counts(net)}
    assert rows["fc2"]["accumulates"] * 10 == pytest.approx(actual)
    assert rows["fc2"]["multiplications"] == 0
    assert rows["fc1"]["multiplications"] == 24 and rows["fc1"]["additions"] == 24
    assert rows["sum"]["additions"] == pytest.approx(rates["lif"] * 18)
    summary = ops_summary(net)
    assert summary["multiplications"] == 24
    assert summary["additions"] == pytest.approx(24 + rows["fc2"]["accumulates"] + rows["sum"]["additions"])
    assert 0.5 < summary["addition_share"] < 1


@pytest.mark.parametrize("surrogate", ["sigmoid", "atan"])
@pytest.mark.parametrize("detach_reset", [True, False])
def test_fused_sequence_gradient_equals_per_step_autograd(surrogate, detach_reset):
    """forward() back-propagates through time by hand; it must equal autograd through step()."""
    torch.manual_seed(0)
    x = (torch.randn(7, 4, 5, dtype=torch.float64) * 1.5).requires_grad_()
    w = torch.randn(7, 4, 5, dtype=torch.float64)
    lif = LIF(tau=3.0, threshold=0.8, surrogate=surrogate, detach_reset=detach_reset)
    s = lif(x)
    (s * w).sum().backward()
    fused = x.grad.clone()
    x.grad = None
    v, ref = None, []
    for t in range(7):
        st, v = lif.step(x[t], v)
        ref.append(st)
    ref = torch.stack(ref)
    assert torch.equal(ref, s)
    (ref * w).sum().backward()
    assert torch.allclose(fused, x.grad, atol=1e-12)
    assert fused.abs().sum() > 0
