"""The SQLite result cache: unchanged notebooks cost no requests, changed ones are extracted again alone."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from fakellm import FakeLLM, isolate_sdk_environment, make_doc

from cardcheck_lab.llm import LLMExtractor, LLMSettings
from cardcheck_lab.llm import extractor as extractor_module
from cardcheck_lab.llm.cache import ResultCache
from cardcheck_lab.model import Claim

KEY = "sk-test-SECRET123"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    isolate_sdk_environment(monkeypatch, tmp_path)


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


def settings_for(fake: FakeLLM, tmp_path, **overrides) -> LLMSettings:
    values = {
        "provider": "openai-compatible",
        "model": "fake-model",
        "base_url": fake.openai_base_url,
        "api_key": KEY,
        "timeout": 10.0,
        "cache_path": tmp_path / "cache" / "llm.sqlite",
    }
    values.update(overrides)
    return LLMSettings(**values)


HINTS = [
    Claim(
        id="c1",
        text="",
        line=1,
        metric="accuracy",
        value=0.9,
        unit="fraction",
        decimals=2,
        tolerance=0.005,
    )
]


def docs(changed: int | None = None):
    result = []
    for index in range(3):
        value = f"0.9{index}" if index != changed else f"0.8{index}"
        result.append(
            make_doc(
                f"nb{index}.ipynb", [(1, f"notebook nb{index}"), (2, f"Test accuracy: {value}")]
            )
        )
    return result


def run(extractor: LLMExtractor, notebooks):
    return [extractor.extract(doc, HINTS, threading.Event()) for doc in notebooks]


def test_second_run_makes_no_requests(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    first = run(LLMExtractor(settings), docs())
    assert fake.request_count == 3

    second = run(LLMExtractor(settings), docs())
    assert fake.request_count == 3
    assert [outcome.cache_hit for outcome in second] == [True, True, True]
    assert [outcome.calls for outcome in second] == [0, 0, 0]
    assert [outcome.evidence for outcome in second] == [outcome.evidence for outcome in first]


def test_changed_notebook_extracted_alone(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    run(LLMExtractor(settings), docs())
    fake.clear()

    outcomes = run(LLMExtractor(settings), docs(changed=1))
    assert fake.request_count == 1
    assert "Test accuracy: 0.81" in fake.requests[0].prompt
    assert [outcome.cache_hit for outcome in outcomes] == [True, False, True]
    assert [item.value for item in outcomes[1].evidence] == [0.81]


def test_renamed_notebook_reuses_entry(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    run(LLMExtractor(settings), docs()[:1])
    renamed = make_doc("renamed.ipynb", [(1, "notebook nb0"), (2, "Test accuracy: 0.90")])
    outcome = LLMExtractor(settings).extract(renamed, HINTS, threading.Event())
    assert outcome.cache_hit is True
    assert [item.notebook for item in outcome.evidence] == ["renamed.ipynb"]


@pytest.mark.parametrize(
    "change",
    [{"model": "other-model"}, {"max_output_tokens": 1000}, {"base_url_suffix": "/"}],
    ids=["model", "max-output-tokens", "base-url"],
)
def test_settings_change_misses_cache(fake, tmp_path, change):
    if "base_url_suffix" in change:
        change = {"base_url": fake.openai_base_url + change.pop("base_url_suffix")}
    run(LLMExtractor(settings_for(fake, tmp_path)), docs()[:1])
    outcome = LLMExtractor(settings_for(fake, tmp_path, **change)).extract(
        docs()[0], HINTS, threading.Event()
    )
    assert outcome.cache_hit is False
    assert fake.request_count == 2


def test_prompt_version_change_misses_cache(fake, tmp_path, monkeypatch):
    settings = settings_for(fake, tmp_path)
    run(LLMExtractor(settings), docs()[:1])
    monkeypatch.setattr(extractor_module, "PROMPT_VERSION", "test-next")
    outcome = LLMExtractor(settings).extract(docs()[0], HINTS, threading.Event())
    assert outcome.cache_hit is False


def test_hints_change_misses_cache(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    run(LLMExtractor(settings), docs()[:1])
    other_hints = [
        Claim(
            id="c2",
            text="",
            line=1,
            metric="f1",
            value=0.5,
            unit="fraction",
            decimals=2,
            tolerance=0.005,
        )
    ]
    outcome = LLMExtractor(settings).extract(docs()[0], other_hints, threading.Event())
    assert outcome.cache_hit is False


def test_failed_extraction_not_cached(fake, tmp_path):
    settings = settings_for(fake, tmp_path, max_retries=0)
    from fakellm import server_error

    fake.script(server_error())
    failed = LLMExtractor(settings).extract(docs()[0], HINTS, threading.Event())
    assert failed.note.startswith("LLM extraction not available")
    retried = LLMExtractor(settings).extract(docs()[0], HINTS, threading.Event())
    assert retried.cache_hit is False
    assert retried.note == ""


def test_cache_uses_wal(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    run(LLMExtractor(settings), docs()[:1])
    with sqlite3.connect(settings.cache_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT COUNT(*) FROM llm_results").fetchone()[0] == 1


def test_unusable_cache_path_does_not_fail(fake, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings = settings_for(fake, tmp_path, cache_path=blocker / "llm.sqlite")
    outcome = LLMExtractor(settings).extract(docs()[0], HINTS, threading.Event())
    assert outcome.note == ""
    assert len(outcome.evidence) == 1


def test_corrupt_entry_ignored(tmp_path):
    cache = ResultCache(tmp_path / "llm.sqlite")
    cache.put("k", {"evidence": []}, prompt_version="1", provider="p", model="m", notebook_hash="h")
    with sqlite3.connect(tmp_path / "llm.sqlite") as connection:
        connection.execute("UPDATE llm_results SET payload = '{not json'")
    assert cache.get("k") is None


def test_default_cache_under_xdg(fake, tmp_path):
    settings = settings_for(fake, tmp_path, cache_path=None)
    run(LLMExtractor(settings), docs()[:1])
    assert (tmp_path / "xdg-cache" / "cardcheck" / "llm.sqlite").exists()
