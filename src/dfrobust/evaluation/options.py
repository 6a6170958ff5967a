"""What an evaluation runs: the conditions (attack x eps) and their budgets."""

from __future__ import annotations

from dataclasses import dataclass, field

from dfrobust.attacks.ensemble import DEFAULT_MEMBERS, check_members
from dfrobust.attacks.registry import attack_names, default_attacks, get_attack
from dfrobust.eps import check_eps, eps_label, eps_slug
from dfrobust.errors import DfrobustError
from dfrobust.evaluation.images import parse_codec


@dataclass(frozen=True)
class Condition:
    """An attack at one budget (``clean`` has eps 0)."""

    attack: str
    eps: float = 0.0

    @property
    def label(self) -> str:
        """``pgd 4/255`` or ``clean``, for tables."""
        return self.attack if self.attack == "clean" else f"{self.attack} {eps_label(self.eps)}"

    @property
    def slug(self) -> str:
        """File-name form: ``clean`` or ``pgd_4-255``."""
        return self.attack if self.attack == "clean" else f"{self.attack}_{eps_slug(self.eps)}"


@dataclass(frozen=True)
class EvalOptions:
    """What to evaluate. ``clean`` always runs: the success rates are relative to it.

    Attributes:
        attacks: names from the attack registry (``attack_names("eval")``); default:
            ``default_attacks()``.
        eps: L-inf budgets in pixel units of [0, 1] images (4/255).
        attack_eps: budgets for particular attacks, replacing ``eps`` for them, e.g.
            ``{"square": (4 / 255,)}``: a sweep of cheap gradient attacks beside one costly
            budget for Square or ``auto``.
        limit: evaluate a seeded random subset of at most this many frames.
        jpeg_quality: score every condition after a JPEG round trip at this quality.
        codec: score every condition after an H.264 round trip, ``h264:crf23`` (after the
            JPEG one if both are given; :func:`dfrobust.evaluation.images.h264_roundtrip`).
        eot: EOT draws per gradient of fgsm, pgd, apgd and apgd_margin (1: none; see
            :mod:`dfrobust.attacks.eot`).
        sanity: run PGD at ``sanity_eps`` on ``sanity_frames`` frames (gradient-masking check).
        n_queries: Square's query budget per frame. pgd_steps / apgd_steps: iterations.
        auto_queries, auto_members: the ``auto`` ensemble's Square budget and its members in
            order (see :mod:`dfrobust.attacks.ensemble`).
        examples: frames (half real, half fake) saved as PNG per attack condition.
    """

    attacks: tuple[str, ...] = field(default_factory=default_attacks)
    eps: tuple[float, ...] = (2 / 255, 4 / 255, 8 / 255)
    attack_eps: dict[str, tuple[float, ...]] = field(default_factory=dict)
    n_queries: int = 1000
    pgd_steps: int = 10
    apgd_steps: int = 100
    auto_queries: int = 5000
    auto_members: tuple[str, ...] = DEFAULT_MEMBERS
    limit: int | None = None
    jpeg_quality: int | None = None
    codec: str | None = None
    eot: int = 1
    batch_size: int = 128
    seed: int = 0
    sanity: bool = True
    sanity_frames: int = 128
    sanity_eps: float = 32 / 255
    examples: int = 4

    def __post_init__(self) -> None:
        if not self.attacks:
            raise DfrobustError(f"No attack given; expected some of: {', '.join(attack_names('eval'))}")
        for name in self.attacks:
            get_attack(name, "eval")
        object.__setattr__(self, "attack_eps", self._checked_attack_eps())
        if not self.eps and any(a != "clean" and a not in self.attack_eps for a in self.attacks):
            raise DfrobustError("Expected at least one eps for the attacks, e.g. --eps 4/255")
        for eps in (*self.eps, self.sanity_eps):
            check_eps(eps)
        for name in ("n_queries", "eot", "pgd_steps", "apgd_steps", "auto_queries", "batch_size", "sanity_frames"):
            if getattr(self, name) <= 0:
                raise DfrobustError(f"Expected {name} to be a positive integer, got {getattr(self, name)}")
        object.__setattr__(self, "auto_members", check_members(self.auto_members))
        if self.limit is not None and self.limit <= 0:
            raise DfrobustError(f"Expected limit to be a positive number of frames, got {self.limit}")
        parse_codec(self.codec)
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise DfrobustError(f"Expected jpeg_quality in [1, 100], got {self.jpeg_quality}")

    def _checked_attack_eps(self) -> dict[str, tuple[float, ...]]:
        """``attack_eps`` with checked budgets, for attacks this evaluation runs."""
        checked = {}
        for name, budgets in dict(self.attack_eps).items():
            if name == "clean" or name not in self.attacks:
                raise DfrobustError(
                    f"attack_eps names {name!r}, which is not among the attacks run "
                    f"({', '.join(a for a in self.attacks if a != 'clean')})"
                )
            budgets = (budgets,) if isinstance(budgets, (int, float)) else tuple(budgets)
            if not budgets:
                raise DfrobustError(f"Expected at least one eps for {name} in attack_eps")
            checked[name] = tuple(check_eps(e, f"eps of {name}") for e in budgets)
        return checked

    def budgets(self, attack: str) -> tuple[float, ...]:
        """The budgets ``attack`` runs at: its own from ``attack_eps``, else ``eps``."""
        return tuple(dict.fromkeys(self.attack_eps.get(attack, self.eps)))

    @property
    def conditions(self) -> list[Condition]:
        """``clean`` first, then each attack at each of its budgets (in the order given)."""
        attacks = [a for a in dict.fromkeys(self.attacks) if a != "clean"]
        return [Condition("clean")] + [Condition(a, e) for a in attacks for e in self.budgets(a)]
