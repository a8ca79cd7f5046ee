"""Small building blocks shared by the families."""

from __future__ import annotations

import torch
from torch import nn


def low_rank(in_features: int, out_features: int, r: float) -> int:
    """The bottleneck width of a low-rank linear: ``max(1, round(r * min(in, out)))``."""
    return max(1, round(r * min(in_features, out_features)))


class LowRankLinear(nn.Module):
    """A linear layer factorised as in MCUFormer: in -> k -> out with ``k = round(r * min(in, out))``.

    For ``r >= 1`` (or when the factorisation would not save parameters) it is one ``nn.Linear``
    (``self.full``); otherwise two: ``self.down`` (no bias) then ``self.up`` (with bias).
    """

    def __init__(self, in_features: int, out_features: int, r: float = 1.0, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        k = low_rank(in_features, out_features, r)
        self.rank: int | None = None
        if r >= 1.0 or k * (in_features + out_features) >= in_features * out_features:
            self.full = nn.Linear(in_features, out_features, bias=bias)
        else:
            self.rank = k
            self.down = nn.Linear(in_features, k, bias=False)
            self.up = nn.Linear(k, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rank is None:
            return self.full(x)
        return self.up(self.down(x))

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, rank={self.rank or 'full'}"
