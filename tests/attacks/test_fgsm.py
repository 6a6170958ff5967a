"""FGSM and the training attacks FGSM-RS and N-FGSM."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dfrobust.attacks import fgsm, fgsm_rs, n_fgsm
from tinymodels import TinyCNN, tiny_data

EPS = 8 / 255


def test_fgsm_is_one_signed_step_of_size_eps(model: TinyCNN) -> None:
    x, y = tiny_data()
    result = fgsm(model, x, y, eps=EPS)
    inside = (x > EPS) & (x < 1 - EPS)  # pixels that no clipping touched
    assert torch.allclose((result.x_adv - x).abs()[inside], torch.full_like(x[inside], EPS), atol=1e-6)
    assert (result.queries == 1).all() and result.logits is not None


def test_fgsm_rs_step_trains(model: TinyCNN) -> None:
    """The training use: attack in train mode, then a normal backward on the result."""
    model.train()
    x, y = tiny_data()
    result = fgsm_rs(model, x, y, eps=EPS, generator=torch.Generator())
    assert result.logits is None and result.success is None  # no forward in train mode
    F.binary_cross_entropy_with_logits(model(result.x_adv), y.float()).backward()
    assert model.body[0].weight.grad is not None and model.body[0].weight.grad.abs().sum() > 0


def test_fgsm_rs_default_step_is_1_25_eps() -> None:
    """A model whose input gradient sign is +1 everywhere: delta = clip(start + alpha, -eps, eps)."""
    x = torch.full((4, 3, 8, 8), 0.5)
    y = torch.ones(4, dtype=torch.long)
    model = lambda t: -t.sum(dim=(1, 2, 3))  # noqa: E731 - BCE towards label 1: gradient sign +1
    delta = fgsm_rs(model, x, y, eps=EPS, generator=torch.Generator()).x_adv - x
    # Starts U(-eps, eps) plus 1.25 eps: all >= 0.25 eps, and the 5/8 that started above -0.25 eps
    # end at +eps (with alpha = eps only half would).
    assert (delta >= 0.25 * EPS - 1e-6).all() and (delta <= EPS + 1e-6).all()
    assert 0.58 < (delta > EPS - 1e-6).float().mean() < 0.67


def test_n_fgsm_leaves_the_eps_ball() -> None:
    torch.manual_seed(0)
    model = TinyCNN().eval()
    x = torch.full((16, 3, 8, 8), 0.5)
    y = torch.ones(16, dtype=torch.long)
    delta = (n_fgsm(model, x, y, eps=EPS, generator=torch.Generator()).x_adv - x).abs().max()
    assert EPS + 1e-6 < delta <= 3 * EPS + 1e-6
