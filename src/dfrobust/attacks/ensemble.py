"""``auto``: AutoAttack's worst-case protocol (Croce & Hein, ICML 2020) for one-logit detectors.

The attacks run one after the other, each only on the frames every earlier one failed on;
a frame is robust only if all of them fail. AutoAttack's own members do not fit a one-logit
detector (APGD-T and FAB-T need a target class, DLR needs >= 3 classes), so the default
members are the one-logit equivalents, cheapest and most likely first:

1. ``apgd``: APGD on BCE, the paper's APGD-CE; breaks most frames of an ordinary model.
2. ``apgd_margin``: APGD on the margin ``(2y - 1) * logit``, scale-free: it still moves
   where BCE's gradient underflows in float32 (a confident, saturated detector).
3. ``square``: Square Attack, 5,000 queries by default, black-box: it needs no gradient, so
   it also breaks frames whose gradients are masked or obfuscated.

::

    result = auto(model, x, y, eps=4 / 255, generator=torch.Generator().manual_seed(0))
    result.details["broken_by"]   # per frame: "apgd", "apgd_margin", "square", "clean" or ""
    result.details["stages"]      # per member: frames attacked and still robust, queries, seconds
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import torch

from dfrobust.attacks.base import AttackResult, Model, check_count, check_inputs, query, scored, subset
from dfrobust.eps import check_eps
from dfrobust.errors import DfrobustError

log = logging.getLogger(__name__)

DEFAULT_MEMBERS = ("apgd", "apgd_margin", "square")
NOT_MEMBERS = ("clean", "auto")  # no attack, and the ensemble itself


def check_members(members: Sequence[str]) -> tuple[str, ...]:
    """``members`` as a tuple if each is an evaluation attack other than clean and auto."""
    from dfrobust.attacks.registry import attack_names  # deferred: the registry imports this module

    valid = [name for name in attack_names("eval") if name not in NOT_MEMBERS]
    members = tuple(members)
    if not members or isinstance(members, str):
        raise DfrobustError(f"Expected at least one ensemble member, e.g. {','.join(DEFAULT_MEMBERS)}")
    for name in members:
        if name not in valid:
            raise DfrobustError(f"Unknown ensemble member {name!r}; expected some of: {', '.join(valid)}")
    return members


def auto(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    members: Sequence[str] = DEFAULT_MEMBERS,
    steps: int = 100,
    n_queries: int = 5000,
    eot: int = 1,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """The worst case over ``members``, each run only on the frames still classified correctly.

    Args:
        model: (N, 3, H, W) in [0, 1] -> (N,) fake logits.
        x: (N, 3, H, W) float in [0, 1]. y: (N,) 0 real, 1 fake.
        eps: L-inf budget in pixel units (4/255).
        members: registry names of evaluation attacks, in the order they run.
        steps: iterations of the gradient members (APGD's 100). n_queries: Square's budget.
        eot: EOT draws per gradient of the members that take it (see :mod:`dfrobust.attacks.eot`).
        generator: torch.Generator on ``x``'s device, shared by the members in turn; None
            builds one seeded 0.

    Returns:
        The first member's successful ``x_adv`` per frame (the last member's attempt where
        all failed); queries summed over the members that ran on the frame. ``details``:
        ``broken_by`` (N,) list of the member that fooled each frame, ``"clean"`` where the
        clean frame is already misclassified, ``""`` where it stayed robust; ``stages``, one
        dict per member: ``attack``, ``attacked`` and ``robust`` frame counts (robust: still
        correct after this member), ``robust_accuracy`` (robust / N), ``queries`` (sum over
        the attacked frames), ``queries_mean`` (per attacked frame) and ``seconds``.
    """
    from dfrobust.attacks.registry import get_attack  # deferred: the registry imports this module

    eps, members = check_eps(eps), check_members(members)
    steps, n_queries = check_count(steps, "steps"), check_count(n_queries, "n_queries")
    eot = check_count(eot, "eot")
    check_inputs(x, y, generator)
    generator = torch.Generator(device=x.device).manual_seed(0) if generator is None else generator
    budgets = {"steps": steps, "n_queries": n_queries, "eot": eot}
    y = y.to(x.device)
    x_adv, queries = x.detach().clone(), torch.zeros(len(y), dtype=torch.long, device=x.device)
    robust = query(model, x.detach().float(), y)[1] > 0
    broken_by = ["" if ok else "clean" for ok in robust.tolist()]
    stages = []
    for name in members:
        spec, began = get_attack(name, "eval"), time.perf_counter()
        todo = robust.nonzero().squeeze(1)
        spent = 0
        if len(todo):
            kwargs = {k: v for k, v in budgets.items() if k in spec.eval_options}
            result = spec.fn(model, x[todo], y[todo], eps=eps, generator=subset(generator, todo), **kwargs)
            x_adv[todo] = result.x_adv.to(x.dtype)
            queries[todo] += result.queries
            spent = int(result.queries.sum())
            fooled = todo[result.success]
            robust[fooled] = False
            for i in fooled.tolist():
                broken_by[i] = name
        n_robust = int(robust.sum())
        stages.append(
            {
                "attack": name,
                "attacked": len(todo),
                "robust": n_robust,
                "robust_accuracy": n_robust / len(y),
                "queries": spent,
                "queries_mean": spent / len(todo) if len(todo) else 0.0,
                "seconds": time.perf_counter() - began,
            }
        )
        log.debug("auto: after %s %d of %d frames robust", name, n_robust, len(y))
    return scored(model, x_adv, y, queries, x.dtype)._replace(details={"broken_by": broken_by, "stages": stages})
