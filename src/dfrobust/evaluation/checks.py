"""Sanity checks against gradient masking, each saying what it saw in numbers.

They compare conditions the way Athalye et al. (ICML 2018, arXiv:1802.00420) and Carlini et
al. ("On Evaluating Adversarial Robustness", arXiv:1902.06705) advise: a white-box iterative
attack must beat a single step, a black-box attack must not beat the white-box one, and an
unbounded-ish budget must reach ~0 accuracy. A failed check does not prove masking, but
robust accuracy is then an overestimate to distrust.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dfrobust.eps import parse_eps

TOLERANCE = 0.02  # accuracy slack between attacks: about 5 frames of 256
LARGE_EPS_MAX_ACCURACY = 0.1


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
) -> list[Check]:
    """Compare robust accuracies across attacks for signs of gradient masking.

    Args:
        accuracy: frame accuracy by ``(condition, eps_label)``, e.g. ``("pgd", "4/255")``.
        large_eps: ``(eps_label, accuracy)`` of PGD at a large budget (e.g. 32/255), or None.
        tolerance: accuracy slack allowed between attacks (sampling noise, random starts).

    Returns:
        One :class:`Check` per eps for ``pgd_beats_fgsm`` and ``square_not_beyond_pgd``, and one
        ``pgd_large_eps``.
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
    return checks
