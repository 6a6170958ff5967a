"""L-inf Square Attack (Andriushchenko et al., ECCV 2020, arXiv:1912.00049), black-box.

Only the model's outputs are used: the attack needs no gradient, so it also measures
robustness where gradients are masked.
"""

from __future__ import annotations

import logging
import math

import torch

from dfrobust.attacks.base import (
    AttackResult,
    Generator,
    Model,
    SampleGenerators,
    check_count,
    check_inputs,
    query,
    rand,
    randint,
    scored,
    subset,
)
from dfrobust.eps import check_eps
from dfrobust.errors import DfrobustError

log = logging.getLogger(__name__)

# Square Attack's schedule: p halves after these iterations of a 10,000-query budget.
_P_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
_MAX_REDRAWS = 10  # redraws of a Square proposal that would not change the image


def _square_side(p_init: float, it: int, n_queries: int, h: int, w: int) -> int:
    """Side of the iteration's square: round(sqrt(p * h * w)), with p halved on schedule."""
    scaled = int(it / n_queries * 10000)  # the reference rescales the schedule to the budget
    p = p_init / 2 ** sum(scaled > t for t in _P_HALVINGS)
    return min(max(round(math.sqrt(p * h * w)), 1), min(h, w) - 1)


def _square_windows(
    n: int, h: int, w: int, side: int, generator: Generator, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index tensors (n, 1, 1), (n, side, 1), (n, 1, side) picking one random window per sample.

    ``t[sample, :, rows, cols]`` then reads or writes all windows at once, shape (n, side, side, C).
    """
    offsets = torch.arange(side, device=device)
    top = randint(generator, 0, h - side, n, (1, 1), device)
    left = randint(generator, 0, w - side, n, (1, 1), device)
    sample = torch.arange(n, device=device)[:, None, None]
    return sample, top + offsets[None, :, None], left + offsets[None, None, :]


def _draw_squares(lo: torch.Tensor, hi: torch.Tensor, old: torch.Tensor, generator: Generator) -> torch.Tensor:
    """New window contents ``x -/+ eps`` (clipped), one sign per sample and channel.

    All tensors are windows (n, side, side, C). Signs that would leave a window unchanged are
    redrawn, as the reference does, so no query is wasted on a no-op.
    """
    n, c = old.shape[0], old.shape[-1]
    new, redraw = old, torch.ones(n, dtype=torch.bool, device=old.device)
    for _ in range(_MAX_REDRAWS):
        if isinstance(generator, SampleGenerators):  # only the samples redrawing consume draws
            up = torch.zeros((n, 1, 1, c), dtype=torch.bool, device=old.device)
            up[redraw] = rand(subset(generator, redraw), int(redraw.sum()), (1, 1, c), old.device) < 0.5
        else:
            up = torch.rand((n, 1, 1, c), generator=generator, device=old.device) < 0.5
        new = torch.where(redraw[:, None, None, None], torch.where(up, hi, lo), new)
        redraw &= (new == old).all(dim=(1, 2, 3))
        if not redraw.any():
            break
    return new


def square(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    n_queries: int = 1000,
    p_init: float = 0.8,
    seed: int = 0,
    generator: Generator | None = None,
) -> AttackResult:
    """L-inf Square Attack (Andriushchenko et al., ECCV 2020, arXiv:1912.00049), black-box.

    Vertical-stripe start, then random squares of shrinking side, keeping a candidate (the
    start included) only if it lowers the margin. Only correctly classified samples are attacked; a sample stops once
    fooled. All active samples share one forward per iteration; queries per sample (the
    start counts 1) never exceed ``n_queries``.

    Args:
        n_queries: query budget per sample.
        p_init: initial fraction of pixels a square covers.
        seed: builds the generator when ``generator`` is None, so runs are reproducible.
        generator: torch.Generator on ``x``'s device, or per-sample
            :class:`~dfrobust.attacks.base.SampleGenerators`.
    """
    eps, n_queries = check_eps(eps), check_count(n_queries, "n_queries")
    if not 0 < p_init <= 1:
        raise DfrobustError(f"Expected p_init in (0, 1], got {p_init!r}")
    check_inputs(x, y, generator)
    generator = torch.Generator(device=x.device).manual_seed(seed) if generator is None else generator
    n, c, h, w = x.shape
    if min(h, w) < 2:
        raise DfrobustError(f"Square needs images of at least 2 x 2 pixels, got {h} x {w}")
    x_adv, y = x.detach().clone(), y.to(x.device)
    queries = torch.zeros(n, dtype=torch.long, device=x.device)
    success = torch.zeros(n, dtype=torch.bool, device=x.device)
    # channels_last: about 1.5x faster forwards for small CNNs on CPU; numerics unchanged.
    x0 = x.detach().float().contiguous(memory_format=torch.channels_last)
    m_clean = _margins(model, x0, y)
    active = (m_clean > 0).nonzero().squeeze(1)
    xs, ys, m_clean = x0[active], y[active], m_clean[active]
    lo, hi = (xs - eps).clamp(0, 1), (xs + eps).clamp(0, 1)
    sample_gens = subset(generator, active)  # per-sample streams follow the active samples
    stripes = rand(sample_gens, len(active), (c, 1, w), x.device) < 0.5
    x_best = torch.where(stripes, hi, lo).contiguous(memory_format=torch.channels_last)
    m_best = _margins(model, x_best, ys)
    # Unlike the reference, the stripes too must lower the margin: the result never does worse than x.
    worse = m_best >= m_clean
    x_best[worse], m_best = xs[worse], torch.minimum(m_best, m_clean)
    it = 0
    for it in range(n_queries):  # at the start of iteration `it`, 1 + it queries are spent
        finished = m_best <= 0 if it < n_queries - 1 else torch.ones_like(m_best, dtype=torch.bool)
        if finished.any():
            done = active[finished]
            x_adv[done] = x_best[finished].to(x.dtype)
            queries[done], success[done] = 1 + it, m_best[finished] <= 0
            keep = ~finished
            active, ys, lo, hi, x_best, m_best = (t[keep] for t in (active, ys, lo, hi, x_best, m_best))
            sample_gens = subset(sample_gens, keep)
        if len(active) == 0:
            break
        side = _square_side(p_init, it, n_queries, h, w)
        sample, rows, cols = _square_windows(len(active), h, w, side, sample_gens, x.device)
        old = x_best[sample, :, rows, cols]
        # Write the candidates into x_best in place, query, then undo the rejected ones:
        # this touches only the windows instead of whole images.
        x_best[sample, :, rows, cols] = _draw_squares(
            lo[sample, :, rows, cols], hi[sample, :, rows, cols], old, sample_gens
        )
        m_new = _margins(model, x_best, ys)
        rejected = m_new >= m_best
        x_best[sample[rejected], :, rows[rejected], cols[rejected]] = old[rejected]
        m_best = torch.minimum(m_new, m_best)
    log.debug("square: %d of %d samples fooled in %d iterations", int(success.sum()), n, it + 1)
    return scored(model, x_adv, y, queries, x.dtype)


def _margins(model: Model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Margins of one black-box query."""
    return query(model, x, y)[1]
