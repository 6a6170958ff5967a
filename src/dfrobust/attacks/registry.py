"""The attack registry: the only list of attack names, their display order and their knobs.

Every attack is ``attack(model, x, y, *, eps, generator=None, **options) -> AttackResult``.
Adding one = one module + one entry below. Evaluation, training, config validation and the
report take names, order and labels from here; an unknown name is an error everywhere.

``eval_options`` / ``train_options`` map an attack's keyword to the name of the shared
setting that fills it (an ``EvalOptions`` field or an ``adv.*`` config key), so callers
pass the budgets without knowing which attack takes which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dfrobust.attacks.apgd import apgd, apgd_margin
from dfrobust.attacks.base import Attack
from dfrobust.attacks.clean import clean
from dfrobust.attacks.ensemble import auto
from dfrobust.attacks.fgsm import fgsm, fgsm_rs, n_fgsm
from dfrobust.attacks.pgd import pgd
from dfrobust.attacks.square import square
from dfrobust.errors import DfrobustError


@dataclass(frozen=True)
class AttackSpec:
    """One registry entry.

    Attributes:
        name: config/CLI name. fn: the attack. threat: ``white-box``, ``black-box`` or ``none``.
        uses: where it may be chosen: ``eval`` (``dfrobust test``), ``train`` (``adv.method``).
        eval_options / train_options: attack keyword -> shared setting name (see module doc).
        default: part of ``dfrobust test``'s default set of conditions.
        single_step: one gradient step of size eps: it overshoots at large eps, so its
            accuracy may rise with eps without any gradient masking.
        summary: one line for help texts and the README.
    """

    name: str
    fn: Attack
    threat: str
    uses: frozenset[str]
    summary: str
    eval_options: Mapping[str, str] = field(default_factory=dict)
    train_options: Mapping[str, str] = field(default_factory=dict)
    default: bool = False
    single_step: bool = False

    def options(self, settings: Any, use: str) -> dict[str, Any]:
        """The keywords to call :attr:`fn` with, read from ``settings`` for ``use``."""
        mapping = self.eval_options if use == "eval" else self.train_options
        return {keyword: getattr(settings, setting) for keyword, setting in mapping.items()}


_EVAL, _TRAIN = frozenset({"eval"}), frozenset({"train"})

# In display order: tables, plots and the report list conditions in this order.
ATTACKS: dict[str, AttackSpec] = {
    spec.name: spec
    for spec in (
        AttackSpec("clean", clean, "none", _EVAL, "no attack: the clean frames", default=True),
        AttackSpec(
            "fgsm",
            fgsm,
            "white-box",
            _EVAL,
            "one signed-gradient step of size eps",
            eval_options={"eot": "eot"},
            default=True,
            single_step=True,
        ),
        AttackSpec(
            "pgd",
            pgd,
            "white-box",
            _EVAL | _TRAIN,
            "PGD on the BCE loss, random start",
            eval_options={"steps": "pgd_steps", "eot": "eot"},
            train_options={"alpha": "alpha", "steps": "steps"},
            default=True,
        ),
        AttackSpec(
            "square",
            square,
            "black-box",
            _EVAL,
            "Square Attack: random squares, margin loss",
            eval_options={"n_queries": "n_queries"},
            default=True,
        ),
        AttackSpec(
            "apgd",
            apgd,
            "white-box",
            _EVAL,
            "APGD on the BCE loss: step halving, momentum, no step size to tune (Croce & Hein 2020)",
            eval_options={"steps": "apgd_steps", "eot": "eot"},
        ),
        AttackSpec(
            "apgd_margin",
            apgd_margin,
            "white-box",
            _EVAL,
            "APGD on the margin loss: does not saturate on confident detectors",
            eval_options={"steps": "apgd_steps", "eot": "eot"},
        ),
        AttackSpec(
            "auto",
            auto,
            "white-box",
            _EVAL,
            "worst case of APGD-BCE, APGD-margin and Square (AutoAttack's protocol, one logit)",
            eval_options={"steps": "apgd_steps", "n_queries": "auto_queries", "members": "auto_members", "eot": "eot"},
        ),
        AttackSpec(
            "fgsm_rs",
            fgsm_rs,
            "white-box",
            _TRAIN,
            "FGSM from a random start (Wong et al. 2020)",
            train_options={"alpha": "alpha"},
        ),
        AttackSpec(
            "n_fgsm",
            n_fgsm,
            "white-box",
            _TRAIN,
            "N-FGSM: 2 eps noise, no projection",
            train_options={"alpha": "alpha"},
        ),
    )
}


def attack_names(use: str | None = None) -> tuple[str, ...]:
    """Registered names in display order, optionally only those usable for ``use``."""
    return tuple(name for name, spec in ATTACKS.items() if use is None or use in spec.uses)


def default_attacks() -> tuple[str, ...]:
    """The conditions ``dfrobust test`` runs when ``--attacks`` is not given."""
    return tuple(name for name, spec in ATTACKS.items() if spec.default)


def get_attack(name: str, use: str | None = None) -> AttackSpec:
    """The registry entry of ``name``; an unknown (or unusable for ``use``) name is an error."""
    valid = attack_names(use)
    if name not in valid:
        where = f" for {use}" if use else ""
        raise DfrobustError(f"Unknown attack {name!r}{where}; expected one of: {', '.join(valid)}")
    return ATTACKS[name]


def display_rank(name: str) -> int:
    """Position of ``name`` in display order (unknown names last)."""
    return list(ATTACKS).index(name) if name in ATTACKS else len(ATTACKS)
