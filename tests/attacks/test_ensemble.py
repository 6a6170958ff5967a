"""The ``auto`` ensemble: worst case of its members, who broke each frame, per-stage numbers."""

from __future__ import annotations

import pytest
import torch

from dfrobust.attacks import apgd, apgd_margin, auto, margin, square
from dfrobust.errors import DfrobustError
from tinymodels import ScaledLogits, TinyCNN, tiny_data

EPS = 0.15
BUDGET = {"steps": 10, "n_queries": 100}


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_stages_broken_by_and_result_agree(model: TinyCNN) -> None:
    x, y = tiny_data(48, seed=7)
    x[0] = 1 - x[0]  # one frame the model gets wrong on clean input
    result = auto(model, x, y, eps=EPS, generator=_gen(), **BUDGET)
    broken_by, stages = result.details["broken_by"], result.details["stages"]
    clean_wrong = (margin(model(x).detach(), y) <= 0).tolist()
    assert [s["attack"] for s in stages] == ["apgd", "apgd_margin", "square"]
    assert len(broken_by) == len(y) and set(broken_by) <= {"", "clean", "apgd", "apgd_margin", "square"}
    assert [b == "clean" for b in broken_by] == clean_wrong and any(clean_wrong)
    assert [b == "" for b in broken_by] == (~result.success).tolist()  # robust = every member failed
    robust = [s["robust"] for s in stages]
    assert robust == sorted(robust, reverse=True)  # a stage can only break more
    assert stages[0]["attacked"] == len(y) - sum(clean_wrong)
    assert all(later["attacked"] == earlier["robust"] for earlier, later in zip(stages, stages[1:]))
    assert stages[-1]["robust_accuracy"] == pytest.approx(1 - result.success.float().mean().item())
    first = torch.tensor([b == "apgd" for b in broken_by])
    assert (result.queries[first] <= 11).all()  # broken by the first member: at most 10 steps + start
    assert (result.queries[~result.success] > 11).all()  # robust frames went through every member
    assert stages[0]["queries"] <= 11 * stages[0]["attacked"]
    assert (result.x_adv - x).abs().max() <= EPS + 1e-6


def test_ensemble_at_least_as_strong_as_its_strongest_member(model: TinyCNN) -> None:
    x, y = tiny_data(48, seed=7)
    ensemble = 1 - auto(model, x, y, eps=0.12, generator=_gen(), **BUDGET).success.float().mean().item()
    alone = [
        apgd(model, x, y, eps=0.12, steps=10, generator=_gen()),
        apgd_margin(model, x, y, eps=0.12, steps=10, generator=_gen()),
        square(model, x, y, eps=0.12, n_queries=100, generator=_gen()),
    ]
    assert ensemble <= min(1 - r.success.float().mean().item() for r in alone) + 1 / 48


def test_members_and_order_are_configurable(model: TinyCNN) -> None:
    x, y = tiny_data(32, seed=7)
    result = auto(model, x, y, eps=EPS, members=("square", "apgd_margin"), steps=10, n_queries=1000, generator=_gen())
    assert [s["attack"] for s in result.details["stages"]] == ["square", "apgd_margin"]
    assert set(result.details["broken_by"]) <= {"", "clean", "square", "apgd_margin"}
    assert "square" in result.details["broken_by"]  # square runs first, so it breaks the easy frames


@pytest.mark.parametrize(
    ("members", "message"), [(("apgd", "auto"), "Unknown ensemble member 'auto'"), ((), "at least")]
)
def test_clear_errors(model: TinyCNN, members: tuple, message: str) -> None:
    x, y = tiny_data()
    with pytest.raises(DfrobustError, match=message):
        auto(model, x, y, eps=EPS, members=members)


def test_ensemble_breaks_a_saturated_detector(model: TinyCNN) -> None:
    """Logits x 1e4: APGD-BCE stands still, the margin member (and Square) still break it."""
    x, y = tiny_data(48, seed=7)
    saturated = ScaledLogits(model, 1e4)
    reference = apgd_margin(model, x, y, eps=EPS, steps=10, generator=_gen())
    result = auto(saturated, x, y, eps=EPS, generator=_gen(), **BUDGET)
    stages = result.details["stages"]
    assert stages[0]["robust"] >= stages[0]["attacked"] - 2  # BCE's gradient is 0: nothing breaks
    assert result.success.float().mean() >= reference.success.float().mean() - 0.05
    assert "apgd_margin" in result.details["broken_by"]
