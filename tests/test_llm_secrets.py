"""The API key never leaves the request headers: not in logs, notes, the cache file or exception messages."""

from __future__ import annotations

import logging
import threading

import pytest
from fakellm import (
    FakeLLM,
    auth_error_echoing_key,
    isolate_sdk_environment,
    make_doc,
    rate_limited,
    raw,
    server_error,
    status,
)

from cardcheck_lab.llm import LLMExtractor, LLMSettings
from cardcheck_lab.llm.providers import OpenAIChatProvider
from cardcheck_lab.model import Claim

KEY = "sk-test-SECRET123"
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


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    isolate_sdk_environment(monkeypatch, tmp_path)


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


def cache_bytes(settings: LLMSettings) -> bytes:
    path = settings.cache_path
    return b"".join(candidate.read_bytes() for candidate in path.parent.glob(path.name + "*"))


@pytest.mark.parametrize("provider", ["openai", "openai-compatible", "anthropic"])
@pytest.mark.parametrize("key_source", ["argument", "environment"])
def test_key_absent_everywhere(fake, tmp_path, caplog, monkeypatch, provider, key_source):
    caplog.set_level(logging.DEBUG)
    if key_source == "environment":
        monkeypatch.setenv("CARDCHECK_TEST_KEY", KEY)
    settings = LLMSettings(
        provider=provider,
        model="fake-model",
        base_url=fake.anthropic_base_url if provider == "anthropic" else fake.openai_base_url,
        api_key=KEY if key_source == "argument" else None,
        api_key_env="CARDCHECK_TEST_KEY",
        timeout=10.0,
        max_retries=1,
        cache_path=tmp_path / "llm.sqlite",
    )
    fake.script(
        rate_limited(retry_after_ms="10"),
        status(400, f"bad request for key {KEY}"),  # a server that echoes the key back
    )
    fake.script(auth_error_echoing_key())
    fake.script(server_error(), raw("not json " + KEY))
    extractor = LLMExtractor(settings)
    outcomes = [
        extractor.extract(
            make_doc(f"nb{index}.ipynb", [(1, f"Accuracy: 0.9{index}")]), HINTS, threading.Event()
        )
        for index in range(5)
    ]

    assert all(
        KEY in (request.headers.get("authorization", "") + request.headers.get("x-api-key", ""))
        for request in fake.requests
    )
    notes = [outcome.note for outcome in outcomes]
    assert notes[0].startswith("LLM extraction not available: request rejected (400)")
    assert "[redacted]" in notes[0]
    assert notes[1] == "LLM extraction not available: authentication failed (401) after 1 attempt"
    assert notes[2].startswith("LLM extraction not available: invalid JSON from LLM")
    assert notes[3] == ""
    assert all(KEY not in note for note in notes)
    assert all(KEY not in repr(outcome) for outcome in outcomes)

    for record in caplog.records:
        assert KEY not in record.getMessage()
        if record.exc_info:
            assert KEY not in logging.Formatter().formatException(record.exc_info)
    assert KEY not in caplog.text
    # The SDKs' own debug logging was captured too, so the check covers it.
    assert {record.name.split(".")[0] for record in caplog.records} >= {"cardcheck_lab", "httpx2"}

    assert cache_bytes(settings)
    assert KEY.encode() not in cache_bytes(settings)
    assert KEY not in repr(settings)
    assert KEY not in str(settings.public_dict())


def test_key_absent_from_settings_errors():
    with pytest.raises(ValueError) as raised:
        LLMSettings("openai", model="m", api_key=KEY, timeout=-1)
    assert KEY not in str(raised.value)
    with pytest.raises(ValueError) as raised:
        LLMSettings("openai-compatible", model="m", api_key=KEY)
    assert KEY not in str(raised.value)


def test_unexpected_error_log_redacted(fake, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)

    def fail(self, system, user):
        raise RuntimeError(f"request built with {KEY}")

    monkeypatch.setattr(OpenAIChatProvider, "send", fail)
    settings = LLMSettings(
        provider="openai-compatible",
        model="fake-model",
        base_url=fake.openai_base_url,
        api_key=KEY,
        cache_path=tmp_path / "llm.sqlite",
    )
    outcome = LLMExtractor(settings).extract(
        make_doc("nb.ipynb", [(1, "Accuracy: 0.91")]), HINTS, threading.Event()
    )

    assert outcome.note == "LLM extraction not available: unexpected error (RuntimeError)"
    assert "request built with [redacted]" in caplog.text
    assert KEY not in caplog.text
