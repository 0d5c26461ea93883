"""Prompt construction: notebook outputs split into request-sized chunks, the instructions and the reply schema.

Every output the extractor sends is a ``Block``: some or all lines of one output,
with a header naming its cell, output and line range. Outputs are never dropped
silently. A long output is split at line boundaries over several blocks, and
only an output longer than ``MAX_PARTS_PER_OUTPUT`` requests is cut in the
middle, with a visible marker in the prompt and a note in the outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model import Claim
    from ..notebooks import NotebookDoc, OutputText

# Bump when the instructions, the schema or the rendering change, so cached results are not reused.
PROMPT_VERSION = "1"

# Output kinds sent to the LLM. Tracebacks ("error") are left out because their numbers are not results.
SENT_KINDS = frozenset({"stream", "text/plain", "text/html", "text/markdown"})

# An output longer than this many request budgets keeps its head and tail and loses the middle.
MAX_PARTS_PER_OUTPUT = 4

# A chunk cut off by the output-token limit is halved at most this many times, and never below MIN_SPLIT_CHARS.
MAX_SPLIT_DEPTH = 3
MIN_SPLIT_CHARS = 2000

# Smallest room left for notebook text in one request, even when the instructions are long.
MIN_BODY_CHARS = 1000

QUALIFIER_FIELDS = ("split", "model", "dataset", "class", "average")

TOOL_NAME = "report_metrics"

_NULLABLE_STRING = {"type": ["string", "null"]}

# The reply schema. Every property is required, with null for a missing qualifier,
# because OpenAI's strict structured outputs require that form.
REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "metrics": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": "number"},
                    "cell": {"type": "integer"},
                    "quote": {"type": "string"},
                    **{name: dict(_NULLABLE_STRING) for name in QUALIFIER_FIELDS},
                },
                "required": ["name", "value", "cell", "quote", *QUALIFIER_FIELDS],
                "additionalProperties": False,
            },
        }
    },
    "required": ["metrics"],
    "additionalProperties": False,
}

SYSTEM_PROMPT = """\
You read the saved outputs of a Jupyter notebook and list the evaluation metric values printed in them.

Reply with one JSON object and nothing else, in this form:
{"metrics": [{"name": "roc_auc", "value": 0.81, "cell": 3, "quote": "Overall AUC: 0.81", \
"split": "test", "model": null, "dataset": null, "class": null, "average": null}]}

Rules:
- Report only numbers that are printed in the outputs below. Never compute, convert, average or guess a value.
- "value" is the number exactly as printed, as a JSON number: 70.3 for "70.3%", 0.703 for "0.703".
- "cell" is the cell number from the "### cell N" header above the output that prints the number.
- "quote" is the line that prints the number, copied character for character.
- "name" is the metric id from the list of claimed metrics when the value is that metric; otherwise the name as printed.
- "split" is the data split the value was measured on (train, validation, test, cross-validation, \
out-of-time), "model" the model or variant, "dataset" the dataset or segment, "class" the class or label, \
"average" the averaging (macro, micro, weighted). Use null for anything the output does not state.
- Report the claimed metrics listed by the user. Report other evaluation metrics only when that list is empty. \
Report per-segment or per-class values only when a claimed metric names that segment or class.
- If no claimed metric is printed, reply {"metrics": []}.
"""


@dataclass
class Block:
    """Some or all lines of one notebook output, as sent in one request."""

    cell_index: int
    output_index: int
    cell_id: str | None
    kind: str
    execution_count: int | None
    lines: list[str]
    first_line: int  # 1-based number of lines[0] within the output
    total_lines: int
    marker: str = ""  # a line printed after the block, naming what of the output was not sent

    def header(self) -> str:
        head = f"### cell {self.cell_index}, output {self.output_index} ({self.kind})"
        last_line = self.first_line + len(self.lines) - 1
        if self.first_line != 1 or last_line != self.total_lines:
            head += f", lines {self.first_line}-{last_line} of {self.total_lines}"
        return head

    def render(self) -> str:
        parts = [self.header(), *self.lines]
        if self.marker:
            parts.append(self.marker)
        return "\n".join(parts) + "\n"

    @property
    def size(self) -> int:
        return len(self.render())


@dataclass
class Chunk:
    """The notebook text of one request."""

    blocks: list[Block]
    depth: int = 0  # how many times this chunk's text was halved after an output-limit cut-off

    def body(self) -> str:
        return "\n".join(block.render() for block in self.blocks)

    @property
    def size(self) -> int:
        return len(self.body())


@dataclass
class Plan:
    """A notebook's outputs laid out as requests, with what had to be cut."""

    chunks: list[Chunk]
    preamble: str  # the user message text before the notebook outputs
    notes: list[str] = field(default_factory=list)
    digest: str = ""  # identifies everything the requests send and the provenance they return

    def user_message(self, chunk: Chunk) -> str:
        return f"{self.preamble}\nNotebook outputs:\n\n{chunk.body()}"


def format_hints(hints: Iterable[Claim]) -> str:
    """Render the claimed metrics as a list, without their values.

    The claimed values are left out on purpose, so the model cannot echo a claim
    back as if the notebook had printed it.
    """
    lines = []
    for metric, qualifiers in sorted(
        {(claim.metric, tuple(sorted(claim.qualifiers.items()))) for claim in hints}
    ):
        if qualifiers:
            detail = ", ".join(f"{key}: {value}" for key, value in qualifiers)
            lines.append(f"- {metric} ({detail})")
        else:
            lines.append(f"- {metric}")
    if not lines:
        return "Claimed metrics: none listed.\n"
    return "Claimed metrics to report when printed:\n" + "\n".join(lines) + "\n"


def build_plan(doc: NotebookDoc, hints: Iterable[Claim], chunk_chars: int) -> Plan:
    """Lay out a notebook's sendable outputs as chunks of at most ``chunk_chars`` prompt characters.

    Only when the instructions and hints alone leave less than ``MIN_BODY_CHARS``
    does a request get that much notebook text anyway, and so exceed ``chunk_chars``.
    """
    preamble = format_hints(hints)
    overhead = len(SYSTEM_PROMPT) + len(preamble) + len("\nNotebook outputs:\n\n")
    budget = max(chunk_chars - overhead, MIN_BODY_CHARS)

    notes: list[str] = []
    blocks: list[Block] = []
    for output in doc.outputs:
        if output.kind not in SENT_KINDS:
            continue
        blocks.extend(_blocks_for_output(output, budget, notes))

    chunks = _pack(blocks, budget)
    plan = Plan(chunks=chunks, preamble=preamble, notes=notes)
    plan.digest = _digest(plan)
    return plan


def split_chunk(chunk: Chunk) -> list[Chunk] | None:
    """Halve a chunk whose reply hit the output limit; return None when it is already at the floor."""
    if chunk.depth >= MAX_SPLIT_DEPTH or chunk.size <= MIN_SPLIT_CHARS:
        return None
    depth = chunk.depth + 1

    if len(chunk.blocks) >= 2:
        half = chunk.size / 2
        running = 0
        cut = 1
        for index, block in enumerate(chunk.blocks[:-1], start=1):
            running += block.size + 1
            cut = index
            if running >= half:
                break
        return [Chunk(chunk.blocks[:cut], depth), Chunk(chunk.blocks[cut:], depth)]

    block = chunk.blocks[0]
    if len(block.lines) < 2:
        return None
    half = sum(len(line) + 1 for line in block.lines) / 2
    running = 0
    cut = 1
    for index, line in enumerate(block.lines[:-1], start=1):
        running += len(line) + 1
        cut = index
        if running >= half:
            break
    first = replace(block, lines=block.lines[:cut], marker="")
    second = replace(block, lines=block.lines[cut:], first_line=block.first_line + cut)
    return [Chunk([first], depth), Chunk([second], depth)]


def _blocks_for_output(output: OutputText, budget: int, notes: list[str]) -> list[Block]:
    text = output.text.rstrip("\n")
    if not text.strip():
        return []
    lines = text.split("\n")
    header_room = 120  # a block header is well under this
    line_limit = max(budget - header_room, 200)
    where = f"cell {output.cell_index} output {output.output_index}"

    cut_line_chars = 0
    for index, line in enumerate(lines):
        if len(line) > line_limit:
            lines[index], removed = _cut_line(line, line_limit)
            cut_line_chars += removed
    if cut_line_chars:
        notes.append(f"{where}: {cut_line_chars:,} characters of over-long lines not sent")

    template = Block(
        cell_index=output.cell_index,
        output_index=output.output_index,
        cell_id=output.cell_id,
        kind=output.kind,
        execution_count=output.execution_count,
        lines=[],
        first_line=1,
        total_lines=len(lines),
    )

    total_chars = sum(len(line) + 1 for line in lines)
    keep_chars = MAX_PARTS_PER_OUTPUT * (budget - header_room)
    if total_chars <= keep_chars:
        return _split_lines(template, lines, 1, budget)

    # Keep the head and the tail: tables and final scores tend to sit at either end of a long log.
    head_end = _count_lines_within(lines, keep_chars // 2)
    tail_start = len(lines) - _count_lines_within(list(reversed(lines)), keep_chars // 2)
    tail_start = max(tail_start, head_end)
    skipped_chars = sum(len(line) + 1 for line in lines[head_end:tail_start])
    marker = (
        f"[... lines {head_end + 1}-{tail_start} of this output ({skipped_chars:,} characters) "
        "were cut and not sent ...]"
    )
    notes.append(
        f"{where} cut: lines {head_end + 1}-{tail_start} of {len(lines)} "
        f"({skipped_chars:,} characters) not sent"
    )
    head_blocks = _split_lines(template, lines[:head_end], 1, budget - len(marker) - 1)
    head_blocks[-1].marker = marker
    return head_blocks + _split_lines(template, lines[tail_start:], tail_start + 1, budget)


def _cut_line(line: str, limit: int) -> tuple[str, int]:
    removed = len(line) - limit
    marker = f" [... {removed:,} characters of this line were cut and not sent ...] "
    keep = max(limit - len(marker), 0)
    head = line[: keep // 2]
    tail = line[len(line) - (keep - keep // 2) :]
    return head + marker + tail, removed


def _count_lines_within(lines: list[str], limit: int) -> int:
    used = 0
    for count, line in enumerate(lines):
        used += len(line) + 1
        if used > limit:
            return max(count, 1)
    return len(lines)


def _split_lines(template: Block, lines: list[str], first_line: int, budget: int) -> list[Block]:
    blocks: list[Block] = []
    current: list[str] = []
    start = first_line
    probe = replace(template, lines=[], first_line=first_line)
    header_size = len(probe.header()) + 40  # room for the "lines a-b of n" suffix
    used = header_size
    for offset, line in enumerate(lines):
        if current and used + len(line) + 1 > budget:
            blocks.append(replace(template, lines=current, first_line=start))
            current = []
            start = first_line + offset
            used = header_size
        current.append(line)
        used += len(line) + 1
    blocks.append(replace(template, lines=current, first_line=start))
    return blocks


def _pack(blocks: list[Block], budget: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    current: list[Block] = []
    used = 0
    for block in blocks:
        size = block.size + 1
        if current and used + size > budget:
            chunks.append(Chunk(current))
            current = []
            used = 0
        current.append(block)
        used += size
    if current:
        chunks.append(Chunk(current))
    return chunks


def _digest(plan: Plan) -> str:
    payload = {
        "prompt_version": PROMPT_VERSION,
        "system": SYSTEM_PROMPT,
        "preamble": plan.preamble,
        "chunks": [chunk.body() for chunk in plan.chunks],
        # Provenance that the evidence carries but the prompt does not show.
        "provenance": [
            [block.cell_id, block.execution_count]
            for chunk in plan.chunks
            for block in chunk.blocks
        ],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()
