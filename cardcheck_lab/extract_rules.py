"""Rule-based extraction of metric values from notebook output text.

Reads "name: value" and "name = value" lines, pandas tables (text and HTML),
and scikit-learn classification reports. Needs no network and no key.
"""

from __future__ import annotations

import re

from .metrics import (
    find_qualifiers,
    heading_qualifiers,
    normalize_metric,
    normalize_model,
    normalize_text,
    pair_metrics,
    resolve_value,
)
from .model import Evidence
from .notebooks import NotebookDoc, OutputText
from .numbers import NumberToken, find_numbers, find_quantities, has_number

_REPORT_HEADER = re.compile(r"^\s*precision\s+recall\s+f1-score\s+support\s*$")
_REPORT_COLUMNS = ("precision", "recall", "f1", "n_samples")
_REPORT_HEADER_NAMES = ("precision", "recall", "f1-score", "support")
_AVERAGE_ROWS = {
    "macro avg": "macro",
    "weighted avg": "weighted",
    "micro avg": "micro",
    "samples avg": "samples",
    "avg / total": "weighted",
}
_DIGIT = re.compile(r"\d")
_DIGITS = re.compile(r"\d+")
_TRUNCATION = re.compile(r"^\s*\.\.\.(\s|$)|\s\.\.\.(\s|$)")


def extract_rules(doc: NotebookDoc) -> list[Evidence]:
    """Extract every metric value the rules can read from a notebook's outputs."""
    evidence: list[Evidence] = []
    seen: set[tuple] = set()

    for output in doc.outputs:
        if output.kind == "error":
            continue  # tracebacks are shown as "cell raised ...", never mined
        if output.tables:
            found = _from_html_tables(doc.path, output)
        else:
            found = _from_text(doc.path, output)

        for item in found:
            key = (
                item.cell_index,
                item.output_index,
                item.metric,
                round(item.value, 12),
                tuple(sorted(item.qualifiers.items())),
            )
            if key not in seen:
                seen.add(key)
                evidence.append(item)
    return evidence


def _evidence(
    notebook: str,
    output: OutputText,
    metric: str,
    token: NumberToken,
    text: str,
    qualifiers: dict[str, str],
    label: str = "",
    quantity=None,
    ambiguity: str = "",
    heading_context: dict[str, str] | None = None,
) -> Evidence | None:
    resolved = resolve_value(metric, token, label)
    if resolved is None:
        return None
    return Evidence(
        notebook=notebook,
        cell_index=output.cell_index,
        cell_id=output.cell_id,
        output_index=output.output_index,
        metric=metric,
        value=resolved.value,
        unit=resolved.unit,
        text=text,
        token=token.raw,
        qualifiers={k: v for k, v in {**(heading_context or {}), **qualifiers}.items() if v},
        label=" ".join(label.strip(" \t:=|").split()),
        spread=quantity.spread if quantity else None,
        interval=quantity.interval if quantity else None,
        ambiguity=resolved.ambiguity or ambiguity,
        execution_count=output.execution_count,
    )


# --- plain text ----------------------------------------------------------------


def _heading_context(output: OutputText) -> dict[str, str]:
    """Return the split and model that the Markdown heading above a cell names."""
    return heading_qualifiers(output.heading) if output.heading else {}


def _from_text(notebook: str, output: OutputText) -> list[Evidence]:
    lines = output.text.split("\n")
    heading_context = _heading_context(output)
    consumed: set[int] = set()
    found: list[Evidence] = []

    for start, _ in enumerate(lines):
        if start in consumed:
            continue
        if _REPORT_HEADER.match(lines[start]):
            context = _context_above(lines, start, consumed, heading_context)
            used, items = _classification_report(notebook, output, lines, start, context)
            consumed.update(used)
            found.extend(items)

    for start, _ in enumerate(lines):
        if start in consumed:
            continue
        used, items = _text_table(notebook, output, lines, start)
        if used:
            consumed.update(used)
            found.extend(items)

    found.extend(_from_lines(notebook, output, lines, consumed, heading_context))
    return found


def _from_lines(
    notebook: str,
    output: OutputText,
    lines: list[str],
    consumed: set[int],
    heading_context: dict[str, str],
) -> list[Evidence]:
    """Read "name: value" lines, counting a line printed again and again only once.

    A training log or a loop prints lines of one shape (the same words, other
    numbers) under the same context; the last one is the result, the earlier
    ones are history. Lines are read from the end, and a line whose shape and
    context were already read is skipped, which also keeps logs of millions of
    lines cheap.
    """
    shapes_with_numbers: dict[str, bool] = {}
    shapes: list[str] = [""] * len(lines)
    contexts: list[dict[str, str] | None] = [None] * len(lines)
    context: dict[str, str] = dict(heading_context)
    for index, line in enumerate(lines):
        if index in consumed or not line.strip():
            continue
        if _DIGIT.search(line) is None:
            # A line such as "=== Test set ===" sets the split for the lines after it.
            context.update(_label_line_qualifiers(line))
            continue
        shape = shapes[index] = _DIGITS.sub("0", line)
        if shape not in shapes_with_numbers:
            shapes_with_numbers[shape] = bool(find_numbers(line))
        if shapes_with_numbers[shape]:
            contexts[index] = dict(context)
        else:
            context.update(_label_line_qualifiers(line))

    found: list[Evidence] = []
    seen: set[tuple] = set()
    for index in range(len(lines) - 1, -1, -1):
        line_context = contexts[index]
        if line_context is None:
            continue
        key = (shapes[index], tuple(sorted(line_context.items())))
        if key in seen:
            continue
        seen.add(key)
        for pairing in pair_metrics(lines[index], line_context):
            item = _evidence(
                notebook,
                output,
                pairing.metric,
                pairing.quantity.token,
                lines[index].strip(),
                pairing.qualifiers,
                pairing.label,
                pairing.quantity,
            )
            if item:
                found.append(item)
    found.reverse()
    return found


def _label_line_qualifiers(line: str) -> dict[str, str]:
    found = find_qualifiers(normalize_text(line))
    return {key: value for key, value in found.items() if key in ("split", "model")}


def _context_above(
    lines: list[str], index: int, consumed: set[int], heading_context: dict[str, str]
) -> dict[str, str]:
    """Return the split and model in force at line ``index``, as the line loop sets them.

    Each line without numbers above it ("Model: XGBoost", "=== Test set ===")
    updates what it names, starting from the heading: a report printed under
    "XGBoost Classification Report" is the XGBoost model's.
    """
    context = dict(heading_context)
    for line_index in range(index):
        line = lines[line_index]
        if line_index in consumed or not line.strip() or find_numbers(line):
            continue
        context.update(_label_line_qualifiers(line))
    return context


def _classification_report(
    notebook: str, output: OutputText, lines: list[str], header_index: int, context: dict[str, str]
) -> tuple[set[int], list[Evidence]]:
    """Read a scikit-learn classification report by column position.

    Each number belongs to the header column whose right edge is nearest to the
    number's right edge, so the "accuracy" row (f1-score and support only) and
    class names with spaces are read correctly.
    """
    header = lines[header_index]
    edges = [match.end() for match in re.finditer(r"\S+", header)]
    first_column = len(header) - len(header.lstrip())
    used = {header_index}
    found: list[Evidence] = []
    total_support_seen = False

    index = header_index + 1
    blank_run = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            blank_run += 1
            if blank_run > 1:
                break
            used.add(index)
            index += 1
            continue
        blank_run = 0
        # Class names may be numbers such as "0" or "1", so a token that ends
        # before the first column header starts is the row's label, not a value.
        tokens = [t for t in find_numbers(line) if not t.percent and t.end > first_column]
        if not tokens:
            break
        label = line[: tokens[0].start].strip()
        if not label:
            break
        used.add(index)

        lowered = " ".join(label.lower().split())
        for token in tokens:
            column = min(range(len(edges)), key=lambda i: abs(edges[i] - token.end))
            metric = _REPORT_COLUMNS[column]
            qualifiers: dict[str, str] = {}
            if lowered == "accuracy":
                if metric == "f1":
                    metric = "accuracy"
                elif metric != "n_samples":
                    continue
            elif lowered in _AVERAGE_ROWS:
                qualifiers["average"] = _AVERAGE_ROWS[lowered]
            else:
                qualifiers["class"] = lowered

            if metric == "n_samples" and "class" not in qualifiers:
                if total_support_seen:
                    continue
                total_support_seen = True
                qualifiers = {}
            item = _evidence(
                notebook,
                output,
                metric,
                token,
                line.strip(),
                qualifiers,
                label=f"{label} {_REPORT_HEADER_NAMES[column]}",
                heading_context=context,
            )
            if item:
                found.append(item)
        index += 1
    return used, found


def _is_number_cell(text: str) -> NumberToken | None:
    cleaned = text.strip().strip("*_`").strip()
    quantities = find_quantities(cleaned)
    if len(quantities) != 1:
        return None
    token = quantities[0].token
    rest = (cleaned[: token.start] + cleaned[quantities[0].end :]).strip()
    if rest and not re.fullmatch(r"[~\u2248<>\u2264\u2265()\[\]]*", rest):
        return None
    return token


def _text_table(
    notebook: str, output: OutputText, lines: list[str], header_index: int
) -> tuple[set[int], list[Evidence]]:
    """Read a whitespace-aligned table (pandas ``to_string``) starting at ``header_index``.

    pandas right-aligns column labels and values, so a value belongs to the
    column whose label ends where the value ends.
    """
    header = lines[header_index]
    if not header.strip() or has_number(header):
        return set(), []
    label_spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", header)]
    ends = {end: i for i, (_, end) in enumerate(label_spans)}

    rows: list[tuple[int, str, list[tuple[str, NumberToken]]]] = []
    index = header_index + 1
    truncated = False
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            break
        tokens = find_numbers(line)
        aligned = []
        for token in tokens:
            if token.end in ends:
                column = ends[token.end]
                previous_end = label_spans[column - 1][1] if column else 0
                aligned.append((header[previous_end : token.end].strip(), token))
        if _TRUNCATION.search(line):
            truncated = True
        if tokens and len(aligned) * 2 < len(tokens):
            break
        if not tokens and not truncated and index != header_index + 1:
            # Only the line right under the header may lack values: pandas puts
            # the index name ("split") there.
            break
        if aligned:
            rows.append((index, line, aligned))
        index += 1

    if not rows:
        return set(), []
    if re.match(r"^\s*\[\d+ rows x \d+ columns\]", lines[index] if index < len(lines) else ""):
        truncated = True

    found: list[Evidence] = []
    for line_index, line, aligned in rows:
        row_label = _row_label(line, [token for _, token in aligned])
        row_metric = normalize_metric(row_label) if row_label else None
        for column_label, token in aligned:
            column_metric = normalize_metric(column_label)
            metric = column_metric or row_metric
            if metric is None:
                continue
            other = row_label if column_metric else column_label
            qualifiers = _label_qualifiers(other)
            qualifiers.update(
                {
                    k: v
                    for k, v in _label_qualifiers(
                        column_label if column_metric else row_label
                    ).items()
                    if k not in qualifiers
                }
            )
            item = _evidence(
                notebook,
                output,
                metric,
                token,
                f"{header.rstrip()}\n{line.rstrip()}",
                qualifiers,
                label=f"{row_label} {column_label}",
                ambiguity="truncated table" if truncated else "",
                heading_context=_heading_context(output),
            )
            if item:
                found.append(item)
    used = set(range(header_index, index))
    return used, found


def _row_label(line: str, values: list[NumberToken]) -> str:
    text = line
    for token in sorted(values, key=lambda t: t.start, reverse=True):
        text = text[: token.start] + " " * (token.end - token.start) + text[token.end :]
    parts = [part for part in re.split(r"\s{2,}", text.strip()) if part and not part.isdigit()]
    return " ".join(parts)


def _label_qualifiers(label: str) -> dict[str, str]:
    """Read qualifiers from a table row or column label ("test", "Random Forest")."""
    label = normalize_text(label or "").strip()
    if not label:
        return {}
    qualifiers = find_qualifiers(label)
    if "model" not in qualifiers and "split" not in qualifiers and normalize_metric(label) is None:
        model = normalize_model(label)
        if model:
            qualifiers["model"] = model
    return qualifiers


# --- HTML tables ---------------------------------------------------------------


def _from_html_tables(notebook: str, output: OutputText) -> list[Evidence]:
    found: list[Evidence] = []
    for table in output.tables:
        found.extend(_interpret_table(notebook, output, table))
    return found


def _interpret_table(notebook: str, output: OutputText, table: list[list[str]]) -> list[Evidence]:
    """Read a table whose first row labels the columns and whose text cells label the rows."""
    header = table[0]
    truncated = any(cell.strip() == "..." for row in table for cell in row)
    found: list[Evidence] = []
    for row in table[1:]:
        numbers = [(column, _is_number_cell(cell)) for column, cell in enumerate(row)]
        labels = [
            cell for (column, token), cell in zip(numbers, row) if token is None and cell.strip()
        ]
        row_label = " ".join(label for label in labels if label != "...")
        row_metric = normalize_metric(labels[0]) if labels else None
        for column, token in numbers:
            if token is None:
                continue
            column_label = header[column] if column < len(header) else ""
            column_metric = normalize_metric(column_label)
            metric = column_metric or row_metric
            if metric is None:
                continue
            qualifiers = _label_qualifiers(row_label if column_metric else column_label)
            text = "\t".join(row)
            if column_label:
                text = f"{column_label}: {text}"
            item = _evidence(
                notebook,
                output,
                metric,
                token,
                text,
                qualifiers,
                label=f"{row_label} {column_label}",
                ambiguity="truncated table" if truncated else "",
                heading_context=_heading_context(output),
            )
            if item:
                found.append(item)
    return found
