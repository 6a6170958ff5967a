"""Adversarial attacks on one-logit deepfake detectors, in pixel space.

One module per attack family, one registry (:mod:`dfrobust.attacks.registry`), one
signature and one result type (:class:`AttackResult`)::

    result = pgd(model, x, y, eps=4 / 255, steps=10, generator=torch.Generator().manual_seed(0))
    result.x_adv, result.queries, result.success

The contract every attack keeps is in :mod:`dfrobust.attacks.base`.
"""

from dfrobust.attacks.apgd import apgd, apgd_margin
from dfrobust.attacks.base import LOSSES, Attack, AttackResult, Model, margin
from dfrobust.attacks.clean import clean
from dfrobust.attacks.ensemble import auto
from dfrobust.attacks.fgsm import fgsm, fgsm_rs, n_fgsm
from dfrobust.attacks.pgd import pgd
from dfrobust.attacks.preflight import preflight_check
from dfrobust.attacks.registry import ATTACKS, AttackSpec, attack_names, default_attacks, display_rank, get_attack
from dfrobust.attacks.square import square
from dfrobust.eps import check_eps

__all__ = [
    "ATTACKS",
    "LOSSES",
    "Attack",
    "AttackResult",
    "AttackSpec",
    "Model",
    "apgd",
    "apgd_margin",
    "attack_names",
    "auto",
    "check_eps",
    "clean",
    "default_attacks",
    "display_rank",
    "fgsm",
    "fgsm_rs",
    "get_attack",
    "margin",
    "n_fgsm",
    "pgd",
    "preflight_check",
    "square",
]
