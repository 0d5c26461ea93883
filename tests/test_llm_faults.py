"""The LLM extractor against the real openai and anthropic SDKs, talking to the fake server on 127.0.0.1.

Retry delays come from the scripted ``retry-after`` headers (1 s and 1.5 s) or
from the backoff, shortened here to start at 0.05 s, so the module runs in
seconds. Timing checks are orderings only: a retry never arrives before the
delay the server asked for, and a cancelled or timed-out call returns before
the slow reply is written.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fakellm import (
    FakeLLM,
    answer,
    isolate_sdk_environment,
    make_doc,
    overloaded,
    rate_limited,
    raw,
    rejecting_json_schema,
    server_error,
    slow,
    status,
    truncated,
)

from cardcheck_lab.llm import LLMExtractor, LLMSettings, retry
from cardcheck_lab.llm.retry import shared_gate
from cardcheck_lab.model import Claim

KEY = "sk-test-SECRET123"
PROVIDERS = ("openai", "openai-compatible", "anthropic")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    isolate_sdk_environment(monkeypatch, tmp_path)
    # Backoff without a retry-after header starts at 0.05 s instead of 0.5 s, to keep the module fast.
    monkeypatch.setattr(retry, "INITIAL_RETRY_DELAY", 0.05)


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


def settings_for(
    fake: FakeLLM, tmp_path, provider: str = "openai-compatible", **overrides
) -> LLMSettings:
    base_url = fake.anthropic_base_url if provider == "anthropic" else fake.openai_base_url
    values = {
        "provider": provider,
        "model": "fake-model",
        "base_url": base_url,
        "api_key": KEY,
        "timeout": 10.0,
        "max_retries": 3,
        "cache_path": tmp_path / "llm.sqlite",
    }
    values.update(overrides)
    return LLMSettings(**values)


def claim(metric: str) -> Claim:
    return Claim(
        id=metric,
        text="",
        line=1,
        metric=metric,
        value=0.5,
        unit="fraction",
        decimals=2,
        tolerance=0.005,
    )


def simple_doc(name: str = "nb.ipynb"):
    return make_doc(name, [(1, f"notebook {name}"), (3, "Test accuracy: 0.912\nOverall AUC: 0.81")])


def extract(settings: LLMSettings, doc, hints=None, cancel=None):
    return LLMExtractor(settings).extract(
        doc, hints or [claim("roc_auc")], cancel or threading.Event()
    )


def sent_credential(request) -> str:
    # The anthropic SDK sends the key as x-api-key or, in newer releases, as a bearer token.
    return request.headers.get("x-api-key") or request.headers.get("authorization", "")


def assert_single_retry_layer(fake: FakeLLM) -> None:
    # Both SDKs send how many times they retried a request themselves; the extractor builds them with max_retries=0.
    assert {request.headers.get("x-stainless-retry-count") for request in fake.requests} == {"0"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_correct_answer_grounded(fake, tmp_path, provider):
    outcome = extract(settings_for(fake, tmp_path, provider), simple_doc())

    assert outcome.note == ""
    assert outcome.calls == 1
    assert outcome.cache_hit is False
    assert outcome.rejected == 0
    assert {(item.metric, item.value) for item in outcome.evidence} == {
        ("accuracy", 0.912),
        ("roc_auc", 0.81),
    }
    assert all(item.extractor == "llm" for item in outcome.evidence)


def test_openai_request_uses_strict_json_schema(fake, tmp_path):
    extract(settings_for(fake, tmp_path, "openai", max_output_tokens=777), simple_doc())
    body = fake.requests[0].body

    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["max_completion_tokens"] == 777
    assert "temperature" not in body
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_anthropic_request_forces_tool(fake, tmp_path):
    extract(settings_for(fake, tmp_path, "anthropic", max_output_tokens=777), simple_doc())
    request = fake.requests[0]

    assert request.path == "/v1/messages"
    assert request.body["tool_choice"] == {"type": "tool", "name": "report_metrics"}
    assert request.body["tools"][0]["input_schema"]["required"] == ["metrics"]
    assert request.body["max_tokens"] == 777
    assert KEY in sent_credential(request)


def test_hallucinated_value_rejected_and_counted(fake, tmp_path):
    fake.script(
        answer(
            [
                {"name": "accuracy", "value": 0.97, "cell": 3, "quote": "Test accuracy: 0.97"},
                {"name": "AUC", "value": 0.81, "cell": 3, "quote": "Overall AUC: 0.81"},
                {"name": "f1", "value": 0.912, "cell": 1, "quote": "F1: 0.912"},
            ],
            only_quoted=False,
        )
    )
    outcome = extract(settings_for(fake, tmp_path), simple_doc())

    assert outcome.rejected == 2
    assert [(item.metric, item.value) for item in outcome.evidence] == [("roc_auc", 0.81)]
    assert outcome.note == ""


def segment_doc():
    lines = [f"segment_{i:03d} AUC 0.7{(i * 7 + 21) % 100:02d}" for i in range(300)]
    lines.append("Overall AUC: 0.81")
    return make_doc("segments.ipynb", [(1, "loading data"), (3, "\n".join(lines))]), lines


SEGMENT_ANSWER = [
    {"name": "AUC", "value": 0.81, "cell": 3, "quote": "Overall AUC: 0.81", "split": "test"},
    {
        "name": "AUC",
        "value": 0.74,
        "cell": 3,
        "quote": "segment_017 AUC 0.740",
        "dataset": "segment_017",
    },
]
CUT_OFF_REPLY = '{"metrics":[{"name":"AUC","value":0.81,"cell":3},{"name":"AUC_seg_017","va'


@pytest.mark.parametrize("provider", PROVIDERS)
def test_output_limit_resent_in_halves(fake, tmp_path, provider):
    doc, lines = segment_doc()
    fake.script(truncated(CUT_OFF_REPLY), answer(SEGMENT_ANSWER), answer(SEGMENT_ANSWER))
    outcome = extract(settings_for(fake, tmp_path, provider), doc)

    assert outcome.note == ""
    assert outcome.calls == 3
    first, *halves = fake.requests
    assert all(len(half.prompt) < len(first.prompt) for half in halves)
    assert all(line in (halves[0].prompt + halves[1].prompt) for line in lines)
    found = sorted(
        (item.value, item.text, tuple(item.qualifiers.items())) for item in outcome.evidence
    )
    assert found == [
        (0.74, "segment_017 AUC 0.740", (("dataset", "segment_017"),)),
        (0.81, "Overall AUC: 0.81", (("split", "test"),)),
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_output_limit_at_floor_never_parsed(fake, tmp_path, provider):
    doc, _ = segment_doc()
    fake.default = truncated(CUT_OFF_REPLY)
    outcome = extract(settings_for(fake, tmp_path, provider), doc)

    assert outcome.note.startswith("LLM extraction incomplete (output limit)")
    # The cut-off reply starts with a usable-looking item; none of it may become evidence.
    assert outcome.evidence == []
    # One request for the whole notebook, then one per cell: the short cell cannot be split,
    # and the long output is halved twice more, down to four quarters.
    assert outcome.calls == 1 + 2 + 2 + 4
    assert_single_retry_layer(fake)


CONTEXT_ERRORS = {
    "openai-compatible": "This model's maximum context length is 8192 tokens. However, your messages "
    "resulted in 9000 tokens.",
    "anthropic": "prompt is too long: 210000 tokens > 200000 maximum",
}


@pytest.mark.parametrize("provider", ["openai-compatible", "anthropic"])
def test_context_window_resent_in_halves(fake, tmp_path, provider):
    doc, _ = segment_doc()
    fake.script(
        status(400, CONTEXT_ERRORS[provider]), answer(SEGMENT_ANSWER), answer(SEGMENT_ANSWER)
    )
    outcome = extract(settings_for(fake, tmp_path, provider), doc)

    assert outcome.note == ""
    assert outcome.calls == 3
    assert sorted(item.value for item in outcome.evidence) == [0.74, 0.81]


def test_context_window_at_floor_noted(fake, tmp_path):
    doc, _ = segment_doc()
    fake.default = status(400, CONTEXT_ERRORS["openai-compatible"])
    outcome = extract(settings_for(fake, tmp_path), doc)

    assert outcome.note.startswith("LLM extraction incomplete (context window)")
    assert outcome.evidence == []
    assert outcome.calls == 1 + 2 + 2 + 4


def test_output_limit_result_not_cached(fake, tmp_path):
    doc, _ = segment_doc()
    fake.default = truncated(CUT_OFF_REPLY)
    settings = settings_for(fake, tmp_path)
    extract(settings, doc)
    fake.default = answer(SEGMENT_ANSWER)
    outcome = extract(settings, doc)
    assert outcome.cache_hit is False
    assert len(outcome.evidence) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_fenced_trailing_comma_rejected(fake, tmp_path, provider):
    fake.script(
        raw(
            '```json\n{"metrics": [{"name": "AUC", "value": 0.81, "cell": 3, "quote": "Overall AUC: 0.81"},]}\n```'
        )
    )
    outcome = extract(settings_for(fake, tmp_path, provider), simple_doc())

    assert outcome.note.startswith("LLM extraction not available: invalid JSON from LLM")
    assert outcome.evidence == []
    assert outcome.calls == 1


def test_fenced_valid_json_repaired(fake, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="cardcheck_lab.llm")
    fake.script(
        raw(
            '```json\n{"metrics": [{"name": "AUC", "value": 0.81, "cell": 3, "quote": "Overall AUC: 0.81"}]}\n```'
        )
    )
    outcome = extract(settings_for(fake, tmp_path), simple_doc())

    assert outcome.note == ""
    assert [item.value for item in outcome.evidence] == [0.81]
    assert any("Markdown code fence" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("failure", [overloaded, server_error], ids=["529", "500"])
def test_server_errors_retried_then_success(fake, tmp_path, provider, failure):
    fake.script(failure(), failure())
    outcome = extract(settings_for(fake, tmp_path, provider), simple_doc())

    assert outcome.note == ""
    assert outcome.calls == 3
    assert len(outcome.evidence) == 2
    assert [request.status for request in fake.requests] == [
        failure().status,
        failure().status,
        200,
    ]
    assert_single_retry_layer(fake)


def test_server_errors_exhaust_retries(fake, tmp_path):
    fake.default = overloaded()
    outcome = extract(settings_for(fake, tmp_path, max_retries=2), simple_doc())

    assert outcome.note == "LLM extraction not available: overloaded (529) after 3 attempts"
    assert outcome.evidence == []
    assert outcome.calls == 3
    assert fake.request_count == 3


def test_client_error_not_retried(fake, tmp_path):
    fake.script(status(404, "model fake-model not found", error_type="not_found_error"))
    outcome = extract(settings_for(fake, tmp_path), simple_doc())

    assert outcome.note == (
        "LLM extraction not available: request rejected (404): model fake-model not found after 1 attempt"
    )
    assert fake.request_count == 1


def test_insufficient_quota_not_retried(fake, tmp_path):
    fake.script(status(429, "You exceeded your current quota", error_type="insufficient_quota"))
    fake.default = status(429, "quota", error_type="insufficient_quota")
    # The fake's OpenAI error body names the type but no code, so this 429 is an ordinary rate limit.
    outcome = extract(settings_for(fake, tmp_path, max_retries=0), simple_doc())
    assert outcome.note == "LLM extraction not available: rate-limited (429) after 1 attempt"


def test_json_schema_rejection_falls_back(fake, tmp_path):
    fake.default = rejecting_json_schema()
    settings = settings_for(fake, tmp_path)
    extractor = LLMExtractor(settings)
    first = extractor.extract(simple_doc("a.ipynb"), [claim("roc_auc")], threading.Event())
    second = extractor.extract(simple_doc("b.ipynb"), [claim("roc_auc")], threading.Event())

    formats = [request.body["response_format"]["type"] for request in fake.requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert [request.status for request in fake.requests] == [400, 200, 200]
    assert first.note == ""
    assert first.calls == 2
    assert len(first.evidence) == 2
    assert second.calls == 1


def test_timeout_on_slow_answer(fake, tmp_path):
    fake.script(slow(5), slow(5))
    outcome = extract(settings_for(fake, tmp_path, timeout=0.5, max_retries=1), simple_doc())

    assert outcome.note == "LLM extraction not available: timed out after 2 attempts"
    assert outcome.evidence == []
    assert fake.request_count == 2
    # Both calls were given up before the fake server wrote either reply.
    assert all(request.replied == 0.0 for request in fake.requests)


@pytest.mark.parametrize("provider", ["openai-compatible", "anthropic"])
def test_cancel_stops_waiting_on_call(fake, tmp_path, provider):
    fake.script(slow(30))
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    try:
        outcome = extract(
            settings_for(fake, tmp_path, provider, timeout=60.0), simple_doc(), cancel=cancel
        )
    finally:
        timer.cancel()

    assert outcome.note == "LLM extraction not available: cancelled"
    assert outcome.evidence == []
    assert fake.request_count == 1
    assert fake.requests[0].replied == 0.0


def test_cancel_stops_retry_wait(fake, tmp_path):
    fake.script(rate_limited(retry_after="60"))
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    started = time.monotonic()
    try:
        outcome = extract(settings_for(fake, tmp_path), simple_doc(), cancel=cancel)
    finally:
        timer.cancel()

    assert outcome.note == "LLM extraction not available: cancelled"
    assert fake.request_count == 1
    assert time.monotonic() - started < 60  # returned without waiting out the retry-after


def test_retry_after_above_maximum_not_waited(fake, tmp_path):
    fake.script(rate_limited(retry_after="3600"))
    outcome = extract(settings_for(fake, tmp_path), simple_doc())
    assert outcome.note == (
        "LLM extraction not available: rate-limited (429) after 1 attempt "
        "(the server asked to wait 3600 s, above the 120 s maximum)"
    )
    assert fake.request_count == 1


def test_missing_key_makes_no_request(fake, tmp_path):
    settings = settings_for(
        fake, tmp_path, "openai", api_key=None, api_key_env="CARDCHECK_TEST_UNSET_KEY"
    )
    outcome = extract(settings, simple_doc())

    assert (
        outcome.note
        == "LLM extraction not available: missing API key (set CARDCHECK_TEST_UNSET_KEY)"
    )
    assert outcome.calls == 0
    assert fake.request_count == 0


def test_key_read_from_environment(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("CARDCHECK_TEST_KEY", KEY)
    settings = settings_for(
        fake, tmp_path, "anthropic", api_key=None, api_key_env="CARDCHECK_TEST_KEY"
    )
    outcome = extract(settings, simple_doc())
    assert outcome.note == ""
    assert KEY in sent_credential(fake.requests[0])


def test_provider_none_does_nothing(tmp_path):
    outcome = extract(LLMSettings("none", cache_path=tmp_path / "llm.sqlite"), simple_doc())
    assert (outcome.evidence, outcome.rejected, outcome.note, outcome.calls, outcome.cache_hit) == (
        [],
        0,
        "",
        0,
        False,
    )


def test_missing_model_rejected():
    with pytest.raises(ValueError, match="missing LLM model name"):
        LLMSettings("openai", api_key=KEY)


def test_compatible_provider_needs_base_url():
    with pytest.raises(ValueError, match="missing base URL"):
        LLMSettings("openai-compatible", model="m", api_key=KEY)


# Rate limiting across threads: the first six requests get 429, then the server returns metrics.

NOTEBOOKS = 8


def notebooks():
    return [
        make_doc(
            f"nb{index:02d}.ipynb",
            [(1, f"notebook nb{index:02d}"), (2, f"Test accuracy: 0.9{index:02d}")],
        )
        for index in range(NOTEBOOKS)
    ]


def run_parallel(settings: LLMSettings):
    extractor = LLMExtractor(settings)
    docs = notebooks()
    with ThreadPoolExecutor(max_workers=NOTEBOOKS) as pool:
        outcomes = list(
            pool.map(
                lambda doc: extractor.extract(doc, [claim("accuracy")], threading.Event()), docs
            )
        )
    return docs, outcomes


def requests_by_notebook(fake: FakeLLM) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for request in fake.requests:
        for index in range(NOTEBOOKS):
            if f"notebook nb{index:02d}" in request.prompt:
                grouped.setdefault(f"nb{index:02d}", []).append(request)
    return grouped


@pytest.mark.parametrize(
    ("headers", "stated_delay"),
    [({"retry_after": "1"}, 1.0), ({"retry_after_ms": "1500"}, 1.5), ({}, None)],
    ids=["retry-after", "retry-after-ms", "no-header"],
)
@pytest.mark.parametrize("provider", ["openai-compatible", "anthropic"])
def test_rate_limit_retried_once_per_layer(fake, tmp_path, provider, headers, stated_delay):
    fake.script_many(6, lambda: rate_limited(**headers))
    docs, outcomes = run_parallel(settings_for(fake, tmp_path, provider))

    assert fake.request_count == NOTEBOOKS + 6
    assert sum(outcome.calls for outcome in outcomes) == NOTEBOOKS + 6
    assert [outcome.note for outcome in outcomes] == [""] * NOTEBOOKS
    for doc, outcome in zip(docs, outcomes):
        assert [item.value for item in outcome.evidence] == [
            float(doc.outputs[1].text.split(": ")[1])
        ]
    assert_single_retry_layer(fake)

    assert [request.status for request in fake.requests].count(429) == 6
    grouped = requests_by_notebook(fake)
    assert sorted(grouped) == [f"nb{index:02d}" for index in range(NOTEBOOKS)]
    # A notebook whose first request waited behind another thread's 429 may meet a 429 itself.
    assert all(len(requests) <= 4 for requests in grouped.values())
    for requests in grouped.values():
        for earlier, later in itertools.pairwise(requests):
            assert earlier.status == 429
            assert later.arrived > earlier.replied
            if stated_delay is not None:
                assert later.arrived - earlier.replied >= stated_delay


def test_rate_limit_holds_other_threads(fake, tmp_path):
    fake.script(rate_limited(retry_after="1"))
    settings = settings_for(fake, tmp_path)
    extractor = LLMExtractor(settings)
    gate = shared_gate(settings.provider, settings.base_url, settings.requests_per_minute)
    first, second = notebooks()[:2]
    with ThreadPoolExecutor(max_workers=2) as pool:
        limited = pool.submit(extractor.extract, first, [claim("accuracy")], threading.Event())
        while gate.held_until <= time.monotonic():
            time.sleep(0.01)
        other = pool.submit(extractor.extract, second, [claim("accuracy")], threading.Event())
        outcomes = [limited.result(), other.result()]

    assert [outcome.calls for outcome in outcomes] == [2, 1]
    rate_limited_reply = fake.requests[0]
    # The other notebook's first request also waited out the retry-after of the 429 reply.
    assert all(request.arrived - rate_limited_reply.replied >= 1.0 for request in fake.requests[1:])


@pytest.mark.parametrize("provider", ["openai-compatible", "anthropic"])
def test_rate_limit_budget_runs_out(fake, tmp_path, provider):
    fake.default = rate_limited(retry_after="1")
    _, outcomes = run_parallel(settings_for(fake, tmp_path, provider, max_retries=1))

    assert fake.request_count == NOTEBOOKS * 2
    for outcome in outcomes:
        assert outcome.note == "LLM extraction not available: rate-limited (429) after 2 attempts"
        assert outcome.evidence == []
        assert outcome.calls == 2
    assert_single_retry_layer(fake)


def test_requests_per_minute_spaces_requests(fake, tmp_path):
    started = time.monotonic()
    _, outcomes = run_parallel(settings_for(fake, tmp_path, requests_per_minute=600))
    arrivals = sorted(request.arrived for request in fake.requests)

    assert all(outcome.note == "" for outcome in outcomes)
    assert len(arrivals) == NOTEBOOKS
    # 600 per minute is one request per 0.1 s, shared by all eight threads, so the k-th request
    # cannot be sent before 0.1 * k s. Without the limit, all eight arrive within milliseconds.
    for index, arrived in enumerate(arrivals):
        assert arrived - started >= 0.1 * index
