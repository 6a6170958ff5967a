"""Attack budgets: the one place where eps values are checked, parsed and written as text.

eps is an L-inf budget in pixel units of images in [0, 1] (DESIGN.md), so ``8/255`` means
eight grey levels. The text form is ``4/255`` for multiples of 1/255, else the shortest
decimal (``0.03``), and ``0`` for clean; :func:`parse_eps` reads both back::

    >>> eps_label(4 / 255), parse_eps("4/255") == 4 / 255, parse_eps(eps_label(0.03))
    ('4/255', True, 0.03)
"""

from __future__ import annotations

from fractions import Fraction

from dfrobust.errors import DfrobustError


def parse_fraction(text: str | float, name: str = "value") -> float:
    """``"8/255"``, ``"0.03"`` or ``"4"`` (or a number) as a float, with a clear error."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    try:
        return float(Fraction(str(text).strip()))
    except (ValueError, ZeroDivisionError):
        raise DfrobustError(f"Expected {name} as a number or a fraction like 8/255, but got {text!r}") from None


def check_eps(eps: float, name: str = "eps") -> float:
    """Return ``eps`` as a float after checking it is a pixel-space budget in [0, 1]."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps <= 1:
        hint = f"; did you mean {eps:g}/255?" if isinstance(eps, (int, float)) and eps > 1 else ""
        raise DfrobustError(f"Expected {name} in [0, 1] (pixel units, images in [0, 1]), got {eps!r}{hint}")
    return float(eps)


def parse_eps(text: str | float, name: str = "eps") -> float:
    """A budget from text (``8/255``, ``0.03``) or a number, checked to lie in [0, 1]."""
    return check_eps(parse_fraction(text, name), name)


def eps_label(eps: float) -> str:
    """``4/255`` for multiples of 1/255, else ``0.03``; clean is ``0``."""
    k = eps * 255
    return "0" if eps == 0 else f"{round(k)}/255" if abs(k - round(k)) < 1e-6 else repr(float(eps))


def eps_slug(eps: float) -> str:
    """File-name form of :func:`eps_label`: ``4-255``."""
    return eps_label(eps).replace("/", "-")
