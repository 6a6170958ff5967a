"""L-inf PGD (Madry et al., ICLR 2018, arXiv:1706.06083): k signed steps with projection."""

from __future__ import annotations

import math

import torch

from dfrobust.attacks.base import (
    AttackResult,
    Model,
    check_count,
    check_inputs,
    check_loss,
    input_grad,
    project,
    query,
    scored,
    spent,
    uniform,
)
from dfrobust.eps import check_eps


def pgd(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float | None = None,
    steps: int = 10,
    restarts: int = 1,
    random_start: bool = True,
    loss: str = "bce",
    generator: torch.Generator | None = None,
) -> AttackResult:
    """L-inf PGD on the BCE (or margin) loss.

    Args:
        alpha: step size; default 2.5 * eps / steps, so the steps can cross the ball.
        restarts: independent runs; per sample the one with the lowest margin is kept.
        random_start: start from U(-eps, eps) noise instead of ``x``.
        loss: ``bce`` or ``margin``.

    Queries: ``steps * restarts`` gradient evaluations per sample.
    """
    eps, steps, restarts = check_eps(eps), check_count(steps, "steps"), check_count(restarts, "restarts")
    alpha = 2.5 * eps / steps if alpha is None else check_eps(alpha, "alpha")
    check_loss(loss)
    check_inputs(x, y, generator)
    x0 = x.detach().float()
    best, best_margin = x0, torch.full(y.shape, math.inf, device=x.device)
    for _ in range(restarts):
        x_adv = project(x0 + uniform(x0, eps, generator), x0, eps) if random_start else x0
        for _ in range(steps):
            x_adv = project(x_adv + alpha * input_grad(model, x_adv, y, loss).sign(), x0, eps)
        if restarts == 1:
            best = x_adv
            break
        run_margin = query(model, x_adv, y)[1]
        best = torch.where((run_margin < best_margin)[:, None, None, None], x_adv, best)
        best_margin = torch.minimum(run_margin, best_margin)
    return scored(model, best, y, spent(len(y), steps * restarts, x.device), x.dtype)
