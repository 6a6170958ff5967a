"""L-inf PGD (Madry et al., ICLR 2018, arXiv:1706.06083): k signed steps with projection."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dfrobust.attacks.base import (
    AttackResult,
    Model,
    check_count,
    check_inputs,
    check_loss,
    project,
    query,
    scored,
    spent,
    uniform,
)
from dfrobust.attacks.eot import check_eot, eot_generator, eot_loss_and_grad
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
    eot: int = 1,
    eot_transforms: Sequence[str] | None = None,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """L-inf PGD on the BCE (or margin) loss.

    Args:
        alpha: step size; default 2.5 * eps / steps, so the steps can cross the ball.
        restarts: independent runs; per sample the one with the lowest margin is kept.
        random_start: start from U(-eps, eps) noise instead of ``x``.
        loss: ``bce`` or ``margin``.
        eot, eot_transforms: each step follows the mean gradient over ``eot`` random
            transformations (JPEG, blur, resize, noise by default when ``eot > 1``; see
            :mod:`dfrobust.attacks.eot`), so the perturbation survives re-encoding.

    Queries: ``steps * restarts * eot`` gradient evaluations per sample.
    """
    eps, steps, restarts = check_eps(eps), check_count(steps, "steps"), check_count(restarts, "restarts")
    alpha = 2.5 * eps / steps if alpha is None else check_eps(alpha, "alpha")
    check_loss(loss)
    eot, transforms = check_eot(eot, eot_transforms)
    check_inputs(x, y, generator)
    generator = eot_generator(generator, x, transforms)  # None stays None without EOT draws
    x0 = x.detach().float()
    best, best_margin = x0, torch.full(y.shape, math.inf, device=x.device)
    for _ in range(restarts):
        x_adv = project(x0 + uniform(x0, eps, generator), x0, eps) if random_start else x0
        for _ in range(steps):
            grad = eot_loss_and_grad(model, x_adv, y, loss, eot=eot, transforms=transforms, generator=generator)[2]
            x_adv = project(x_adv + alpha * grad.sign(), x0, eps)
        if restarts == 1:
            best = x_adv
            break
        run_margin = query(model, x_adv, y)[1]
        best = torch.where((run_margin < best_margin)[:, None, None, None], x_adv, best)
        best_margin = torch.minimum(run_margin, best_margin)
    return scored(model, best, y, spent(len(y), steps * restarts * eot, x.device), x.dtype)
