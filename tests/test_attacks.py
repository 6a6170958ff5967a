"""Attack invariants on a tiny CNN: budget, range, model untouched, seeds, Square's bookkeeping."""

from __future__ import annotations

import functools
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dfrobust.attacks import (
    ATTACKS,
    _draw_squares,
    _square_side,
    _square_windows,
    check_eps,
    fgsm,
    fgsm_rs,
    get_attack,
    margin,
    n_fgsm,
    pgd,
    preflight_check,
    square,
)
from dfrobust.errors import DfrobustError

EPS = 8 / 255


class TinyCNN(nn.Module):
    """Conv, BatchNorm, dropout, one logit: enough for mode and buffer effects to show."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
            nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)


def _data(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose fakes are brighter, with pixels exactly at and near 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = (0.35 * torch.rand((n, 3, 8, 8), generator=g) + 0.3 * y[:, None, None, None] + 0.2)
    x[:, 0, 0, :4] = torch.tensor([0.0, 1.0, 1e-3, 1 - 1e-3])
    return x.clamp(0, 1), y


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: thread start-up costs more than it saves (20x on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.lru_cache(maxsize=1)
def _trained_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = TinyCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for step in range(60):
        x, y = _data(64, seed=100 + step)
        loss = F.binary_cross_entropy_with_logits(model(x), y.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def model() -> TinyCNN:
    """A fresh copy of the trained tiny CNN, in eval mode."""
    net = TinyCNN()
    net.load_state_dict(_trained_state())
    return net.eval()


def _run(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0, **kw) -> torch.Tensor:
    """Call any attack by name with a seeded generator; Square's result reduced to x_adv."""
    g = torch.Generator().manual_seed(seed)
    if name == "square":
        return square(model, x, y, eps=EPS, n_queries=kw.pop("n_queries", 30), generator=g, **kw).x_adv
    if name == "fgsm":
        return fgsm(model, x, y, eps=EPS, **kw)
    return ATTACKS[name](model, x, y, eps=EPS, generator=g, **kw)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_result_stays_in_ball_and_range(model: TinyCNN, name: str) -> None:
    x, y = _data()
    x_adv = _run(name, model, x, y)
    radius = 3 * EPS if name == "n_fgsm" else EPS  # N-FGSM: noise 2 eps + step eps, no projection
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert (x_adv - x).abs().max() <= radius + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert not torch.equal(x_adv, x)  # it did something


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_model_mode_parameters_and_grads_untouched(model: TinyCNN, name: str, training: bool) -> None:
    model.train(training)
    x, y = _data()
    model.body[0].weight.grad = torch.full_like(model.body[0].weight, 0.5)  # a pre-existing grad
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    _run(name, model, x, y)
    assert all(m.training == training for m in model.modules())
    assert all(torch.equal(p, before[k]) for k, p in model.named_parameters())
    assert torch.equal(model.body[0].weight.grad, torch.full_like(model.body[0].weight, 0.5))
    assert all(p.grad is None for k, p in model.named_parameters() if k != "body.0.weight")


@pytest.mark.parametrize("name", ["pgd", "fgsm_rs", "n_fgsm", "square"])
def test_same_seed_same_result_other_seed_differs(model: TinyCNN, name: str) -> None:
    x, y = _data()
    kw = {"steps": 1, "alpha": EPS / 4} if name == "pgd" else {}  # big steps all end in one corner
    assert torch.equal(_run(name, model, x, y, seed=1, **kw), _run(name, model, x, y, seed=1, **kw))
    assert not torch.equal(_run(name, model, x, y, seed=1, **kw), _run(name, model, x, y, seed=2, **kw))


def test_square_bookkeeping(model: TinyCNN) -> None:
    x, y = _data(32)
    y[:4] = 1 - y[:4]  # four samples misclassified on clean input
    clean = margin(model(x), y).detach()
    result = square(model, x, y, eps=0.3, n_queries=40, seed=0)
    adv = margin(model(result.x_adv), y).detach()
    attacked = clean > 0
    assert result.queries.dtype == torch.long and result.success.dtype == torch.bool
    assert (result.queries <= 40).all() and (result.queries[attacked] >= 1).all()
    assert (result.queries[~attacked] == 0).all() and not result.success[~attacked].any()
    assert torch.equal(result.x_adv[~attacked], x[~attacked])
    assert result.success.any() and (adv[result.success] <= 1e-5).all()
    assert (adv[attacked & ~result.success] > 0).all()
    assert (result.queries[attacked & ~result.success] == 40).all()  # unfooled: whole budget
    assert (adv[attacked] <= clean[attacked] + 1e-5).all()  # only improvements were kept
    assert not result.x_adv.is_inference()  # usable in autograd afterwards


def test_square_fooled_samples_stop_early(model: TinyCNN) -> None:
    x, y = _data(32)
    attacked = margin(model(x), y) > 0
    result = square(model, x, y, eps=0.5, n_queries=200, seed=0)
    assert torch.equal(result.success, attacked) and (result.queries < 200).all()


def test_square_schedule_matches_reference() -> None:
    # p_init 0.8, 10,000 queries, 64 x 64: p halves after iterations 10, 50, 200, ...
    sides = [_square_side(0.8, it, 10_000, 64, 64) for it in (0, 10, 11, 50, 51, 9000)]
    assert sides == [57, 57, 40, 40, 29, 3]
    assert _square_side(0.8, 1, 300, 64, 64) == 40  # schedule rescaled to a 300-query budget
    assert _square_side(1.0, 0, 100, 8, 8) == 7  # never the whole image


def test_square_windows_are_in_image_squares_with_one_sign_per_channel() -> None:
    g = torch.Generator().manual_seed(0)
    sample, rows, cols = _square_windows(500, 8, 6, 3, g, torch.device("cpu"))
    assert rows.min() >= 0 and rows.max() <= 7 and cols.min() >= 0 and cols.max() <= 5
    assert (rows[:, 1:] - rows[:, :-1] == 1).all() and (cols[:, :, 1:] - cols[:, :, :-1] == 1).all()
    assert len(set(rows[:, 0, 0].tolist())) == 5 and len(set(cols[:, 0, 0].tolist())) == 3  # all starts
    lo, hi = torch.zeros(500, 3, 3, 2), torch.ones(500, 3, 3, 2)
    new = _draw_squares(lo, hi, old=torch.ones(500, 3, 3, 2), generator=g)
    assert (new == new[:, :1, :1, :]).all()  # each channel of a window is all lo or all hi
    assert not (new == 1).all(dim=(1, 2, 3)).any()  # no-op proposals were redrawn


def test_pgd_at_least_as_strong_as_fgsm(model: TinyCNN) -> None:
    x, y = _data(128, seed=7)
    eps = 0.15
    assert (margin(model(x), y) > 0).float().mean() > 0.9  # the tiny model learnt the task

    def robust_accuracy(x_adv: torch.Tensor) -> float:
        return (margin(model(x_adv), y) > 0).float().mean().item()

    acc_fgsm = robust_accuracy(fgsm(model, x, y, eps=eps))
    acc_pgd = robust_accuracy(pgd(model, x, y, eps=eps, steps=10, generator=torch.Generator().manual_seed(0)))
    acc_pgd_restarts = robust_accuracy(pgd(model, x, y, eps=eps, restarts=3, generator=torch.Generator()))
    assert acc_pgd <= acc_fgsm and acc_pgd_restarts <= acc_pgd + 1e-9
    assert acc_pgd < 0.9  # the attack does bite at this eps


def test_pgd_matches_torchattacks(model: TinyCNN) -> None:
    torchattacks = pytest.importorskip("torchattacks")
    from dfrobust.models import TwoLogitAdapter

    x, y = _data(128, seed=3)
    eps, steps = 0.1, 10
    ours = pgd(model, x, y, eps=eps, steps=steps, alpha=2.5 * eps / steps, generator=torch.Generator())
    torch.manual_seed(0)
    theirs = torchattacks.PGD(TwoLogitAdapter(model).eval(), eps=eps, alpha=2.5 * eps / steps, steps=steps)(x, y)
    acc = [(margin(model(x_adv), y) > 0).float().mean().item() for x_adv in (ours, theirs)]
    assert abs(acc[0] - acc[1]) <= 0.05
    assert not model.training  # torchattacks put it back too


def test_attacks_work_under_autocast(model: TinyCNN) -> None:
    x, y = _data()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x_adv = pgd(model, x, y, eps=EPS, steps=2, generator=torch.Generator())
    assert x_adv.dtype == torch.float32 and (x_adv - x).abs().max() <= EPS + 1e-6


def test_fgsm_rs_step_trains(model: TinyCNN) -> None:
    """The training use: attack in train mode, then a normal backward on the result."""
    model.train()
    x, y = _data()
    x_adv = fgsm_rs(model, x, y, eps=EPS, generator=torch.Generator())
    F.binary_cross_entropy_with_logits(model(x_adv), y.float()).backward()
    assert model.body[0].weight.grad is not None and model.body[0].weight.grad.abs().sum() > 0


def test_n_fgsm_leaves_the_eps_ball() -> None:
    torch.manual_seed(0)
    model = TinyCNN().eval()
    x = torch.full((16, 3, 8, 8), 0.5)
    y = torch.ones(16, dtype=torch.long)
    delta = (n_fgsm(model, x, y, eps=EPS, generator=torch.Generator()) - x).abs().max()
    assert EPS + 1e-6 < delta <= 3 * EPS + 1e-6


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, x, y: fgsm(m, x, y, eps=8), "did you mean 8/255"),
        (lambda m, x, y: pgd(m, x, y, eps=-0.1), "Expected eps in [0, 1]"),
        (lambda m, x, y: pgd(m, x, y, eps=EPS, steps=0), "steps"),
        (lambda m, x, y: square(m, x, y, eps=EPS, n_queries=0), "n_queries"),
        (lambda m, x, y: fgsm(m, x * 255, y, eps=EPS), "images in [0, 1]"),
        (lambda m, x, y: fgsm(lambda t: m(t)[:, None], x, y, eps=EPS), "one logit per image"),
        (lambda m, x, y: get_attack("cw"), "fgsm, pgd, square, fgsm_rs, n_fgsm"),
    ],
)
def test_clear_errors(model: TinyCNN, call, message: str) -> None:
    x, y = _data()
    with pytest.raises(DfrobustError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call(model, x, y)


def test_check_eps_and_registry() -> None:
    assert check_eps(0) == 0.0 and check_eps(1) == 1.0
    assert get_attack("pgd") is pgd and set(ATTACKS) == {"fgsm", "pgd", "square", "fgsm_rs", "n_fgsm"}


def test_preflight_warns_on_probabilities_and_zero_gradients(model: TinyCNN) -> None:
    x, y = _data()
    with pytest.warns(UserWarning, match="probabilities"):
        preflight_check(lambda t: torch.sigmoid(model(t)), x, y)
    with pytest.warns(UserWarning, match="gradients are all zero"):
        preflight_check(lambda t: model(torch.round(t)), x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        preflight_check(model, x, y)
