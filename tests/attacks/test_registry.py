"""The attack registry: one list of names, uses, default set, knobs, clear errors."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest

from dfrobust.attacks import ATTACKS, attack_names, default_attacks, display_rank, get_attack, pgd
from dfrobust.errors import DfrobustError


def test_every_attack_has_the_registry_signature() -> None:
    for spec in ATTACKS.values():
        params = inspect.signature(spec.fn).parameters
        assert list(params)[:3] == ["model", "x", "y"], spec.name
        assert params["eps"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["generator"].default is None
        for keyword in (*spec.eval_options, *spec.train_options):
            assert keyword in params, (spec.name, keyword)


def test_names_uses_and_default_set() -> None:
    assert attack_names("eval")[0] == "clean"  # clean is listed first everywhere
    assert set(attack_names("train")) == {"fgsm_rs", "n_fgsm", "pgd"}
    assert set(default_attacks()) <= set(attack_names("eval")) and "clean" in default_attacks()
    assert [display_rank(n) for n in attack_names()] == sorted(display_rank(n) for n in attack_names())
    assert display_rank("not-an-attack") == len(ATTACKS)


def test_options_are_read_from_the_named_settings() -> None:
    spec = get_attack("pgd")
    assert spec.fn is pgd
    assert spec.options(SimpleNamespace(pgd_steps=7, eot=2), "eval") == {"steps": 7, "eot": 2}
    assert spec.options(SimpleNamespace(alpha=None, steps=3), "train") == {"alpha": None, "steps": 3}


def test_unknown_or_unusable_names_are_errors() -> None:
    with pytest.raises(DfrobustError, match="Unknown attack 'cw'; expected one of: clean, fgsm"):
        get_attack("cw")
    with pytest.raises(DfrobustError, match="Unknown attack 'square' for train"):
        get_attack("square", "train")
