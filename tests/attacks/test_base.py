"""The contract every registered attack keeps: budget, range, result type, model untouched, seeds."""

from __future__ import annotations

import pytest
import torch

from dfrobust.attacks import ATTACKS, AttackResult, fgsm, margin, pgd, square
from dfrobust.attacks.base import per_sample_loss
from dfrobust.errors import DfrobustError
from tinymodels import TinyCNN, tiny_data

EPS = 8 / 255
BUDGETS = {
    "square": {"n_queries": 30},
    "apgd": {"steps": 5},
    "apgd_margin": {"steps": 5},
    "auto": {"steps": 5, "n_queries": 30},
}


def _run(name: str, model: TinyCNN, x: torch.Tensor, y: torch.Tensor, seed: int = 0, **kw) -> AttackResult:
    """Any registered attack through the registry's one signature, with a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return ATTACKS[name].fn(model, x, y, eps=EPS, generator=g, **{**BUDGETS.get(name, {}), **kw})


@pytest.mark.parametrize("name", list(ATTACKS))
def test_result_stays_in_ball_and_range(model: TinyCNN, name: str) -> None:
    x, y = tiny_data()
    result = _run(name, model, x, y)
    x_adv = result.x_adv
    radius = 3 * EPS if name == "n_fgsm" else EPS  # N-FGSM: noise 2 eps + step eps, no projection
    assert isinstance(result, AttackResult)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert (x_adv - x).abs().max() <= radius + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert result.queries.shape == y.shape and result.queries.dtype == torch.long
    assert torch.equal(x_adv, x) == (name == "clean")  # every attack but clean changes something


@pytest.mark.parametrize("name", [n for n, spec in ATTACKS.items() if "eval" in spec.uses])
def test_eval_attacks_report_logits_and_success_of_their_result(model: TinyCNN, name: str) -> None:
    x, y = tiny_data()
    result = _run(name, model, x, y)
    with torch.no_grad():
        logits = model(result.x_adv)
    assert torch.allclose(result.logits, logits, atol=1e-5)
    assert torch.equal(result.success, margin(logits, y) <= 0)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_model_mode_parameters_and_grads_untouched(model: TinyCNN, name: str, training: bool) -> None:
    model.train(training)
    x, y = tiny_data()
    model.body[0].weight.grad = torch.full_like(model.body[0].weight, 0.5)  # a pre-existing grad
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    _run(name, model, x, y)
    assert all(m.training == training for m in model.modules())
    assert all(torch.equal(p, before[k]) for k, p in model.named_parameters())
    assert torch.equal(model.body[0].weight.grad, torch.full_like(model.body[0].weight, 0.5))
    assert all(p.grad is None for k, p in model.named_parameters() if k != "body.0.weight")


@pytest.mark.parametrize("name", ["pgd", "fgsm_rs", "n_fgsm", "square"])
def test_same_seed_same_result_other_seed_differs(model: TinyCNN, name: str) -> None:
    x, y = tiny_data()
    kw = {"steps": 1, "alpha": EPS / 4} if name == "pgd" else {}  # big steps all end in one corner
    first, again = (_run(name, model, x, y, seed=1, **kw).x_adv for _ in range(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, _run(name, model, x, y, seed=2, **kw).x_adv)


def test_attacks_never_touch_the_global_rng(model: TinyCNN) -> None:
    x, y = tiny_data()
    state = torch.get_rng_state()
    for name in ATTACKS:
        _run(name, model, x, y)
    assert torch.equal(torch.get_rng_state(), state)


def test_attacks_work_under_autocast(model: TinyCNN) -> None:
    x, y = tiny_data()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x_adv = pgd(model, x, y, eps=EPS, steps=2, generator=torch.Generator()).x_adv
    assert x_adv.dtype == torch.float32 and (x_adv - x).abs().max() <= EPS + 1e-6


def test_margin_loss_does_not_saturate_where_bce_does() -> None:
    logits = torch.tensor([200.0, -200.0])
    y = torch.tensor([1, 0])
    bce = per_sample_loss(logits.requires_grad_(True), y, "bce")
    (bce_grad,) = torch.autograd.grad(bce.sum(), logits)
    margin_loss = per_sample_loss(logits, y, "margin")
    (margin_grad,) = torch.autograd.grad(margin_loss.sum(), logits)
    assert (bce_grad == 0).all()  # sigmoid(200) - 1 underflows in float32
    assert torch.equal(margin_grad, torch.tensor([-1.0, 1.0]))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, x, y: fgsm(m, x, y, eps=8), "did you mean 8/255"),
        (lambda m, x, y: pgd(m, x, y, eps=-0.1), "Expected eps in [0, 1]"),
        (lambda m, x, y: pgd(m, x, y, eps=EPS, steps=0), "steps"),
        (lambda m, x, y: pgd(m, x, y, eps=EPS, loss="ce"), "Unknown loss 'ce'"),
        (lambda m, x, y: square(m, x, y, eps=EPS, n_queries=0), "n_queries"),
        (lambda m, x, y: fgsm(m, x * 255, y, eps=EPS), "images in [0, 1]"),
        (lambda m, x, y: fgsm(lambda t: m(t)[:, None], x, y, eps=EPS), "one logit per image"),
    ],
)
def test_clear_errors(model: TinyCNN, call, message: str) -> None:
    x, y = tiny_data()
    with pytest.raises(DfrobustError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call(model, x, y)


@pytest.mark.parametrize("name", ["pgd", "square", "apgd", "auto"])
def test_sample_generators_make_each_sample_independent_of_its_batch(name: str) -> None:
    from dfrobust.attacks import get_attack
    from dfrobust.attacks.base import SampleGenerators
    from tinymodels import tiny_data, trained_tiny_cnn

    model, (x, y) = trained_tiny_cnn().eval(), tiny_data(12)
    budgets = {
        "pgd": {"steps": 3},
        "square": {"n_queries": 40},
        "apgd": {"steps": 5},
        "auto": {"steps": 3, "n_queries": 20},
    }
    fn, seeds = get_attack(name).fn, [1000 + i for i in range(12)]
    whole = fn(model, x, y, eps=8 / 255, generator=SampleGenerators(seeds), **budgets[name])
    parts = [
        fn(model, x[s], y[s], eps=8 / 255, generator=SampleGenerators(seeds[s]), **budgets[name])
        for s in (slice(0, 5), slice(5, 12))
    ]
    assert torch.allclose(whole.x_adv, torch.cat([p.x_adv for p in parts]), atol=1e-6)
    assert torch.equal(whole.queries, torch.cat([p.queries for p in parts]))
    assert torch.equal(whole.success, torch.cat([p.success for p in parts]))
