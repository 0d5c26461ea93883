"""Reading the LLM's reply: strict JSON, then a check of each reported metric's fields."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .prompt import QUALIFIER_FIELDS

log = logging.getLogger("cardcheck_lab.llm")

# A whole reply wrapped in one Markdown code fence, such as ```json ... ```.
_FENCE = re.compile(r"\A\s*```[A-Za-z0-9_-]*[ \t]*\n(?P<body>.*?)\n[ \t]*```\s*\Z", re.DOTALL)


class InvalidReply(Exception):
    """The reply is not JSON, or not of the requested form."""


@dataclass
class ReportedMetric:
    """One metric value as the LLM reported it, before grounding."""

    name: str
    value: float
    cell: int
    quote: str = ""
    qualifiers: dict[str, str] = field(default_factory=dict)


def parse_reply_text(text: str) -> dict[str, Any]:
    """Parse a reply's text as one JSON object.

    The only repair is removing a Markdown code fence around the whole reply, and
    it is logged. Anything else that ``json.loads`` rejects, trailing commas
    included, raises ``InvalidReply``.
    """
    match = _FENCE.match(text)
    if match:
        log.info("LLM reply was wrapped in a Markdown code fence; parsing the fenced text")
        text = match.group("body")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidReply(
            f"invalid JSON from LLM ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    if not isinstance(data, dict):
        raise InvalidReply(f"invalid JSON from LLM (expected an object, got {type(data).__name__})")
    return data


def read_metrics(data: dict[str, Any]) -> tuple[list[ReportedMetric], int]:
    """Return the well-formed metrics of a parsed reply and the number of malformed items skipped."""
    items = data.get("metrics")
    if not isinstance(items, list):
        raise InvalidReply('invalid JSON from LLM (no "metrics" list)')

    metrics: list[ReportedMetric] = []
    malformed = 0
    for item in items:
        metric = _read_item(item)
        if metric is None:
            malformed += 1
            log.info("LLM reported a malformed metric item, skipped: %.200r", item)
        else:
            metrics.append(metric)
    return metrics, malformed


def _read_item(item: Any) -> ReportedMetric | None:
    if not isinstance(item, dict):
        return None
    name = item.get("name")
    value = item.get("value")
    cell = item.get("cell")
    if not isinstance(name, str) or not name.strip():
        return None
    # bool is a subclass of int, and a JSON true is not a value.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if isinstance(cell, bool) or not isinstance(cell, int) or cell < 0:
        return None
    quote = item.get("quote")
    qualifiers = {}
    for key in QUALIFIER_FIELDS:
        qualifier = item.get(key)
        if (
            isinstance(qualifier, str)
            and qualifier.strip()
            and qualifier.strip().lower() not in ("null", "none")
        ):
            qualifiers[key] = qualifier.strip()
    return ReportedMetric(
        name=name.strip(),
        value=float(value),
        cell=cell,
        quote=quote if isinstance(quote, str) else "",
        qualifiers=qualifiers,
    )
