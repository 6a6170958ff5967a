"""Attack budgets: parsing fractions, checking the range, the text and file-name forms."""

from __future__ import annotations

import pytest

from dfrobust.eps import check_eps, eps_label, eps_slug, parse_eps, parse_fraction
from dfrobust.errors import DfrobustError


@pytest.mark.parametrize(
    ("text", "value"),
    [("8/255", 8 / 255), (" 4/255 ", 4 / 255), ("0.03", 0.03), ("4", 4.0), ("1e-3", 0.001), (3, 3.0), (0.5, 0.5)],
)
def test_parse_fraction_reads_fractions_decimals_and_numbers(text, value: float) -> None:
    assert parse_fraction(text) == value
    assert isinstance(parse_fraction(text), float)


@pytest.mark.parametrize("text", ["8/0", "eight", "", "1/2/3", True, None])
def test_parse_fraction_names_the_value_and_the_expected_form(text) -> None:
    with pytest.raises(DfrobustError, match=f"Expected lr as a number or a fraction like 8/255, but got {text!r}"):
        parse_fraction(text, "lr")


def test_check_eps_accepts_the_unit_interval_only() -> None:
    assert check_eps(0) == 0.0 and isinstance(check_eps(0), float)
    assert check_eps(1) == 1.0 and check_eps(8 / 255) == 8 / 255
    for bad in (-0.01, 1.5, True, "0.1", float("nan")):
        with pytest.raises(DfrobustError, match=r"Expected budget in \[0, 1\] \(pixel units"):
            check_eps(bad, "budget")


def test_an_eps_in_grey_levels_suggests_the_fraction() -> None:
    with pytest.raises(DfrobustError, match="got 8.0; did you mean 8/255"):
        check_eps(8.0)
    with pytest.raises(DfrobustError, match="did you mean 4/255"):
        parse_eps("4")
    with pytest.raises(DfrobustError) as info:
        check_eps(-1.0)
    assert "did you mean" not in str(info.value)  # no hint for a negative budget


def test_parse_eps_parses_then_checks() -> None:
    assert parse_eps("8/255") == 8 / 255 and parse_eps(0.03) == 0.03 and parse_eps("0") == 0.0
    with pytest.raises(DfrobustError, match="Expected --eps as a number"):
        parse_eps("big", "--eps")
    with pytest.raises(DfrobustError, match=r"Expected --eps in \[0, 1\]"):
        parse_eps("-1/255", "--eps")


def test_labels_use_k_over_255_else_the_decimal() -> None:
    assert eps_label(0) == "0" and eps_label(0.0) == "0"
    assert eps_label(4 / 255) == "4/255" and eps_label(16 / 255) == "16/255"
    assert eps_label(0.03) == "0.03" and eps_label(0.5) == "0.5" and eps_label(1e-5) == "1e-05"
    assert eps_label(8 / 255 + 1e-9) == "8/255"  # float noise of a computed budget


def test_slugs_are_file_name_safe() -> None:
    assert eps_slug(4 / 255) == "4-255" and eps_slug(0.03) == "0.03" and eps_slug(0) == "0"
    assert all("/" not in eps_slug(k / 255) for k in range(256))
    assert len({eps_slug(k / 255) for k in range(256)}) == 256  # one file per budget


def test_every_k_over_255_round_trips_through_its_label() -> None:
    for k in range(256):
        assert parse_eps(eps_label(k / 255)) == k / 255, k


@pytest.mark.parametrize("eps", [0.03, 0.001, 0.0314, 0.25, 0.5, 1e-5, 0.123456])
def test_decimal_budgets_round_trip_through_their_label(eps: float) -> None:
    assert parse_eps(eps_label(eps)) == eps
