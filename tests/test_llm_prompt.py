"""Prompt layout and reply parsing of the LLM extractor, without any server."""

from __future__ import annotations

import logging

import pytest
from fakellm import make_doc

from cardcheck_lab.llm.prompt import (
    MIN_SPLIT_CHARS,
    SYSTEM_PROMPT,
    build_plan,
    format_hints,
    split_chunk,
)
from cardcheck_lab.llm.reply import InvalidReply, parse_reply_text, read_metrics
from cardcheck_lab.llm.settings import LLMSettings, default_cache_path
from cardcheck_lab.model import Claim


def claim(metric: str, value: float = 0.5, **qualifiers: str) -> Claim:
    return Claim(
        id=f"{metric}-1",
        text="",
        line=1,
        metric=metric,
        value=value,
        unit="fraction",
        decimals=2,
        tolerance=0.005,
        qualifiers=dict(qualifiers),
    )


def sent_lines(plan) -> list[str]:
    return [line for chunk in plan.chunks for block in chunk.blocks for line in block.lines]


def test_hints_list_metrics_without_values():
    text = format_hints([claim("roc_auc", 0.8123, split="test"), claim("accuracy", 0.9377)])
    assert "- roc_auc (split: test)" in text
    assert "- accuracy" in text
    assert "0.8123" not in text
    assert "0.9377" not in text


def test_error_outputs_not_sent():
    doc = make_doc("nb.ipynb", [(1, "Accuracy: 0.91"), (2, "ValueError: bad 0.55", "error")])
    plan = build_plan(doc, [], 24000)
    body = "".join(chunk.body() for chunk in plan.chunks)
    assert "Accuracy: 0.91" in body
    assert "ValueError" not in body


def test_empty_outputs_make_no_chunks():
    doc = make_doc("nb.ipynb", [(1, "\n\n"), (2, "Traceback", "error")])
    assert build_plan(doc, [], 24000).chunks == []


def test_chunks_fit_budget_keep_lines():
    outputs = [
        (cell, "\n".join(f"cell {cell} metric_{i}: 0.{i:03d}" for i in range(120)))
        for cell in range(30)
    ]
    doc = make_doc("big.ipynb", outputs)
    hints = [claim("accuracy")]
    plan = build_plan(doc, hints, 8000)

    assert len(plan.chunks) > 1
    for chunk in plan.chunks:
        assert len(SYSTEM_PROMPT) + len(plan.user_message(chunk)) <= 8000
    expected = [line for _, text in outputs for line in text.split("\n")]
    assert sent_lines(plan) == expected
    assert plan.notes == []


def test_long_output_split_by_lines():
    text = "\n".join(f"segment_{i:03d} AUC 0.7{i % 100:02d}" for i in range(1000))
    plan = build_plan(make_doc("nb.ipynb", [(3, text)]), [], 8000)
    headers = [block.header() for chunk in plan.chunks for block in chunk.blocks]
    assert len(headers) > 1
    assert headers[0].startswith("### cell 3, output 0 (stream), lines 1-")
    assert headers[-1].endswith("of 1000")
    assert sent_lines(plan) == text.split("\n")


def test_giant_output_cut_with_marker_and_note():
    lines = [f"epoch {i} loss 0.{i:05d}" for i in range(20000)]
    lines[-1] = "Overall AUC: 0.81"
    plan = build_plan(make_doc("nb.ipynb", [(5, "\n".join(lines))]), [], 8000)
    body = "".join(chunk.body() for chunk in plan.chunks)

    assert "were cut and not sent" in body
    assert lines[0] in body
    assert "Overall AUC: 0.81" in body
    assert len(plan.notes) == 1
    assert plan.notes[0].startswith("cell 5 output 0 cut: lines ")


def test_over_long_line_cut_with_marker():
    line = "values: " + " ".join("0.5" for _ in range(10000)) + " final 0.99"
    plan = build_plan(make_doc("nb.ipynb", [(1, line)]), [], 6000)
    body = plan.chunks[0].body()
    assert "characters of this line were cut and not sent" in body
    assert body.rstrip().endswith("final 0.99")
    assert "over-long lines not sent" in plan.notes[0]


def test_split_chunk_halves_lines_then_stops():
    text = "\n".join(f"segment_{i:03d} AUC 0.7{i % 100:02d}" for i in range(300))
    plan = build_plan(make_doc("nb.ipynb", [(3, text)]), [], 24000)
    assert len(plan.chunks) == 1

    halves = split_chunk(plan.chunks[0])
    assert halves is not None
    assert [line for half in halves for line in half.blocks[0].lines] == text.split("\n")
    assert halves[1].blocks[0].first_line == len(halves[0].blocks[0].lines) + 1

    smallest = halves[0]
    while (smaller := split_chunk(smallest)) is not None:
        smallest = smaller[0]
    assert smallest.size <= MIN_SPLIT_CHARS or smallest.depth == 3


def test_split_chunk_keeps_blocks_whole():
    doc = make_doc(
        "nb.ipynb", [(cell, "\n".join(f"m{i}: 0.{i:02d}" for i in range(60))) for cell in range(4)]
    )
    chunk = build_plan(doc, [], 24000).chunks[0]
    halves = split_chunk(chunk)
    assert halves is not None
    assert [len(half.blocks) for half in halves] == [2, 2]


def test_plan_digest_tracks_content():
    doc = make_doc("nb.ipynb", [(1, "Accuracy: 0.91")])
    changed = make_doc("nb.ipynb", [(1, "Accuracy: 0.92")])
    base = build_plan(doc, [claim("accuracy")], 24000).digest
    assert build_plan(doc, [claim("accuracy")], 24000).digest == base
    assert build_plan(changed, [claim("accuracy")], 24000).digest != base
    assert build_plan(doc, [claim("roc_auc")], 24000).digest != base


def test_reply_parsed_strictly():
    data = parse_reply_text('{"metrics": [{"name": "AUC", "value": 0.81, "cell": 3}]}')
    metrics, malformed = read_metrics(data)
    assert malformed == 0
    assert metrics[0].name == "AUC"
    assert metrics[0].value == 0.81
    assert metrics[0].cell == 3
    assert metrics[0].quote == ""


def test_fenced_reply_repaired_and_logged(caplog):
    caplog.set_level(logging.INFO, logger="cardcheck_lab.llm")
    data = parse_reply_text('```json\n{"metrics": []}\n```')
    assert data == {"metrics": []}
    assert any("Markdown code fence" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"metrics": [{"name": "AUC", "value": 0.81, "cell": 3},]}\n```',
        '{"metrics": [{"name": "AUC", "value": 0.81, "cell": 3},]}',
        '{"metrics":[{"name":"AUC","value":0.81,"cell":3},{"name":"AUC_seg_017","va',
        "Here are the metrics: AUC 0.81",
        "[]",
        "",
    ],
)
def test_invalid_reply_rejected(text):
    with pytest.raises(InvalidReply, match="invalid JSON from LLM"):
        read_metrics(parse_reply_text(text))


def test_malformed_items_counted():
    data = {
        "metrics": [
            {"name": "AUC", "value": 0.81, "cell": 3, "split": "test", "model": None},
            {"name": "AUC", "value": True, "cell": 3},
            {"name": "AUC", "value": "0.81", "cell": 3},
            {"name": "", "value": 0.8, "cell": 3},
            {"name": "AUC", "value": 0.8, "cell": -1},
            "AUC 0.81",
        ]
    }
    metrics, malformed = read_metrics(data)
    assert len(metrics) == 1
    assert malformed == 5
    assert metrics[0].qualifiers == {"split": "test"}


def test_settings_repr_hides_key():
    settings = LLMSettings("openai", model="m", api_key="sk-test-SECRET123")
    assert "SECRET123" not in repr(settings)
    assert "SECRET123" not in str(settings.public_dict())


@pytest.mark.parametrize(
    "arguments",
    [
        {"provider": "other"},
        {"provider": "openai", "model": "m", "timeout": 0},
        {"provider": "openai", "model": "m", "max_retries": -1},
        {"provider": "openai", "model": "m", "chunk_chars": 100},
        {"provider": "openai", "model": "m", "requests_per_minute": 0},
        {"provider": "openai", "model": "m", "max_output_tokens": 0},
    ],
)
def test_settings_reject_invalid_values(arguments):
    with pytest.raises(ValueError, match="invalid LLM"):
        LLMSettings(**arguments)


def test_default_cache_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_path() == tmp_path / "cardcheck" / "llm.sqlite"
