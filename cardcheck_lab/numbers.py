"""Number grammar shared by the card parser and the notebook extractors.

A number token is read the same way wherever it appears, so a card's "0.70" and
a notebook's "0,70" or "7.0e-01" compare as the same quantity. Separators are
read conservatively: a token that two locales read differently is marked
ambiguous rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import Interval, Spread

# The core is digits with optional "," and "." separators and an optional exponent.
# The look-behind keeps names such as "F1", "R2", "segment_017" or "v2.0" out.
_NUMBER = re.compile(
    r"(?<![\w.,\d^])"
    r"(?P<sign>[-+\u2212])?"
    r"(?P<core>\d(?:[\d,.]*\d)?)"
    r"(?P<exp>[eE][-+]?\d+)?"
    r"(?![\w]|\.\d)"
    r"(?P<pct>\s?%|\s+percent\b)?"
)

_SPREAD = re.compile(
    r"\s*(?P<open>\()?\s*(?:\u00b1|\+/-|\+-)\s*"
    r"(?P<num>\d(?:[\d.,]*\d)?(?:[eE][-+]?\d+)?)(?P<pct>\s?%)?\s*(?(open)\))"
    r"(?:\s*\(\s*(?P<label>std|s\.?d\.?|standard deviation|sem|se|standard error)\b[^)]*\))?",
    re.IGNORECASE,
)

_INTERVAL = re.compile(
    r"\s*[\[(]\s*(?:(?P<label>\d{2}(?:\.\d)?\s?%\s*(?:CI|confidence interval)|CI)\s*[:=]?\s*)?"
    r"(?P<low>[-\u2212]?\d[\d.,]*)(?P<lpct>\s?%)?\s*(?:\u2013|\u2014|-|to|,)\s*"
    r"(?P<high>[-\u2212]?\d[\d.,]*)(?P<hpct>\s?%)?\s*[\])]",
    re.IGNORECASE,
)


@dataclass
class NumberToken:
    """One number as printed, with its value read in the unit it was printed in."""

    raw: str
    value: float
    start: int
    end: int
    percent: bool = False
    decimals: int = 0  # digits after the decimal separator, less the exponent
    # Why the token's separators could be read two ways; empty when they cannot.
    ambiguity: str = ""
    alternative: float | None = None  # the other reading when ambiguous


@dataclass
class Quantity:
    """A point value with the spread or interval printed right after it."""

    token: NumberToken
    end: int  # end of the whole quantity, spread or interval included
    spread: Spread | None = None
    interval: Interval | None = None


def _decimals_of(fraction_digits: str, exponent: int) -> int:
    return len(fraction_digits) - exponent


def parse_core(core: str) -> tuple[float, int, str, float | None] | None:
    """Read digits with separators; return (value, decimals, ambiguity, alternative).

    Returns None for strings that are not one number, such as "1.2.3".
    """
    commas = core.count(",")
    dots = core.count(".")

    if commas == 0 and dots == 0:
        return float(core), 0, "", None

    if commas and dots:
        # The separator that comes last is the decimal one: "1,234.5" or "1.234,5".
        decimal_sep = "." if core.rfind(".") > core.rfind(",") else ","
        group_sep = "," if decimal_sep == "." else "."
        whole, _, fraction = core.rpartition(decimal_sep)
        if decimal_sep in whole or not _grouped(whole, group_sep):
            return None
        return float(whole.replace(group_sep, "") + "." + fraction), len(fraction), "", None

    sep = "," if commas else "."
    parts = core.split(sep)
    if len(parts) > 2:
        if not _grouped(core, sep):
            return None
        return float(core.replace(sep, "")), 0, "", None

    whole, fraction = parts
    if sep == "," and (whole.lstrip("0") == "" or len(fraction) != 3):
        # "0,703" and "5,5" can only be decimal commas.
        return float(whole + "." + fraction), len(fraction), "", None
    if sep == "." and (whole.lstrip("0") == "" or len(fraction) != 3 or len(whole) > 3):
        return float(core), len(fraction), "", None

    # One separator followed by exactly three digits, such as "1,234" or "12.345".
    grouped = float(whole + fraction)
    decimal = float(whole + "." + fraction)
    if sep == ",":
        # English grouping is the default reading; the decimal comma is the other.
        return grouped, 0, "ambiguous separator", decimal
    return decimal, 3, "ambiguous separator", grouped


def _grouped(text: str, sep: str) -> bool:
    groups = text.split(sep)
    first_ok = 1 <= len(groups[0]) <= 3 and groups[0].isdigit()
    return first_ok and all(len(g) == 3 and g.isdigit() for g in groups[1:])


def has_number(text: str) -> bool:
    """Tell whether ``text`` has a number token, without reading its value.

    Cheaper than ``find_numbers`` because it stops at the first match; a token
    such as "1.2.3" that ``find_numbers`` skips still counts here.
    """
    return _NUMBER.search(text) is not None


def find_numbers(text: str) -> list[NumberToken]:
    """Find every number token in ``text``, in order."""
    tokens = []
    for match in _NUMBER.finditer(text):
        parsed = parse_core(match.group("core"))
        if parsed is None:
            continue
        value, decimals, ambiguity, alternative = parsed

        exponent_text = match.group("exp")
        if exponent_text:
            if ambiguity:
                # "1,234e5" is not something any tool prints.
                continue
            exponent = int(exponent_text[1:])
            value *= 10.0**exponent
            decimals -= exponent

        if match.group("sign") in ("-", "\u2212"):
            value = -value
            alternative = -alternative if alternative is not None else None

        percent = bool(match.group("pct"))
        tokens.append(
            NumberToken(
                raw=match.group(0).strip(),
                value=value,
                start=match.start(),
                end=match.end(),
                percent=percent,
                decimals=decimals,
                ambiguity=ambiguity,
                alternative=alternative,
            )
        )
    return tokens


def _simple_value(raw: str) -> float | None:
    parsed = parse_core(raw.replace("\u2212", "-").lstrip("-"))
    if parsed is None:
        return None
    value = parsed[0]
    return -value if raw.startswith(("-", "\u2212")) else value


def _spread_meaning(label: str | None) -> str:
    if not label:
        return "unknown"
    label = label.lower().replace(".", "")
    if label.startswith(("std", "sd", "standard dev")):
        return "std"
    return "sem"


def find_quantities(text: str) -> list[Quantity]:
    """Group number tokens into point values with their spreads and intervals.

    Tokens that belong to a spread ("± 0.02"), an interval ("[0.38–0.44]") or an
    interval's label ("95% CI") are not returned as quantities of their own.
    """
    tokens = find_numbers(text)
    quantities: list[Quantity] = []
    consumed_until = -1

    for token in tokens:
        if token.start < consumed_until:
            continue
        quantity = Quantity(token=token, end=token.end)
        rest = text[token.end :]

        spread_match = _SPREAD.match(rest)
        if spread_match:
            spread_value = _simple_value(spread_match.group("num"))
            if spread_value is not None:
                quantity.spread = Spread(spread_value, _spread_meaning(spread_match.group("label")))
                quantity.end = token.end + spread_match.end()
                rest = text[quantity.end :]

        interval_match = _INTERVAL.match(rest)
        if interval_match:
            low = _simple_value(interval_match.group("low"))
            high = _simple_value(interval_match.group("high"))
            if low is not None and high is not None and low <= high:
                label = interval_match.group("label") or ""
                quantity.interval = Interval(low, high, " ".join(label.split()))
                quantity.end = quantity.end + interval_match.end()

        consumed_until = quantity.end
        quantities.append(quantity)
    return quantities
