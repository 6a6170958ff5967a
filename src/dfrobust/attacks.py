"""Adversarial attacks on one-logit deepfake detectors, in pixel space.

Every attack is a pure function ``attack(model, x, y, *, eps, ...)``:

- ``model(x)`` maps images ``x: (N, 3, H, W)`` float in [0, 1] to logits ``(N,)``, the
  score for "fake" (the model owns its normalisation), so ``eps`` is in pixel units (8/255).
- ``y: (N,)`` labels, 0 real, 1 fake. Loss: BCE with logits; margin ``(2y - 1) * logit``
  (> 0 means correctly classified).
- The result is detached, has ``x``'s shape, device and dtype, and lies in [0, 1] and in the
  eps-ball around ``x`` (N-FGSM: in the (noise + alpha)-ball, by design).
- Attacks never call ``.train()``/``.eval()`` (the caller owns the mode: FGSM-RS attacks in
  train mode, evaluation in eval mode), never touch parameters or their ``.grad`` (gradients
  are taken w.r.t. the input only, with ``torch.autograd.grad``) and never seed global RNGs:
  randomness comes from an explicit ``torch.Generator`` on ``x``'s device.

Example:
    >>> x_adv = pgd(model, x, y, eps=8 / 255, steps=10, generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from dfrobust.errors import DfrobustError

log = logging.getLogger(__name__)

Model = Callable[[torch.Tensor], torch.Tensor]

# Square Attack's schedule: p halves after these iterations of a 10,000-query budget.
_P_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
_MAX_REDRAWS = 10  # redraws of a Square proposal that would not change the image


class SquareResult(NamedTuple):
    """What :func:`square` returns.

    Attributes:
        x_adv: (N, C, H, W) adversarial images in [0, 1] and the eps-ball.
        queries: (N,) long, model queries spent per sample (0 for samples misclassified
            on clean input, which are not attacked).
        success: (N,) bool, True where a correctly classified sample was flipped.
    """

    x_adv: torch.Tensor
    queries: torch.Tensor
    success: torch.Tensor


def check_eps(eps: float, name: str = "eps") -> float:
    """Return ``eps`` as a float after checking it is a pixel-space budget in [0, 1]."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps <= 1:
        hint = f"; did you mean {eps:g}/255?" if isinstance(eps, (int, float)) and eps > 1 else ""
        raise DfrobustError(
            f"Expected {name} in [0, 1] (pixel units, images in [0, 1]), got {eps!r}{hint}"
        )
    return float(eps)


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DfrobustError(f"Expected {name} to be a positive integer, got {value!r}")
    return value


def _check_inputs(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> None:
    if x.dim() != 4 or y.shape != (x.shape[0],):
        raise DfrobustError(
            f"Expected images (N, C, H, W) and labels (N,), got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    lo, hi = torch.stack(torch.aminmax(x)).tolist()  # one device sync
    if lo < 0 or hi > 1:
        raise DfrobustError(
            f"Expected images in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; pass unnormalised "
            "images (the model normalises them itself)"
        )
    if generator is not None and generator.device.type != x.device.type:
        raise DfrobustError(
            f"Expected a torch.Generator on {x.device.type} (the images' device), got one on "
            f"{generator.device.type}; build it with torch.Generator(device=x.device)"
        )


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Margin ``(2y - 1) * logit``: (N,), > 0 where the one-logit model is correct."""
    if logits.shape != y.shape:
        raise DfrobustError(
            f"Expected the model to return one logit per image, shape {tuple(y.shape)}, got "
            f"{tuple(logits.shape)}; wrap two-class models so they return the 'fake' logit"
        )
    return (2 * y.to(logits.dtype) - 1) * logits


def _input_grad(model: Model, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the BCE loss w.r.t. the input only; parameters' ``.grad`` stays untouched.

    The input is an fp32 leaf and the loss is taken in fp32, so this also works under autocast.
    The loss is summed, not averaged, so tiny per-sample gradients do not underflow.
    """
    with torch.enable_grad():
        x_adv = x_adv.detach().float().requires_grad_(True)
        logits = model(x_adv).float()
        margin(logits, y)  # shape check with a clear message
        loss = F.binary_cross_entropy_with_logits(logits, y.float(), reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_adv)
    return grad


def _uniform(x: torch.Tensor, bound: float, generator: torch.Generator | None) -> torch.Tensor:
    """U(-bound, bound) noise shaped like ``x``, drawn from ``generator`` (default: torch's)."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float32)
    return (2 * noise - 1) * bound


def _project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Clip ``x_adv`` into the L-inf eps-ball around ``x`` and into [0, 1]."""
    return torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp(0, 1).detach()


def fgsm(model: Model, x: torch.Tensor, y: torch.Tensor, *, eps: float) -> torch.Tensor:
    """FGSM (Goodfellow et al., ICLR 2015, arXiv:1412.6572): one signed-gradient step of size eps."""
    eps = check_eps(eps)
    _check_inputs(x, y, None)
    x0 = x.detach().float()
    return _project(x0 + eps * _input_grad(model, x0, y).sign(), x0, eps).to(x.dtype)


def pgd(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float | None = None,
    steps: int = 10,
    restarts: int = 1,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L-inf PGD (Madry et al., ICLR 2018, arXiv:1706.06083) on the BCE loss.

    Args:
        alpha: step size; default 2.5 * eps / steps, so the steps can cross the ball.
        restarts: independent runs; per sample the one with the lowest margin is kept.
        random_start: start from U(-eps, eps) noise instead of ``x``.
    """
    eps, steps, restarts = check_eps(eps), _check_count(steps, "steps"), _check_count(restarts, "restarts")
    alpha = 2.5 * eps / steps if alpha is None else check_eps(alpha, "alpha")
    _check_inputs(x, y, generator)
    x0 = x.detach().float()
    best, best_margin = x0, torch.full(y.shape, math.inf, device=x.device)
    for _ in range(restarts):
        x_adv = _project(x0 + _uniform(x0, eps, generator), x0, eps) if random_start else x0
        for _ in range(steps):
            x_adv = _project(x_adv + alpha * _input_grad(model, x_adv, y).sign(), x0, eps)
        if restarts == 1:
            return x_adv.to(x.dtype)
        with torch.no_grad():
            run_margin = margin(model(x_adv).float(), y)
        best = torch.where((run_margin < best_margin)[:, None, None, None], x_adv, best)
        best_margin = torch.minimum(run_margin, best_margin)
    return best.to(x.dtype)


def fgsm_rs(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """FGSM with a random start, the FGSM-RS training attack (Wong, Rice, Kolter, ICLR 2020).

    Same order as fast_adversarial's ``train_fgsm.py``: uniform start in the eps-ball, keep
    ``x + delta`` in [0, 1], one step ``alpha * sign(grad)`` on delta, project to the ball
    and [0, 1]. Called from ``training_step`` with the model in train mode (the caller's).

    Args:
        alpha: step size; default 1.25 * eps, the paper's choice.
    """
    eps = check_eps(eps)
    alpha = 1.25 * eps if alpha is None else check_eps(alpha, "alpha")
    _check_inputs(x, y, generator)
    x0 = x.detach().float()
    delta = _uniform(x0, eps, generator)
    delta = (x0 + delta).clamp(0, 1) - x0
    grad = _input_grad(model, x0 + delta, y)  # d loss / d delta == d loss / d input
    delta = (delta + alpha * grad.sign()).clamp(-eps, eps)
    return _project(x0 + delta, x0, eps).to(x.dtype)


def n_fgsm(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float | None = None,
    noise: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """N-FGSM (de Jorge et al., NeurIPS 2022, arXiv:2202.01181, "Make some noise").

    Stronger noise U(-2 eps, 2 eps), a step alpha = eps and *no* projection back to the
    eps-ball: the result lies in the (noise + alpha)-ball around ``x``, clipped to [0, 1].
    """
    eps = check_eps(eps)
    alpha = eps if alpha is None else check_eps(alpha, "alpha")
    noise = 2 * eps if noise is None else check_eps(noise, "noise")
    _check_inputs(x, y, generator)
    x0 = x.detach().float()
    x_noisy = (x0 + _uniform(x0, noise, generator)).clamp(0, 1)
    x_adv = x_noisy + alpha * _input_grad(model, x_noisy, y).sign()
    return x_adv.clamp(0, 1).detach().to(x.dtype)


def _square_side(p_init: float, it: int, n_queries: int, h: int, w: int) -> int:
    """Side of the iteration's square: round(sqrt(p * h * w)), with p halved on schedule."""
    scaled = int(it / n_queries * 10000)  # the reference rescales the schedule to the budget
    p = p_init / 2 ** sum(scaled > t for t in _P_HALVINGS)
    return min(max(round(math.sqrt(p * h * w)), 1), min(h, w) - 1)


def _square_windows(
    n: int, h: int, w: int, side: int, generator: torch.Generator, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index tensors (n, 1, 1), (n, side, 1), (n, 1, side) picking one random window per sample.

    ``t[sample, :, rows, cols]`` then reads or writes all windows at once, shape (n, side, side, C).
    """
    offsets = torch.arange(side, device=device)
    top = torch.randint(0, h - side, (n, 1, 1), generator=generator, device=device)
    left = torch.randint(0, w - side, (n, 1, 1), generator=generator, device=device)
    sample = torch.arange(n, device=device)[:, None, None]
    return sample, top + offsets[None, :, None], left + offsets[None, None, :]


def _draw_squares(
    lo: torch.Tensor, hi: torch.Tensor, old: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """New window contents ``x -/+ eps`` (clipped), one sign per sample and channel.

    All tensors are windows (n, side, side, C). Signs that would leave a window unchanged are
    redrawn, as the reference does, so no query is wasted on a no-op.
    """
    n, c = old.shape[0], old.shape[-1]
    new, redraw = old, torch.ones(n, dtype=torch.bool, device=old.device)
    for _ in range(_MAX_REDRAWS):
        up = torch.rand((n, 1, 1, c), generator=generator, device=old.device) < 0.5
        new = torch.where(redraw[:, None, None, None], torch.where(up, hi, lo), new)
        redraw &= (new == old).all(dim=(1, 2, 3))
        if not redraw.any():
            break
    return new


def _query(model: Model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Margins of one black-box query; inference mode skips autograd bookkeeping."""
    with torch.inference_mode():
        return margin(model(x).float(), y)


def square(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    n_queries: int = 1000,
    p_init: float = 0.8,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> SquareResult:
    """L-inf Square Attack (Andriushchenko et al., ECCV 2020, arXiv:1912.00049), black-box.

    Vertical-stripe start, then random squares of shrinking side, keeping a candidate (the
    start included) only if it lowers the margin. Only correctly classified samples are attacked; a sample stops once
    fooled. All active samples share one forward per iteration; queries per sample (the
    start counts 1) never exceed ``n_queries``.

    Args:
        n_queries: query budget per sample.
        p_init: initial fraction of pixels a square covers.
        seed: builds the generator when ``generator`` is None, so runs are reproducible.
        generator: torch.Generator on ``x``'s device.
    """
    eps, n_queries = check_eps(eps), _check_count(n_queries, "n_queries")
    if not 0 < p_init <= 1:
        raise DfrobustError(f"Expected p_init in (0, 1], got {p_init!r}")
    _check_inputs(x, y, generator)
    generator = generator or torch.Generator(device=x.device).manual_seed(seed)
    n, c, h, w = x.shape
    if min(h, w) < 2:
        raise DfrobustError(f"Square needs images of at least 2 x 2 pixels, got {h} x {w}")
    x_adv, y = x.detach().clone(), y.to(x.device)
    queries = torch.zeros(n, dtype=torch.long, device=x.device)
    success = torch.zeros(n, dtype=torch.bool, device=x.device)
    # channels_last: about 1.5x faster forwards for small CNNs on CPU; numerics unchanged.
    x0 = x.detach().float().contiguous(memory_format=torch.channels_last)
    m_clean = _query(model, x0, y)
    active = (m_clean > 0).nonzero().squeeze(1)
    xs, ys, m_clean = x0[active], y[active], m_clean[active]
    lo, hi = (xs - eps).clamp(0, 1), (xs + eps).clamp(0, 1)
    stripes = torch.rand((len(active), c, 1, w), generator=generator, device=x.device) < 0.5
    x_best = torch.where(stripes, hi, lo).contiguous(memory_format=torch.channels_last)
    m_best = _query(model, x_best, ys)
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
        if len(active) == 0:
            break
        side = _square_side(p_init, it, n_queries, h, w)
        sample, rows, cols = _square_windows(len(active), h, w, side, generator, x.device)
        old = x_best[sample, :, rows, cols]
        # Write the candidates into x_best in place, query, then undo the rejected ones:
        # this touches only the windows instead of whole images.
        x_best[sample, :, rows, cols] = _draw_squares(
            lo[sample, :, rows, cols], hi[sample, :, rows, cols], old, generator
        )
        m_new = _query(model, x_best, ys)
        rejected = m_new >= m_best
        x_best[sample[rejected], :, rows[rejected], cols[rejected]] = old[rejected]
        m_best = torch.minimum(m_new, m_best)
    log.debug("square: %d of %d samples fooled in %d iterations", int(success.sum()), n, it + 1)
    return SquareResult(x_adv, queries, success)


def preflight_check(model: Model, x: torch.Tensor, y: torch.Tensor) -> None:
    """Warn about setups that make attacks underestimate robustness (as AutoAttack's checks).

    Checks one small batch: outputs in [0, 1] look like probabilities, not logits; input
    gradients that are all zero hint at gradient masking, where only black-box attacks
    (Square) give a trustworthy robust accuracy.
    """
    x, y = x[:16], y[:16]
    with torch.no_grad():
        logits = model(x.detach().float()).float()
    margin(logits, y)  # shape check
    if logits.min() >= 0 and logits.max() <= 1:
        warnings.warn(
            "Model outputs all lie in [0, 1]: they look like probabilities, but attacks expect "
            "raw logits (drop the final sigmoid).",
            stacklevel=2,
        )
    if not _input_grad(model, x, y).any():
        warnings.warn(
            "Input gradients are all zero: gradient-based attacks (FGSM, PGD) will fail, which "
            "hints at gradient masking; check robustness with the black-box Square attack.",
            stacklevel=2,
        )


ATTACKS: dict[str, Callable[..., torch.Tensor | SquareResult]] = {
    "fgsm": fgsm,
    "pgd": pgd,
    "square": square,
    "fgsm_rs": fgsm_rs,
    "n_fgsm": n_fgsm,
}


def get_attack(name: str) -> Callable[..., torch.Tensor | SquareResult]:
    """Look an attack up by its config/CLI name."""
    if name not in ATTACKS:
        raise DfrobustError(f"Unknown attack {name!r}; expected one of: {', '.join(ATTACKS)}")
    return ATTACKS[name]
