"""APGD: the paper's checkpoints, at least PGD's strength, seeded, and the saturation case."""

from __future__ import annotations

import pytest
import torch

from dfrobust.attacks import apgd, apgd_margin, margin, pgd
from dfrobust.attacks.apgd import checkpoints
from dfrobust.errors import DfrobustError
from tinymodels import ScaledLogits, TinyCNN, tiny_data

EPS = 0.15  # the tiny model's images differ by 0.3 in brightness: about half its frames break


def _robust_accuracy(result) -> float:
    return 1 - result.success.float().mean().item()


def test_checkpoint_schedule_is_the_papers() -> None:
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99: w_j = ceil(p_j * steps)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(1000) == [220, 410, 570, 700, 800, 870, 930, 990]
    assert checkpoints(10) == [3, 5, 6, 7, 8, 9, 10]  # repeats dropped
    assert checkpoints(1) == [1]


def test_apgd_at_least_as_strong_as_pgd10(model: TinyCNN) -> None:
    x, y = tiny_data(48, seed=7)
    for eps in (0.1, EPS):
        by_pgd = pgd(model, x, y, eps=eps, steps=10, generator=torch.Generator().manual_seed(0))
        by_apgd = apgd(model, x, y, eps=eps, steps=50, generator=torch.Generator().manual_seed(0))
        assert _robust_accuracy(by_apgd) <= _robust_accuracy(by_pgd)
        resisted = ~by_apgd.success
        assert (by_apgd.queries[resisted] == 51).all()  # 50 steps + the start's gradient
        assert (by_apgd.queries[~resisted] < 51).all()  # a fooled sample stops
    assert _robust_accuracy(by_apgd) < 0.9  # it bites at this eps


def test_apgd_returns_the_lowest_margin_it_saw(model: TinyCNN) -> None:
    x, y = tiny_data(32, seed=7)
    result = apgd(model, x, y, eps=EPS, steps=10, loss="margin", generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        start = margin(model(x), y)
    # the lowest margin seen is never above what the model gives near the clean frame by much
    assert (margin(result.logits, y) <= start + 1e-4).float().mean() > 0.9


def test_restarts_only_help_and_count_their_queries(model: TinyCNN) -> None:
    x, y = tiny_data(32, seed=7)
    once = apgd(model, x, y, eps=EPS, steps=10, generator=torch.Generator().manual_seed(0))
    thrice = apgd(model, x, y, eps=EPS, steps=10, restarts=3, generator=torch.Generator().manual_seed(0))
    assert _robust_accuracy(thrice) <= _robust_accuracy(once)
    fooled_first = once.success
    assert (thrice.queries[fooled_first] <= 11).all()  # fooled in the first run: no restart
    assert ((thrice.queries[~fooled_first] > 11) | thrice.success[~fooled_first]).all()


def test_same_generator_same_result_other_seed_differs(model: TinyCNN) -> None:
    x, y = tiny_data()
    first, again, other = (
        apgd_margin(model, x, y, eps=EPS, steps=5, generator=torch.Generator().manual_seed(s)).x_adv for s in (1, 1, 2)
    )
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_margin_wrapper_is_apgd_on_the_margin_loss(model: TinyCNN) -> None:
    x, y = tiny_data()
    a = apgd_margin(model, x, y, eps=EPS, steps=5, generator=torch.Generator().manual_seed(0))
    b = apgd(model, x, y, eps=EPS, steps=5, loss="margin", generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.x_adv, b.x_adv)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"rho": 0.0}, "rho"), ({"steps": 0}, "steps"), ({"restarts": 0}, "restarts"), ({"loss": "ce"}, "Unknown loss")],
)
def test_clear_errors(model: TinyCNN, kwargs: dict, message: str) -> None:
    x, y = tiny_data()
    with pytest.raises(DfrobustError, match=message):
        apgd(model, x, y, eps=EPS, **kwargs)


def test_saturated_detector_fools_bce_attacks_but_not_the_margin(model: TinyCNN) -> None:
    """Logits x 1e4: same decisions, but sigmoid(z) - y is exactly 0 in float32 for nearly
    every frame, so BCE attacks stand still and report the clean accuracy as robust."""
    x, y = tiny_data(48, seed=7)
    saturated = ScaledLogits(model, 1e4)
    clean = (margin(saturated(x).detach(), y) > 0).float().mean().item()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    reference = _robust_accuracy(apgd(model, x, y, eps=EPS, steps=20, loss="margin", generator=g()))
    by_pgd = _robust_accuracy(pgd(saturated, x, y, eps=EPS, steps=10, generator=g()))
    by_apgd = _robust_accuracy(apgd(saturated, x, y, eps=EPS, steps=20, generator=g()))
    by_margin = _robust_accuracy(apgd_margin(saturated, x, y, eps=EPS, steps=20, generator=g()))
    assert clean > 0.9 and reference < clean - 0.3  # the unscaled model does break
    assert by_pgd >= clean - 0.05 and by_apgd >= clean - 0.05  # BCE: robust accuracy ~ clean
    assert by_margin <= reference + 0.05  # the margin loss sees through the scaling
