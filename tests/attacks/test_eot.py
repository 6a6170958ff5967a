"""EOT: the plain attack when off, a differentiable JPEG close to libjpeg, reproducible draws."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dfrobust.attacks import fgsm, pgd
from dfrobust.attacks.base import loss_and_grad
from dfrobust.attacks.eot import (
    DEFAULT_TRANSFORMS,
    TRANSFORMS,
    check_eot,
    eot_loss_and_grad,
    jpeg,
    quantisation_tables,
    soft_round,
)
from dfrobust.errors import DfrobustError
from tinymodels import TinyCNN, tiny_data


def _smooth_images(n: int = 2, h: int = 40, w: int = 52, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand((n, 3, h // 4, w // 4), generator=g), size=(h, w), mode="bilinear")


def _pil_jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    out = []
    for image in x:
        buf = io.BytesIO()
        Image.fromarray((image * 255).round().byte().permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        out.append(torch.from_numpy(np.asarray(Image.open(buf).convert("RGB")).copy()).permute(2, 0, 1))
    return torch.stack(out).float() / 255


def test_eot_one_draw_without_transformation_is_the_plain_attack(model: TinyCNN) -> None:
    x, y = tiny_data(32, seed=5)
    plain = pgd(model, x, y, eps=0.1, steps=5, generator=torch.Generator().manual_seed(3))
    with_eot = pgd(model, x, y, eps=0.1, steps=5, eot=1, eot_transforms=(), generator=torch.Generator().manual_seed(3))
    assert torch.equal(plain.x_adv, with_eot.x_adv) and torch.equal(plain.queries, with_eot.queries)
    assert torch.equal(fgsm(model, x, y, eps=0.1).x_adv, fgsm(model, x, y, eps=0.1, eot=1, eot_transforms=()).x_adv)
    for part, expected in zip(eot_loss_and_grad(model, x, y, eot=1, transforms=()), loss_and_grad(model, x, y)):
        assert torch.equal(part, expected)


def test_eot_is_reproducible_in_budget_and_counts_queries(model: TinyCNN) -> None:
    x, y = tiny_data(16, seed=6)
    runs = [pgd(model, x, y, eps=0.1, steps=3, eot=4, generator=torch.Generator().manual_seed(1)) for _ in range(2)]
    assert torch.equal(runs[0].x_adv, runs[1].x_adv)
    assert (runs[0].x_adv - x).abs().max() <= 0.1 + 1e-6 and runs[0].x_adv.min() >= 0 and runs[0].x_adv.max() <= 1
    assert (runs[0].queries == 12).all()
    other = pgd(model, x, y, eps=0.1, steps=3, eot=4, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(runs[0].x_adv, other.x_adv)
    assert (fgsm(model, x, y, eps=0.1, eot=3).queries == 3).all()
    assert all(p.grad is None for p in model.parameters()) and not model.training


def test_eot_gradient_is_the_mean_over_draws(model: TinyCNN) -> None:
    x, y = tiny_data(8, seed=2)
    _, _, grad = eot_loss_and_grad(
        model, x, y, eot=3, transforms=("noise",), generator=torch.Generator().manual_seed(0)
    )
    g = torch.Generator().manual_seed(0)
    grads = [eot_loss_and_grad(model, x, y, eot=1, transforms=("noise",), generator=g)[2] for _ in range(3)]
    torch.testing.assert_close(grad, torch.stack(grads).mean(0))


@pytest.mark.parametrize("quality", [50, 75, 90])
def test_differentiable_jpeg_is_close_to_libjpeg(quality: int) -> None:
    x = _smooth_images()
    ours, theirs = jpeg(x, quality), _pil_jpeg(x, quality)
    assert ours.shape == x.shape
    # Much closer to the real codec than the input is: the approximation removes what JPEG removes.
    assert (ours - theirs).abs().mean() < 0.3 * (x - theirs).abs().mean()
    assert (ours - theirs).abs().mean() < 3 / 255


def test_jpeg_tables_and_soft_round() -> None:
    luma, chroma = quantisation_tables(50)
    assert luma[0, 0] == 16 and chroma[0, 0] == 17  # quality 50 is the base table
    assert quantisation_tables(100)[0].max() == 1
    with pytest.raises(DfrobustError, match="quality"):
        quantisation_tables(0)
    v = torch.tensor([0.4, 1.6, -2.2], requires_grad=True)
    out = soft_round(v)
    assert (out - torch.round(v)).abs().max() <= 0.125
    (grad,) = torch.autograd.grad(out.sum(), v)
    assert (grad > 0).all()  # unlike round(), a gradient flows


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transformations_keep_shape_range_and_pass_gradients(name: str) -> None:
    x = _smooth_images(h=24, w=24).requires_grad_(True)
    out = TRANSFORMS[name](x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.abs().sum() > 0


def test_check_eot_defaults_and_errors() -> None:
    assert check_eot(1) == (1, ())
    assert check_eot(8) == (8, DEFAULT_TRANSFORMS)
    assert check_eot(4, "jpeg, blur") == (4, ("jpeg", "blur"))
    assert check_eot(4, ()) == (4, ())
    with pytest.raises(DfrobustError, match="expected some of: jpeg"):
        check_eot(2, ["gif"])
    with pytest.raises(DfrobustError, match="eot"):
        check_eot(0)


def test_apgd_with_eot(model: TinyCNN) -> None:
    from dfrobust.attacks import apgd, apgd_margin

    x, y = tiny_data(16, seed=4)
    plain = apgd(model, x, y, eps=0.1, steps=5, generator=torch.Generator().manual_seed(0))
    same = apgd(model, x, y, eps=0.1, steps=5, eot=1, eot_transforms=(), generator=torch.Generator().manual_seed(0))
    assert torch.equal(plain.x_adv, same.x_adv) and torch.equal(plain.queries, same.queries)
    robust = apgd_margin(model, x, y, eps=0.1, steps=5, eot=3, generator=torch.Generator().manual_seed(0))
    assert (robust.x_adv - x).abs().max() <= 0.1 + 1e-6
    assert (robust.queries % 3 == 0).all() and robust.queries.max() <= 3 * 6


def test_auto_passes_eot_to_its_gradient_members(model: TinyCNN) -> None:
    from dfrobust.attacks import auto

    x, y = tiny_data(16, seed=4)
    result = auto(model, x, y, eps=0.05, members=("apgd", "square"), steps=3, n_queries=5, eot=2)
    apgd_stage = result.details["stages"][0]
    assert apgd_stage["attack"] == "apgd" and apgd_stage["queries"] % 2 == 0
    assert apgd_stage["queries"] <= 2 * 4 * apgd_stage["attacked"]
