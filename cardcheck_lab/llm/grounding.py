"""Grounding: an LLM-reported value becomes evidence only if the cited cell printed it."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import Decimal

from ..metrics import canonical, normalize_metric, normalize_model, normalize_split, resolve_value
from ..model import Evidence
from ..numbers import NumberToken, find_quantities
from .prompt import Block
from .reply import ReportedMetric

# The markers the prompt puts in place of text it did not send; their numbers are not notebook numbers.
_CUT_MARKER = re.compile(r"\[\.\.\. [^\]]*? were cut and not sent \.\.\.\]")
_WHITESPACE = re.compile(r"\s+")
_AVERAGES = ("macro", "micro", "weighted", "samples", "binary")


def ground_metric(reported: ReportedMetric, blocks: list[Block], notebook: str) -> Evidence | None:
    """Return the evidence for ``reported`` read from the cited cell's sent lines, or None.

    The value is accepted only when a number printed in the cited cell equals it,
    is its percent or fraction form, or rounds to it as printed. The evidence
    carries the printed number, not the LLM's copy of it.
    """
    metric = normalize_metric(reported.name) or _slug(reported.name)
    cell_blocks = [block for block in blocks if block.cell_index == reported.cell]
    if not metric or not cell_blocks:
        return None

    quote = _squash(reported.quote)
    quoted_lines = []
    other_lines = []
    for block in cell_blocks:
        for line in block.lines:
            squashed = _squash(line)
            if quote and squashed and (squashed in quote or quote in squashed):
                quoted_lines.append((block, line))
            else:
                other_lines.append((block, line))

    for block, line in quoted_lines + other_lines:
        searchable = _CUT_MARKER.sub(lambda match: " " * len(match.group(0)), line)
        for quantity in find_quantities(searchable):
            token = quantity.token
            if not value_matches(reported.value, token):
                continue
            resolved = resolve_value(metric, token, label=line)
            if resolved is None:
                continue
            return Evidence(
                notebook=notebook,
                cell_index=block.cell_index,
                cell_id=block.cell_id,
                output_index=block.output_index,
                metric=metric,
                value=resolved.value,
                unit=resolved.unit,
                text=line,
                token=token.raw,
                qualifiers=normalize_qualifiers(reported.qualifiers),
                extractor="llm",
                spread=quantity.spread,
                interval=quantity.interval,
                ambiguity=resolved.ambiguity,
                execution_count=block.execution_count,
            )
    return None


def value_matches(value: float, token: NumberToken) -> bool:
    """Tell whether ``value`` is the printed ``token``: equal, its percent or fraction form, or rounded from it."""
    readings = [(token.value, token.decimals)]
    if token.alternative is not None:
        # The other reading of an ambiguous separator, such as "1,234": 1234 or 1.234.
        alternative_decimals = 3 if abs(token.alternative) < abs(token.value) else 0
        readings.append((token.alternative, alternative_decimals))

    for printed, decimals in readings:
        scaled = [(printed, decimals)]
        if token.percent:
            scaled.append((printed / 100.0, decimals + 2))
        elif abs(printed) <= 1.0:
            scaled.append((printed * 100.0, decimals - 2))
        for candidate, candidate_decimals in scaled:
            if _close(value, candidate) or _rounds_to(candidate, candidate_decimals, value):
                return True
    return False


def normalize_qualifiers(qualifiers: dict[str, str]) -> dict[str, str]:
    """Map the LLM's qualifier words onto the ids the card parser uses."""
    result: dict[str, str] = {}
    for key, raw in qualifiers.items():
        text = raw.strip()
        if not text:
            continue
        if key == "split":
            result[key] = normalize_split(text) or text.lower()
        elif key == "model":
            result[key] = normalize_model(text) or _slug(text)
        elif key == "average":
            lowered = text.lower()
            result[key] = next((word for word in _AVERAGES if lowered.startswith(word)), lowered)
        else:
            result[key] = text.lower()
    return result


def merge_evidence(
    rule_evidence: Iterable[Evidence], llm_evidence: Iterable[Evidence]
) -> list[Evidence]:
    """Return the rule evidence followed by the LLM evidence that no rule item already gives.

    An LLM item duplicates a rule item when both name the same notebook, cell and
    metric and their values are equal once percent and fraction are on one scale.
    """
    rules = list(rule_evidence)
    seen = {(item.notebook, item.cell_index, item.metric): [] for item in rules}
    for item in rules:
        seen[(item.notebook, item.cell_index, item.metric)].append(canonical(item.value, item.unit))

    merged = list(rules)
    for item in llm_evidence:
        values = seen.get((item.notebook, item.cell_index, item.metric), [])
        value = canonical(item.value, item.unit)
        if any(_close(value, other) for other in values):
            continue
        merged.append(item)
    return merged


def _close(left: float, right: float) -> bool:
    return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)


def _rounds_to(printed: float, printed_decimals: int, value: float) -> bool:
    """Tell whether ``value`` is ``printed`` rounded to fewer decimals, with two or more significant digits."""
    value_decimals = _decimals_of(value)
    if value_decimals >= printed_decimals or value == 0:
        return False
    significant = len(Decimal(repr(abs(value))).normalize().as_tuple().digits)
    if significant < 2:
        return False
    return _close(round(printed, value_decimals), value)


def _decimals_of(value: float) -> int:
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def _squash(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")
