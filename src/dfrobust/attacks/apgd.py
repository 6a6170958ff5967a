"""L-inf APGD (Croce & Hein, ICML 2020, arXiv:2003.01690): PGD without a step size to tune.

APGD starts with a large step (2 eps) and momentum 0.75, and at checkpoints
``w_j = ceil(p_j * steps)`` (``p_0 = 0``, ``p_1 = 0.22``,
``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``) halves the step of the samples whose
loss stalled, restarting them from their best point. A sample stalled when fewer than
``rho`` of the steps since the last checkpoint raised its loss, or when neither its step
nor its best loss changed since the last checkpoint.

Two losses (:func:`dfrobust.attacks.base.per_sample_loss`): ``bce``, the paper's CE for one
logit, and ``margin``, the negated ``(2y - 1) * logit``. On a confident one-logit detector
BCE's gradient ``sigmoid(z) - y`` underflows to exactly 0 in float32 and the attack stands
still; the margin's gradient is the logit's own, so APGD-margin still moves. ::

    result = apgd(model, x, y, eps=4 / 255, loss="margin", generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence

import torch

from dfrobust.attacks.base import (
    AttackResult,
    Model,
    ball,
    check_count,
    check_inputs,
    check_loss,
    margin,
    scored,
    subset,
    uniform,
)
from dfrobust.attacks.eot import check_eot, eot_loss_and_grad
from dfrobust.eps import check_eps
from dfrobust.errors import DfrobustError

log = logging.getLogger(__name__)

MOMENTUM = 0.75  # the paper's alpha: weight of the new step against the last one


def checkpoints(steps: int) -> list[int]:
    """The iterations at which APGD may halve its step: ``ceil(p_j * steps)``, j >= 1.

    ``p_0 = 0``, ``p_1 = 0.22``, ``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``; for 100
    steps: 22, 41, 57, 70, 80, 87, 93, 99. Repeats (few steps) are dropped.
    """
    p_prev, p, found = 0.0, 0.22, []
    while p <= 1:
        w = math.ceil(round(p * steps, 9))  # round: 0.22 * 100 is 22.000000000000004 in floats
        if 0 < w <= steps and (not found or w > found[-1]):
            found.append(w)
        p_prev, p = p, p + max(p - p_prev - 0.03, 0.06)
    return found


def apgd(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int = 100,
    restarts: int = 1,
    loss: str = "bce",
    rho: float = 0.75,
    eot: int = 1,
    eot_transforms: Sequence[str] | None = None,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """L-inf APGD on the BCE or margin loss, from a random start in the eps-ball.

    Args:
        model: (N, 3, H, W) in [0, 1] -> (N,) fake logits.
        x: (N, 3, H, W) float in [0, 1]. y: (N,) 0 real, 1 fake.
        eps: L-inf budget in pixel units (4/255).
        steps: iterations per restart (the paper's 100).
        restarts: runs from fresh random starts; each later one only attacks the samples the
            earlier ones did not fool, and per sample the point of lowest margin is kept.
        loss: ``bce`` or ``margin`` (scale-free, does not saturate on confident outputs).
        rho: share of steps between checkpoints that must raise the loss to keep the step.
        eot, eot_transforms: each gradient is the mean over ``eot`` random transformations
            (see :mod:`dfrobust.attacks.eot`); losses and margins are then their means too.
        generator: torch.Generator on ``x``'s device; None builds one seeded 0 (never the global RNG).

    Returns:
        Per sample the first misclassified point found, else the point of lowest margin seen.
        A sample stops once misclassified (as in Square), so queries are the gradient
        evaluations until then: the start's, plus one per step; at most
        ``(steps + 1) * restarts * eot``.
    """
    eps, steps, restarts = check_eps(eps), check_count(steps, "steps"), check_count(restarts, "restarts")
    check_loss(loss)
    if not 0 < rho <= 1:
        raise DfrobustError(f"Expected rho in (0, 1], got {rho!r}")
    eot, transforms = check_eot(eot, eot_transforms)
    check_inputs(x, y, generator)
    generator = torch.Generator(device=x.device).manual_seed(0) if generator is None else generator
    # channels_last: small CNNs' forwards and backwards run 1.5-2x faster on CPU (see square.py).
    x0, y = x.detach().float().contiguous(memory_format=torch.channels_last), y.to(x.device)
    best, best_margin = x0.clone(), torch.full(y.shape, math.inf, device=x.device)
    queries = torch.zeros(len(y), dtype=torch.long, device=x.device)
    todo = torch.arange(len(y), device=x.device)
    for _ in range(restarts):
        gradient = functools.partial(eot_loss_and_grad, model, loss=loss, eot=eot, transforms=transforms)
        x_low, m_low, used = _apgd_run(gradient, x0[todo], y[todo], eps, steps, rho, subset(generator, todo))
        better = m_low < best_margin[todo]
        best[todo[better]], best_margin[todo[better]] = x_low[better], m_low[better]
        queries[todo] += used * eot
        todo = todo[best_margin[todo] > 0]  # later restarts only attack what is still robust
        if len(todo) == 0:
            break
    log.debug("apgd-%s: %d of %d samples fooled", loss, int((best_margin <= 0).sum()), len(y))
    return scored(model, best, y, queries, x.dtype)


def _apgd_run(
    gradient: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    rho: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One APGD run (Algorithm 1 of the paper) on every sample until it is misclassified.

    Returns the point of lowest margin per sample, that margin, and the gradient evaluations
    spent. ``gradient(x_adv, y, generator=...)``: per-sample losses, logits and input gradient
    (:func:`~dfrobust.attacks.eot.eot_loss_and_grad`). A fooled sample leaves the batch (its
    result cannot improve what robust accuracy counts), so the later, costlier steps run only
    on the samples still resisting.
    """
    n, lanes = len(y), (slice(None), None, None, None)
    out_x, out_m = x.clone(), torch.full((n,), math.inf, device=x.device)
    used = torch.full((n,), steps + 1, dtype=torch.long, device=x.device)
    lo, hi = ball(x, eps)
    x_adv = torch.clamp(x + uniform(x, eps, generator), lo, hi)
    losses, logits, grad = gradient(x_adv, y, generator=generator)
    s = {  # per-sample state of the samples still attacked; `index` maps them back
        "index": torch.arange(n, device=x.device),
        "lo": lo,
        "hi": hi,
        "y": y,
        "x_adv": x_adv,
        "x_prev": x_adv,
        "grad": grad,
        "loss_prev": losses,
        "x_low": x_adv.clone(),
        "m_low": margin(logits, y),
        "x_best": x_adv.clone(),
        "loss_best": losses.clone(),
        "grad_best": grad.clone(),
        "step": torch.full((n,), 2 * eps, device=x.device),
        "increases": torch.zeros(n, device=x.device),
        "loss_best_at_mark": losses.clone(),
        "halved_at_mark": torch.zeros(n, dtype=torch.bool, device=x.device),
    }
    marks, since = set(checkpoints(steps)), 0
    for i in range(1, steps + 1):
        fooled = s["m_low"] <= 0
        if fooled.any():
            done = s["index"][fooled]
            out_x[done], out_m[done], used[done] = s["x_low"][fooled], s["m_low"][fooled], i
            s = {k: v[~fooled] for k, v in s.items()}
            if len(s["index"]) == 0:
                break
        lo, hi, x_adv, x_prev = s["lo"], s["hi"], s["x_adv"], s["x_prev"]
        z = torch.clamp(torch.addcmul(x_adv, s["step"][lanes], s["grad"].sign()), lo, hi)
        a = 1.0 if i == 1 else MOMENTUM  # the first step has no previous one to follow
        x_adv = torch.clamp(x_adv + a * (z - x_adv) + (1 - a) * (x_adv - x_prev), lo, hi)
        s["x_prev"], s["x_adv"] = s["x_adv"], x_adv
        losses, logits, s["grad"] = gradient(x_adv, s["y"], generator=subset(generator, s["index"]))
        m = margin(logits, s["y"])
        lower = m < s["m_low"]
        s["x_low"][lower], s["m_low"][lower] = x_adv[lower], m[lower]
        s["increases"] += losses > s["loss_prev"]
        s["loss_prev"] = losses
        up = losses > s["loss_best"]
        s["x_best"][up], s["loss_best"][up], s["grad_best"][up] = x_adv[up], losses[up], s["grad"][up]
        since += 1
        if i not in marks:
            continue
        # Halve where the loss rose in fewer than rho of the steps, or nothing moved since the last mark.
        stalled = (s["increases"] < rho * since) | (~s["halved_at_mark"] & (s["loss_best"] <= s["loss_best_at_mark"]))
        s["step"][stalled] /= 2
        s["x_adv"][stalled], s["grad"][stalled] = s["x_best"][stalled], s["grad_best"][stalled]
        s["x_prev"] = torch.where(stalled[lanes], s["x_adv"], s["x_prev"])  # restart without stale momentum
        s["loss_prev"] = torch.where(stalled, s["loss_best"], s["loss_prev"])
        s["halved_at_mark"], s["loss_best_at_mark"] = stalled, s["loss_best"].clone()
        since, s["increases"] = 0, torch.zeros_like(s["increases"])
    out_x[s["index"]], out_m[s["index"]] = s["x_low"], s["m_low"]
    return out_x, out_m, used


def apgd_margin(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int = 100,
    restarts: int = 1,
    rho: float = 0.75,
    eot: int = 1,
    eot_transforms: Sequence[str] | None = None,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """:func:`apgd` on the margin loss: the registry's ``apgd_margin``, for saturated detectors."""
    return apgd(
        model,
        x,
        y,
        eps=eps,
        steps=steps,
        restarts=restarts,
        loss="margin",
        rho=rho,
        eot=eot,
        eot_transforms=eot_transforms,
        generator=generator,
    )
