"""The identity "attack": the clean condition, so evaluation treats every condition alike."""

from __future__ import annotations

import torch

from dfrobust.attacks.base import AttackResult, Model, check_inputs, scored, spent
from dfrobust.eps import check_eps


def clean(
    model: Model, x: torch.Tensor, y: torch.Tensor, *, eps: float = 0.0, generator: torch.Generator | None = None
) -> AttackResult:
    """``x`` unchanged, scored once; ``eps`` (checked like every budget) and ``generator`` are unused."""
    check_eps(eps)
    check_inputs(x, y, generator)
    return scored(model, x.detach(), y, spent(len(y), 0, x.device), x.dtype)
