"""PGD: stronger than FGSM, restarts never hurt, parity with torchattacks, margin loss."""

from __future__ import annotations

import pytest
import torch

from dfrobust.attacks import fgsm, margin, pgd
from tinymodels import TinyCNN, tiny_data


def _robust_accuracy(model: TinyCNN, x_adv: torch.Tensor, y: torch.Tensor) -> float:
    return (margin(model(x_adv), y) > 0).float().mean().item()


def test_pgd_at_least_as_strong_as_fgsm(model: TinyCNN) -> None:
    x, y = tiny_data(128, seed=7)
    eps = 0.15
    assert (margin(model(x), y) > 0).float().mean() > 0.9  # the tiny model learnt the task
    acc_fgsm = _robust_accuracy(model, fgsm(model, x, y, eps=eps).x_adv, y)
    acc_pgd = _robust_accuracy(model, pgd(model, x, y, eps=eps, steps=10, generator=torch.Generator()).x_adv, y)
    with_restarts = pgd(model, x, y, eps=eps, restarts=3, generator=torch.Generator())
    assert acc_pgd <= acc_fgsm and _robust_accuracy(model, with_restarts.x_adv, y) <= acc_pgd + 1e-9
    assert acc_pgd < 0.9  # the attack does bite at this eps
    assert (with_restarts.queries == 30).all()  # 10 gradient evaluations x 3 restarts


def test_pgd_margin_loss_breaks_as_much_as_bce(model: TinyCNN) -> None:
    x, y = tiny_data(128, seed=7)
    bce = pgd(model, x, y, eps=0.15, generator=torch.Generator().manual_seed(0))
    by_margin = pgd(model, x, y, eps=0.15, loss="margin", generator=torch.Generator().manual_seed(0))
    assert by_margin.success.float().mean() >= bce.success.float().mean() - 0.05


def test_pgd_matches_torchattacks(model: TinyCNN) -> None:
    torchattacks = pytest.importorskip("torchattacks")
    from dfrobust.models import TwoLogitAdapter

    x, y = tiny_data(128, seed=3)
    eps, steps = 0.1, 10
    ours = pgd(model, x, y, eps=eps, steps=steps, alpha=2.5 * eps / steps, generator=torch.Generator()).x_adv
    torch.manual_seed(0)
    theirs = torchattacks.PGD(TwoLogitAdapter(model).eval(), eps=eps, alpha=2.5 * eps / steps, steps=steps)(x, y)
    acc = [_robust_accuracy(model, x_adv, y) for x_adv in (ours, theirs)]
    assert abs(acc[0] - acc[1]) <= 0.05
    assert not model.training  # torchattacks put it back too
