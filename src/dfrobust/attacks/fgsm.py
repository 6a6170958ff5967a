"""One-step attacks: FGSM for evaluation, FGSM-RS and N-FGSM for fast adversarial training.

The training attacks run in the caller's train mode and return no logits (an extra
forward in train mode would move BatchNorm statistics); the training step scores them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dfrobust.attacks.base import AttackResult, Model, check_inputs, input_grad, project, scored, spent, uniform
from dfrobust.attacks.eot import check_eot, eot_generator, eot_loss_and_grad
from dfrobust.eps import check_eps


def fgsm(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    eot: int = 1,
    eot_transforms: Sequence[str] | None = None,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """FGSM (Goodfellow et al., ICLR 2015, arXiv:1412.6572): one signed-gradient step of size eps.

    Deterministic without EOT (``generator`` is then unused). ``eot``, ``eot_transforms``: the
    step follows the mean gradient over random transformations (:mod:`dfrobust.attacks.eot`).
    Queries: ``eot`` gradient evaluations per sample.
    """
    eps = check_eps(eps)
    eot, transforms = check_eot(eot, eot_transforms)
    check_inputs(x, y, generator)
    x0 = x.detach().float()
    generator = eot_generator(generator, x, transforms)
    grad = eot_loss_and_grad(model, x0, y, eot=eot, transforms=transforms, generator=generator)[2]
    x_adv = project(x0 + eps * grad.sign(), x0, eps)
    return scored(model, x_adv, y, spent(len(y), eot, x.device), x.dtype)


def fgsm_rs(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float | None = None,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """FGSM with a random start, the FGSM-RS training attack (Wong, Rice, Kolter, ICLR 2020).

    Same order as fast_adversarial's ``train_fgsm.py``: uniform start in the eps-ball, keep
    ``x + delta`` in [0, 1], one step ``alpha * sign(grad)`` on delta, project to the ball
    and [0, 1]. Called from ``training_step`` with the model in train mode (the caller's).

    Args:
        alpha: step size; default 1.25 * eps, the paper's choice.
    """
    eps = check_eps(eps)
    alpha = 1.25 * eps if alpha is None else check_eps(alpha, "alpha")
    check_inputs(x, y, generator)
    x0 = x.detach().float()
    delta = uniform(x0, eps, generator)
    delta = (x0 + delta).clamp(0, 1) - x0
    grad = input_grad(model, x0 + delta, y)  # d loss / d delta == d loss / d input
    delta = (delta + alpha * grad.sign()).clamp(-eps, eps)
    return AttackResult(project(x0 + delta, x0, eps).to(x.dtype), spent(len(y), 1, x.device))


def n_fgsm(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float | None = None,
    noise: float | None = None,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """N-FGSM (de Jorge et al., NeurIPS 2022, arXiv:2202.01181, "Make some noise").

    Stronger noise U(-2 eps, 2 eps), a step alpha = eps and *no* projection back to the
    eps-ball: the result lies in the (noise + alpha)-ball around ``x``, clipped to [0, 1].
    """
    eps = check_eps(eps)
    alpha = eps if alpha is None else check_eps(alpha, "alpha")
    noise = 2 * eps if noise is None else check_eps(noise, "noise")
    check_inputs(x, y, generator)
    x0 = x.detach().float()
    x_noisy = (x0 + uniform(x0, noise, generator)).clamp(0, 1)
    x_adv = x_noisy + alpha * input_grad(model, x_noisy, y).sign()
    return AttackResult(x_adv.clamp(0, 1).detach().to(x.dtype), spent(len(y), 1, x.device))
