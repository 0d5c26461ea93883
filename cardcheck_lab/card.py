"""Parse the metric claims of a Markdown model card.

Reads Hugging Face ``model-index`` YAML front matter, Markdown tables in either
orientation, and numbers in sentences. Code blocks and raw HTML are not claims.
"""

from __future__ import annotations

import re

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from .metrics import (
    COUNT_METRICS,
    find_metric_mentions,
    find_qualifiers,
    heading_qualifiers,
    normalize_metric,
    normalize_model,
    normalize_split,
    normalize_text,
    pair_metrics,
    resolve_value,
)
from .model import Claim
from .numbers import Quantity, find_numbers, find_quantities

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_HEDGE_SIGNS = {"~": "~", "\u2248": "\u2248", "\u223c": "~"}
_BOUND_SIGNS = {"<": "<", ">": ">", "\u2264": "<=", "\u2265": ">=", "<=": "<=", ">=": ">="}


def tolerance_for(value: float, decimals: int, hedge: str, unit: str, relation: str) -> float:
    """Return how far a found value may be from the claim and still agree with it.

    An unhedged number agrees with anything that rounds to it: half a unit in
    the last digit stated ("0.70" allows 0.005). A hedge ("about", "~") doubles
    that. A hedged round count ("about 7,000 rows") allows half of its
    rightmost non-zero place. Bounds ("over 80%") are compared strictly.
    """
    if relation != "=":
        return 0.0
    tolerance = 0.5 * 10.0 ** (-decimals)
    if hedge:
        tolerance *= 2
        if unit == "count" and value:
            digits = str(int(abs(value)))
            trailing_zeros = len(digits) - len(digits.rstrip("0"))
            tolerance = max(tolerance, 0.5 * 10.0**trailing_zeros)
    return tolerance


class ClaimBuilder:
    def __init__(self) -> None:
        self.claims: list[Claim] = []

    def add(
        self,
        metric: str,
        quantity: Quantity,
        text: str,
        line: int,
        qualifiers: dict[str, str],
        source: str,
        hedge: str = "",
        relation: str = "=",
    ) -> None:
        token = quantity.token
        # The card states its own unit, so no percent-or-fraction doubt applies to claims.
        resolved = resolve_value(metric, token)
        if resolved is None:
            return
        if metric in COUNT_METRICS and resolved.value < 10 and relation == "=":
            # "2 models", "5 folds": small counts are not dataset facts.
            return
        self.claims.append(
            Claim(
                id=f"c{len(self.claims) + 1}",
                text=" ".join(text.split()),
                line=line,
                metric=metric,
                value=resolved.value,
                unit=resolved.unit,
                decimals=resolved.decimals,
                tolerance=tolerance_for(
                    resolved.value, resolved.decimals, hedge, resolved.unit, relation
                ),
                relation=relation,
                hedge=hedge,
                qualifiers={k: v for k, v in qualifiers.items() if v},
                source=source,
                spread=quantity.spread,
                interval=quantity.interval,
            )
        )


def parse_card(text: str) -> list[Claim]:
    """Return every metric claim of a model card, in card order."""
    builder = ClaimBuilder()
    body, offset = text, 0

    front = _FRONT_MATTER.match(text)
    if front:
        _parse_model_index(front.group(1), builder, line_offset=1)
        offset = text.count("\n", 0, front.end())
        body = text[front.end() :]

    markdown = MarkdownIt("commonmark").enable("table")
    tokens = markdown.parse(body)
    _walk_tokens(tokens, builder, offset)

    builder.claims.sort(key=lambda claim: claim.line)
    for index, claim in enumerate(builder.claims, start=1):
        claim.id = f"c{index}"
    return builder.claims


# --- model-index ---------------------------------------------------------------


def _parse_model_index(front_matter: str, builder: ClaimBuilder, line_offset: int) -> None:
    try:
        root = yaml.compose(front_matter, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return
    if not isinstance(root, yaml.MappingNode):
        return
    model_index = _mapping_get(root, "model-index")
    if not isinstance(model_index, yaml.SequenceNode):
        return

    for model_node in model_index.value:
        results = _mapping_get(model_node, "results")
        if not isinstance(results, yaml.SequenceNode):
            continue
        for result in results.value:
            dataset = _mapping_get(result, "dataset")
            dataset_name = _scalar(_mapping_get(dataset, "name")) or _scalar(
                _mapping_get(dataset, "type")
            )
            split = normalize_split(_scalar(_mapping_get(dataset, "split")) or "")
            metrics = _mapping_get(result, "metrics")
            if not isinstance(metrics, yaml.SequenceNode):
                continue
            for metric_node in metrics.value:
                _model_index_metric(metric_node, dataset_name, split, builder, line_offset)


def _model_index_metric(
    node, dataset: str, split: str | None, builder: ClaimBuilder, line_offset: int
) -> None:
    metric_type = _scalar(_mapping_get(node, "type"))
    metric_name = _scalar(_mapping_get(node, "name"))
    value_node = _mapping_get(node, "value")
    raw_value = _scalar(value_node)
    metric = normalize_metric(metric_type or "") or normalize_metric(metric_name or "")
    if metric is None or not raw_value:
        return
    quantities = find_quantities(raw_value)
    if len(quantities) != 1:
        return
    line = value_node.start_mark.line + line_offset + 1
    label = metric_name or metric_type or metric
    qualifiers = {"dataset": dataset or "", "split": split or ""}
    named = find_qualifiers(normalize_text(metric_name or ""))
    qualifiers.update({k: v for k, v in named.items() if k in ("class", "average", "model")})
    builder.add(metric, quantities[0], f"{label}: {raw_value}", line, qualifiers, "model-index")


def _mapping_get(node, key: str):
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _scalar(node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else ""


# --- Markdown body -------------------------------------------------------------


def _inline_text(token: Token) -> str:
    """Render an inline token as plain text, one "\\n" per line break, no URLs."""
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content if child.type != "html_inline" else "")
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)


def _walk_tokens(tokens: list[Token], builder: ClaimBuilder, offset: int) -> None:
    headings: dict[int, dict[str, str]] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]

        if token.type == "heading_open":
            level = int(token.tag[1:])
            text = normalize_text(_inline_text(tokens[index + 1]))
            for deeper in [lvl for lvl in headings if lvl >= level]:
                del headings[deeper]
            # A heading names the split of what follows ("Test set"), except that
            # "Training data" describes the data rather than a result on it.
            qualifiers = heading_qualifiers(text)
            if qualifiers.get("split") == "train":
                del qualifiers["split"]
            headings[level] = qualifiers
            index += 3
            continue

        context: dict[str, str] = {}
        for level in sorted(headings):
            context.update(headings[level])

        if token.type == "table_open":
            end = index
            while tokens[end].type != "table_close":
                end += 1
            _parse_table(tokens[index : end + 1], builder, offset, context)
            index = end + 1
            continue

        if token.type == "inline" and token.map:
            _parse_prose(_inline_text(token), token.map[0] + offset + 1, builder, context)
        index += 1


def _parse_prose(
    text: str, first_line: int, builder: ClaimBuilder, context: dict[str, str]
) -> None:
    flat = text.replace("\n", " ")
    for pairing in pair_metrics(flat, context):
        token = pairing.quantity.token
        line = first_line + text.count("\n", 0, token.start)
        sentence = _sentence_around(flat, token.start, token.end)
        builder.add(
            pairing.metric,
            pairing.quantity,
            sentence,
            line,
            pairing.qualifiers,
            "prose",
            hedge=pairing.hedge,
            relation=pairing.relation,
        )


def _sentence_around(text: str, start: int, end: int) -> str:
    left = max(text.rfind(". ", 0, start), text.rfind("; ", 0, start))
    right_candidates = [i for i in (text.find(". ", end), text.find("; ", end)) if i != -1]
    right = min(right_candidates) + 1 if right_candidates else len(text)
    return text[left + 1 if left != -1 else 0 : right].strip()


def _table_rows(tokens: list[Token], offset: int) -> list[tuple[int, list[str]]]:
    rows: list[tuple[int, list[str]]] = []
    for token in tokens:
        if token.type == "tr_open":
            line = (token.map[0] if token.map else 0) + offset + 1
            rows.append((line, []))
        elif token.type == "inline" and rows:
            rows[-1][1].append(_inline_text(token).strip())
    return rows


def _label_metric(label: str) -> str | None:
    """Read the metric a table label names, such as "Threshold (5% FPR)" -> threshold."""
    label = normalize_text(label).strip()
    metric = normalize_metric(label)
    if metric:
        return metric
    mentions = find_metric_mentions(label)
    if mentions and mentions[0].start == 0:
        return mentions[0].metric
    return None


def _cell_quantity(cell: str) -> tuple[Quantity, str, str] | None:
    """Return the quantity of a cell holding one number, with its hedge and bound."""
    cell = normalize_text(cell).strip()
    quantities = find_quantities(cell)
    if len(quantities) != 1:
        return None
    quantity = quantities[0]
    before = cell[: quantity.token.start].strip()
    after = cell[quantity.end :].strip()
    if after or len(before) > 2:
        return None
    hedge = _HEDGE_SIGNS.get(before, "")
    relation = _BOUND_SIGNS.get(before, "=")
    if before and not hedge and relation == "=":
        return None
    return quantity, hedge, relation


def _label_qualifiers(label: str) -> dict[str, str]:
    label = normalize_text(label).strip()
    qualifiers = find_qualifiers(label)
    if "model" not in qualifiers and "split" not in qualifiers and _label_metric(label) is None:
        model = normalize_model(label)
        if model:
            qualifiers["model"] = model
    return qualifiers


def _parse_table(
    tokens: list[Token], builder: ClaimBuilder, offset: int, context: dict[str, str]
) -> None:
    rows = _table_rows(tokens, offset)
    if len(rows) < 2:
        return
    _, header = rows[0]
    header_metrics = [_label_metric(cell) for cell in header]

    for line, cells in rows[1:]:
        labels = [
            (column, cell)
            for column, cell in enumerate(cells)
            if cell and _cell_quantity(cell) is None
        ]
        row_metric = _label_metric(labels[0][1]) if labels else None
        row_label = " ".join(cell for _, cell in labels if len(cell) <= 60)

        for column, cell in enumerate(cells):
            parsed = _cell_quantity(cell)
            column_label = header[column] if column < len(header) else ""
            if parsed is None:
                if cell and find_numbers(cell) and column != (labels[0][0] if labels else -1):
                    # Prose inside a table cell ("88.7% of the time") is read as prose.
                    cell_context = dict(context)
                    cell_context.update(
                        {k: v for k, v in _label_qualifiers(labels[0][1]).items() if k != "class"}
                        if labels
                        else {}
                    )
                    _parse_prose(cell, line, builder, cell_context)
                continue

            quantity, hedge, relation = parsed
            column_metric = header_metrics[column] if column < len(header_metrics) else None
            metric = column_metric or row_metric
            if metric is None:
                continue
            qualifiers = dict(context)
            qualifiers.update(_label_qualifiers(row_label if column_metric else column_label))
            if column_metric:
                metric_label = column_label
            else:
                metric_label = labels[0][1] if labels else ""
            qualifiers.update(
                {
                    k: v
                    for k, v in find_qualifiers(normalize_text(metric_label)).items()
                    if k not in qualifiers or k == "class"
                }
            )
            # "ROC-AUC (Test): 0.87" names the cell the claim came from.
            other_label = row_label if column_metric else column_label
            cell_name = f"{metric_label} ({other_label})" if other_label else metric_label
            builder.add(
                metric,
                quantity,
                f"{cell_name}: {cell}",
                line,
                qualifiers,
                "table",
                hedge=hedge,
                relation=relation,
            )
