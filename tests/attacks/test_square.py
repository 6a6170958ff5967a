"""Square Attack: bookkeeping of queries and success, early stop, the reference's schedule."""

from __future__ import annotations

import torch

from dfrobust.attacks import margin, square
from dfrobust.attacks.square import _draw_squares, _square_side, _square_windows
from tinymodels import TinyCNN, tiny_data


def test_square_bookkeeping(model: TinyCNN) -> None:
    x, y = tiny_data(32)
    y[:4] = 1 - y[:4]  # four samples misclassified on clean input
    clean = margin(model(x), y).detach()
    result = square(model, x, y, eps=0.3, n_queries=40, seed=0)
    adv = margin(model(result.x_adv), y).detach()
    attacked = clean > 0
    fooled = attacked & result.success
    assert result.queries.dtype == torch.long and result.success.dtype == torch.bool
    assert (result.queries <= 40).all() and (result.queries[attacked] >= 1).all()
    # Misclassified on clean input: not attacked, no query spent, left as they are (and "misclassified").
    assert (result.queries[~attacked] == 0).all() and result.success[~attacked].all()
    assert torch.equal(result.x_adv[~attacked], x[~attacked])
    assert fooled.any() and (adv[fooled] <= 1e-5).all()
    assert (adv[attacked & ~result.success] > 0).all()
    assert (result.queries[attacked & ~result.success] == 40).all()  # unfooled: whole budget
    assert (adv[attacked] <= clean[attacked] + 1e-5).all()  # only improvements were kept
    assert not result.x_adv.is_inference()  # usable in autograd afterwards


def test_square_fooled_samples_stop_early(model: TinyCNN) -> None:
    x, y = tiny_data(32)
    result = square(model, x, y, eps=0.5, n_queries=200, seed=0)
    assert result.success.all() and (result.queries < 200).all()


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
