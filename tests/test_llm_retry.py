"""The retry layer's pieces without a server: retry-after parsing, backoff, the request gate and deadlines."""

from __future__ import annotations

import email.utils
import threading
import time

import pytest

from cardcheck_lab.llm.retry import (
    MAX_RETRY_DELAY,
    CallError,
    Cancelled,
    RequestGate,
    RetriesExhausted,
    backoff_delay,
    call_with_deadline,
    parse_retry_after,
    send_with_retries,
)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "1"}, 1.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date():
    moment = email.utils.formatdate(time.time() + 30, usegmt=True)
    delay = parse_retry_after({"retry-after": moment})
    assert delay is not None
    assert 25 <= delay <= 30


@pytest.mark.parametrize("retry_number", [1, 2, 3, 4, 10])
def test_backoff_delay_jittered_and_capped(retry_number):
    base = min(0.5 * 2 ** (retry_number - 1), MAX_RETRY_DELAY)
    for _ in range(50):
        delay = backoff_delay(retry_number)
        assert base * 0.5 <= delay <= base


def test_gate_hold_delays_turn():
    gate = RequestGate()
    gate.hold_until(time.monotonic() + 0.3)
    started = time.monotonic()
    gate.wait_turn(threading.Event())
    assert time.monotonic() - started >= 0.3 - 0.01


def test_gate_wait_cancelled():
    gate = RequestGate()
    gate.hold_until(time.monotonic() + 60)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        gate.wait_turn(cancel)


def test_deadline_abandons_call():
    release = threading.Event()
    with pytest.raises(CallError, match="timed out"):
        call_with_deadline(lambda: release.wait(10), 0.2, threading.Event())
    release.set()


def test_deadline_reraises_error():
    def fail():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        call_with_deadline(fail, 5, threading.Event())


def test_retries_stop_on_non_retryable():
    attempts = []

    def attempt():
        attempts.append(1)
        raise CallError("authentication failed (401)", retryable=False, status=401)

    with pytest.raises(RetriesExhausted) as raised:
        send_with_retries(
            attempt, max_retries=3, gate=RequestGate(), cancel=threading.Event(), label="nb"
        )
    assert len(attempts) == 1
    assert str(raised.value) == "authentication failed (401) after 1 attempt"


def test_retries_count_every_attempt():
    counted = []

    def attempt():
        raise CallError("rate-limited (429)", retryable=True, retry_after=0.01, status=429)

    with pytest.raises(RetriesExhausted) as raised:
        send_with_retries(
            attempt,
            max_retries=2,
            gate=RequestGate(),
            cancel=threading.Event(),
            label="nb",
            on_attempt=lambda: counted.append(1),
        )
    assert raised.value.attempts == 3
    assert len(counted) == 3
