"""A tiny trained one-logit CNN and its toy data, shared by the attack and evaluation tests."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


class TinyCNN(nn.Module):
    """Conv, BatchNorm, dropout, one logit: enough for mode and buffer effects to show."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(16, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)


class ScaledLogits(nn.Module):
    """A detector with its logits times ``factor``: the same decisions, but BCE's gradient
    ``sigmoid(z) - y`` underflows to 0 in float32 once ``|z|`` is large (a saturated detector)."""

    def __init__(self, model: nn.Module, factor: float) -> None:
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * self.factor


def tiny_data(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose fakes are brighter, with pixels exactly at and near 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 0.35 * torch.rand((n, 3, 8, 8), generator=g) + 0.3 * y[:, None, None, None] + 0.2
    x[:, 0, 0, :4] = torch.tensor([0.0, 1.0, 1e-3, 1 - 1e-3])
    return x.clamp(0, 1), y


@functools.lru_cache(maxsize=1)
def _trained_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = TinyCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for step in range(60):
        x, y = tiny_data(64, seed=100 + step)
        loss = F.binary_cross_entropy_with_logits(model(x), y.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def trained_tiny_cnn() -> TinyCNN:
    """A fresh copy of the trained tiny CNN, in eval mode."""
    net = TinyCNN()
    net.load_state_dict(_trained_state())
    return net.eval()
