"""Sanity checks against gradient masking, each saying what it saw in numbers.

They compare conditions the way Athalye et al. (ICML 2018, arXiv:1802.00420) and Carlini et
al. ("On Evaluating Adversarial Robustness", arXiv:1902.06705) advise: a white-box iterative
attack must beat a single step, a black-box attack must not beat the white-box one, a
larger budget must not leave more frames correct, a large budget must reach ~0 accuracy and
an unbounded one (eps 1: any image) exactly 0. Where APGD runs, more iterations must not
make the attack weaker than PGD, and the margin loss must not break clearly more than BCE:
on a confident one-logit detector BCE's gradient ``sigmoid(z) - y`` underflows to 0 in
float32 (saturation), and every BCE attack then reports robustness that is not there. A
failed check does not prove masking, but robust accuracy is then an overestimate to distrust.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dfrobust.eps import parse_eps

TOLERANCE = 0.02  # accuracy slack between attacks: about 5 frames of 256
LARGE_EPS_MAX_ACCURACY = 0.1
UNBOUNDED_MAX_ACCURACY = 0.02  # eps 1 reaches every image: anything but 0 means the gradients mislead
SATURATION_HINT = (
    "saturated gradients: the BCE loss's gradient underflows for confident outputs; "
    "use the margin loss / --attacks auto"
)


@dataclass
class Check:
    """One sanity check: ``passed`` is None when skipped (a condition it needs was not run)."""

    name: str
    description: str
    passed: bool | None
    values: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``pass``, ``warn`` or ``skipped``."""
        return "skipped" if self.passed is None else "pass" if self.passed else "warn"

    def message(self) -> str:
        """One line: name, status, description and the numbers compared."""
        numbers = ", ".join(f"{k} {v:.3f}" for k, v in self.values.items())
        return f"{self.name}: {self.status}: {self.description} ({numbers or 'not run'})"


def gradient_masking_checks(
    accuracy: dict[tuple[str, str], float],
    large_eps: tuple[str, float] | None = None,
    tolerance: float = TOLERANCE,
    stages: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    unbounded: float | None = None,
    single_step: Collection[str] = (),
) -> list[Check]:
    """Compare robust accuracies across attacks for signs of gradient masking.

    Args:
        accuracy: frame accuracy by ``(condition, eps_label)``, e.g. ``("pgd", "4/255")``.
        large_eps: ``(eps_label, accuracy)`` of PGD at a large budget (e.g. 32/255), or None.
        tolerance: accuracy slack allowed between attacks (sampling noise, random starts).
        stages: eps label -> the ``auto`` ensemble's stages (``attack``, ``robust_accuracy``).
        unbounded: accuracy under PGD at eps 1 (no bound), or None.
        single_step: attacks left out of ``accuracy_falls_with_eps`` (FGSM: one step of size
            eps overshoots at large eps, so its accuracy may rise with eps unmasked).

    Returns:
        One :class:`Check` per eps for ``pgd_beats_fgsm`` and ``square_not_beyond_pgd``; where
        APGD ran (alone or in ``auto``), ``margin_not_beyond_bce`` and ``apgd_not_weaker_than_pgd``
        per eps; ``accuracy_falls_with_eps`` per iterative attack run at several budgets; one
        ``pgd_large_eps`` and one ``pgd_unbounded``.
    """
    eps_labels = sorted({e for c, e in accuracy if c != "clean"}, key=parse_eps)
    checks = []
    for eps in eps_labels:
        pgd_acc, fgsm_acc, square_acc = (accuracy.get((c, eps)) for c in ("pgd", "fgsm", "square"))
        both = pgd_acc is not None and fgsm_acc is not None
        checks.append(
            Check(
                f"pgd_beats_fgsm@{eps}",
                f"PGD accuracy <= FGSM accuracy + {tolerance:g} (an iterative attack must not be weaker)",
                pgd_acc <= fgsm_acc + tolerance if both else None,
                {"pgd_accuracy": pgd_acc, "fgsm_accuracy": fgsm_acc} if both else {},
            )
        )
        both = pgd_acc is not None and square_acc is not None
        checks.append(
            Check(
                f"square_not_beyond_pgd@{eps}",
                f"Square accuracy >= PGD accuracy - {tolerance:g} (black-box must not beat white-box)",
                square_acc >= pgd_acc - tolerance if both else None,
                {"square_accuracy": square_acc, "pgd_accuracy": pgd_acc} if both else {},
            )
        )
        after = {s.get("attack"): s.get("robust_accuracy") for s in (stages or {}).get(eps, ())}
        checks += _apgd_checks(eps, accuracy, after, tolerance)
    checks += _eps_sweep_checks({k: v for k, v in accuracy.items() if k[0] not in single_step}, tolerance)
    if large_eps is None:
        checks.append(Check("pgd_large_eps", "PGD at a large eps drives accuracy near 0", None))
    else:
        eps, acc = large_eps
        checks.append(
            Check(
                f"pgd_large_eps@{eps}",
                f"PGD accuracy at a large eps < {LARGE_EPS_MAX_ACCURACY:g} (gradients must lead somewhere)",
                acc < LARGE_EPS_MAX_ACCURACY,
                {"pgd_accuracy": acc},
            )
        )
    checks.append(
        Check(
            "pgd_unbounded",
            f"PGD with no bound (eps 1: any image is reachable) drives accuracy to <= {UNBOUNDED_MAX_ACCURACY:g} "
            "(otherwise the gradients lead nowhere)",
            None if unbounded is None else unbounded <= UNBOUNDED_MAX_ACCURACY,
            {} if unbounded is None else {"pgd_accuracy": unbounded},
        )
    )
    return checks


def _eps_sweep_checks(accuracy: Mapping[tuple[str, str], float], tolerance: float) -> list[Check]:
    """Per attack run at several budgets: no larger budget leaves more frames correct."""
    checks = []
    for attack in dict.fromkeys(c for c, _ in accuracy if c != "clean"):
        sweep = sorted(((parse_eps(e), e, a) for (c, e), a in accuracy.items() if c == attack), key=lambda t: t[0])
        if len(sweep) < 2:
            continue
        rises = [(lo, hi) for lo, hi in zip(sweep, sweep[1:]) if hi[2] > lo[2] + tolerance]
        worst = max(rises, key=lambda pair: pair[1][2] - pair[0][2], default=None)
        checks.append(
            Check(
                f"accuracy_falls_with_eps@{attack}",
                f"{attack} accuracy at a larger eps <= accuracy at a smaller eps + {tolerance:g} "
                "(a bigger budget must not help the model)"
                + ("" if worst is None else f"; it rose from {worst[0][1]} to {worst[1][1]}"),
                worst is None,
                {f"accuracy@{label}": acc for _, label, acc in sweep},
            )
        )
    return checks


def _apgd_checks(
    eps: str, accuracy: Mapping[tuple[str, str], float], after: Mapping[Any, Any], tolerance: float
) -> list[Check]:
    """Saturation (margin vs BCE) and more-iterations checks at one eps, where APGD ran.

    ``after`` maps each ``auto`` member to the robust accuracy after it; the ensemble's first
    APGD stage sees every clean-correct frame, so it stands in for an ``apgd`` condition.
    """
    checks = []
    bce, by_margin = accuracy.get(("apgd", eps)), accuracy.get(("apgd_margin", eps))
    values = {"apgd_accuracy": bce, "apgd_margin_accuracy": by_margin}
    names = list(after)
    if (bce is None or by_margin is None) and "apgd" in after and "apgd_margin" in names[names.index("apgd") :]:
        # In auto, the margin stage only sees frames APGD-BCE (and any stage between) left robust.
        before = names[names.index("apgd_margin") - 1]
        bce, by_margin = after["apgd"], after["apgd"] - (after[before] - after["apgd_margin"])
        values = {"apgd_accuracy": bce, "accuracy_after_apgd_margin": after["apgd_margin"]}
    if bce is not None and by_margin is not None:
        saturated = bce - by_margin > tolerance
        checks.append(
            Check(
                f"margin_not_beyond_bce@{eps}",
                f"{SATURATION_HINT} (APGD-margin broke {100 * (bce - by_margin):.1f} points more than APGD-BCE)"
                if saturated
                else f"APGD-margin accuracy >= APGD-BCE accuracy - {tolerance:g} (BCE's gradient does not saturate)",
                not saturated,
                values,
            )
        )
    pgd_acc, apgd_acc = accuracy.get(("pgd", eps)), accuracy.get(("apgd", eps), after.get("apgd"))
    if pgd_acc is not None and apgd_acc is not None:
        checks.append(
            Check(
                f"apgd_not_weaker_than_pgd@{eps}",
                f"APGD accuracy <= PGD accuracy + {tolerance:g} (more iterations must not make the attack weaker)",
                apgd_acc <= pgd_acc + tolerance,
                {"apgd_accuracy": apgd_acc, "pgd_accuracy": pgd_acc},
            )
        )
    return checks
