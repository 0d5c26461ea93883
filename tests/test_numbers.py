"""Number grammar: separators, exponents, percentages, spreads and intervals."""

from __future__ import annotations

import pytest

from cardcheck_lab.numbers import find_numbers, find_quantities, parse_core


def only_number(text: str):
    tokens = find_numbers(text)
    assert len(tokens) == 1, f"expected one number in {text!r}, got {[t.raw for t in tokens]}"
    return tokens[0]


def only_quantity(text: str):
    quantities = find_quantities(text)
    assert len(quantities) == 1, (
        f"expected one quantity in {text!r}, got {[q.token.raw for q in quantities]}"
    )
    return quantities[0]


@pytest.mark.parametrize(
    ("text", "value", "decimals"),
    [
        ("0,703", 0.703, 3),
        ("5,5", 5.5, 1),
        ("7,04", 7.04, 2),
        ("0.703", 0.703, 3),
        ("42", 42.0, 0),
    ],
)
def test_decimal_separator_read(text, value, decimals):
    token = only_number(text)
    assert token.value == pytest.approx(value)
    assert token.decimals == decimals
    assert token.ambiguity == ""


def test_grouped_thousands_several_groups():
    token = only_number("1,234,567")
    assert token.value == 1234567
    assert token.ambiguity == ""


def test_grouped_thousands_with_decimal_comma():
    token = only_number("1.401,40")
    assert token.value == pytest.approx(1401.40)
    assert token.decimals == 2


def test_grouped_thousands_with_decimal_point():
    token = only_number("1,234.5")
    assert token.value == pytest.approx(1234.5)


def test_ambiguous_dot_three_digits():
    token = only_number("12.345")
    assert token.ambiguity == "ambiguous separator"
    assert {token.value, token.alternative} == {12.345, 12345.0}


def test_ambiguous_comma_three_digits():
    token = only_number("1,234")
    assert token.ambiguity == "ambiguous separator"
    assert {token.value, token.alternative} == {1234.0, 1.234}


def test_malformed_groups_rejected():
    assert parse_core("1.2.3") is None
    assert find_numbers("build 1.2.3") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [("6.05e-06", 6.05e-06), ("8.1E-01", 0.81), ("1e-3", 0.001), ("2.5e+03", 2500.0)],
)
def test_exponent_read(text, value):
    token = only_number(text)
    assert token.value == pytest.approx(value, rel=1e-12)
    assert token.raw == text


def test_exponent_decimals_count_places():
    assert only_number("6.05e-06").decimals == 8


@pytest.mark.parametrize("text", ["70.3%", "70.3 %", "70.3 percent"])
def test_percent_kept_in_percent_unit(text):
    token = only_number(text)
    assert token.value == pytest.approx(70.3)
    assert token.percent is True


def test_negative_signs():
    assert only_number("R2: -0.75").value == pytest.approx(-0.75)
    assert only_number("R2: \u22120.75").value == pytest.approx(-0.75)


@pytest.mark.parametrize("text", ["F1", "R2", "segment_017", "v2.0", "x86_64"])
def test_digits_inside_names_ignored(text):
    assert find_numbers(text) == []


def test_metric_name_digit_not_a_value():
    token = only_number("F1: 0.53")
    assert token.value == pytest.approx(0.53)


def test_spread_plus_minus_sign():
    quantity = only_quantity("AUC = 0.812 \u00b1 0.015")
    assert quantity.token.value == pytest.approx(0.812)
    assert quantity.spread.value == pytest.approx(0.015)
    assert quantity.spread.meaning == "unknown"


def test_spread_in_brackets():
    quantity = only_quantity("Accuracy: 0.98 (+/- 0.03)")
    assert quantity.token.value == pytest.approx(0.98)
    assert quantity.spread.value == pytest.approx(0.03)
    assert quantity.spread.meaning == "unknown"


@pytest.mark.parametrize(
    ("label", "meaning"), [("std over 5 folds", "std"), ("SEM", "sem"), ("sd", "std")]
)
def test_spread_label_meaning(label, meaning):
    quantity = only_quantity(f"0.81 \u00b1 0.02 ({label})")
    assert quantity.spread.meaning == meaning


def test_interval_with_en_dash():
    quantity = only_quantity("KS 0.41 [95% CI 0.38\u20130.44]")
    assert quantity.token.value == pytest.approx(0.41)
    assert quantity.interval.low == pytest.approx(0.38)
    assert quantity.interval.high == pytest.approx(0.44)
    assert quantity.interval.label == "95% CI"


def test_interval_high_not_negative():
    quantity = only_quantity("KS 0.41 [0.38\u20130.44]")
    assert quantity.interval.high > 0


def test_interval_in_parentheses_with_comma():
    quantity = only_quantity("Gini: 0.62 (0.58, 0.66)")
    assert quantity.token.value == pytest.approx(0.62)
    assert quantity.interval.low == pytest.approx(0.58)
    assert quantity.interval.high == pytest.approx(0.66)
    assert quantity.interval.label == ""


def test_interval_written_with_to():
    quantity = only_quantity("KS 0.41 (95% CI 0.38 to 0.44)")
    assert (quantity.interval.low, quantity.interval.high) == pytest.approx((0.38, 0.44))


def test_spread_and_interval_numbers_not_quantities():
    text = "Accuracy: 0.98 (+/- 0.03), AUC 0.812 \u00b1 0.015, KS 0.41 [95% CI 0.38\u20130.44]"
    values = [q.token.value for q in find_quantities(text)]
    assert values == pytest.approx([0.98, 0.812, 0.41])


def test_quantity_end_covers_spread():
    text = "0.81 \u00b1 0.02 then"
    quantity = only_quantity(text)
    assert text[quantity.end :].strip() == "then"


@pytest.mark.parametrize("text", ["AUC 0.81 \u00b1 0.02.", "AUC 0.81 \u00b1 0.02, then KS"])
def test_spread_before_punctuation(text):
    quantity = find_quantities(text)[0]
    assert quantity.spread is not None
    assert quantity.spread.value == pytest.approx(0.02)
