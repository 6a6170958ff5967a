"""The identity "attack": the clean condition, so evaluation treats every condition alike."""

from __future__ import annotations

import torch

from dfrobust.attacks.base import AttackResult, Model, check_inputs, scored, spent


def clean(
    model: Model, x: torch.Tensor, y: torch.Tensor, *, eps: float = 0.0, generator: torch.Generator | None = None
) -> AttackResult:
    """``x`` unchanged, scored once; ``eps`` and ``generator`` are accepted and ignored."""
    check_inputs(x, y, generator)
    return scored(model, x.detach(), y, spent(len(y), 0, x.device), x.dtype)
