"""The extractor's single retry layer, its shared request gate and cancellable calls.

The SDK clients are built with ``max_retries=0``, so every retry happens here,
where the wait can be cut short by cancellation and where one ``429`` slows
every thread that talks to the same endpoint.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger("cardcheck_lab.llm")

T = TypeVar("T")

# Backoff when the server names no delay: 0.5 s, 1 s, 2 s ... capped at 8 s, each scaled by a random 0.5-1.0.
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A server-requested delay above this is not waited out; the request fails instead.
MAX_RETRY_AFTER = 120.0
# Extra time a call gets past its timeout before it is abandoned, so the HTTP client's own timeout fires first.
DEADLINE_GRACE = 0.5
# How often a waiting thread checks the cancel event.
POLL_INTERVAL = 0.05


class Cancelled(Exception):
    """The job was cancelled while a request was waiting or in flight."""


@dataclass
class CallError(Exception):
    """A failed request attempt, classified for the retry policy."""

    reason: str  # short and safe to show, such as "rate-limited (429)"
    retryable: bool
    retry_after: float | None = None  # seconds the server asked to wait, if it did
    status: int | None = None
    input_too_long: bool = False  # the prompt exceeds the model's context window

    def __str__(self) -> str:
        return self.reason


class RetriesExhausted(Exception):
    """Every attempt failed, or one failed in a way retrying cannot fix."""

    def __init__(self, last: CallError, attempts: int, detail: str = "") -> None:
        self.last = last
        self.attempts = attempts
        noun = "attempt" if attempts == 1 else "attempts"
        message = f"{last.reason} after {attempts} {noun}"
        super().__init__(f"{message} ({detail})" if detail else message)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Return the delay in seconds that ``retry-after-ms`` or ``retry-after`` asks for, or None.

    ``retry-after-ms`` is a non-standard header that the openai (3.60) and
    anthropic (2.17) SDKs read before ``retry-after``, because it is more precise.
    ``retry-after`` may be seconds or an HTTP date.
    """
    if not headers:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(float(milliseconds) / 1000.0, 0.0)
        except ValueError:
            pass
    seconds = headers.get("retry-after")
    if seconds is None:
        return None
    try:
        return max(float(seconds), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(seconds)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


def backoff_delay(retry_number: int) -> float:
    """Return the wait before retry ``retry_number`` (1-based) when the server named none."""
    base = min(INITIAL_RETRY_DELAY * 2 ** (retry_number - 1), MAX_RETRY_DELAY)
    return base * random.uniform(0.5, 1.0)


class RequestGate:
    """Spaces requests to one endpoint, and delays them all after a rate-limit reply.

    One gate is shared by every thread and every extractor that uses the same
    provider, base URL and requests-per-minute setting (see ``shared_gate``).
    """

    def __init__(self, requests_per_minute: float | None = None) -> None:
        self._interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._lock = threading.Lock()
        self._next_slot = 0.0  # time.monotonic() of the next free slot
        self._hold_until = 0.0

    @property
    def held_until(self) -> float:
        """Return the ``time.monotonic()`` value before which no request starts; 0.0 if never held."""
        with self._lock:
            return self._hold_until

    def hold_until(self, moment: float) -> None:
        """Keep every request from starting before ``moment`` (a ``time.monotonic()`` value)."""
        with self._lock:
            self._hold_until = max(self._hold_until, moment)

    def wait_turn(self, cancel: threading.Event, not_before: float = 0.0) -> None:
        """Block until this caller may send, no earlier than ``not_before``; raise ``Cancelled`` if cancelled."""
        while True:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_slot, self._hold_until, not_before)
                if start <= now:
                    # The slot is taken only when the caller is free to go, so a hold
                    # set by another thread while this one slept is still honoured.
                    self._next_slot = now + self._interval
                    return
            _sleep_until(start, cancel)


_gates: dict[tuple[str, str, float | None], RequestGate] = {}
_gates_lock = threading.Lock()


def shared_gate(provider: str, base_url: str, requests_per_minute: float | None) -> RequestGate:
    """Return the gate for an endpoint, creating it on first use."""
    key = (provider, base_url, requests_per_minute)
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = RequestGate(requests_per_minute)
        return gate


def call_with_deadline(function: Callable[[], T], deadline: float, cancel: threading.Event) -> T:
    """Run ``function`` in a daemon thread and wait for it, at most ``deadline`` seconds.

    On cancellation or deadline the call is abandoned: its thread finishes on its
    own when the HTTP client's timeout fires, and its result is dropped.
    """
    outcome: dict[str, object] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread, which re-raises it
            outcome["error"] = error
        finally:
            finished.set()

    thread = threading.Thread(target=run, name="cardcheck-llm-request", daemon=True)
    thread.start()
    end = time.monotonic() + deadline
    while not finished.wait(min(POLL_INTERVAL, max(end - time.monotonic(), 0.0))):
        if cancel.is_set():
            raise Cancelled()
        if time.monotonic() >= end:
            raise CallError("timed out", retryable=True)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def send_with_retries(
    attempt: Callable[[], T],
    *,
    max_retries: int,
    gate: RequestGate,
    cancel: threading.Event,
    label: str,
    on_attempt: Callable[[], None] = lambda: None,
) -> T:
    """Send one request with up to ``max_retries`` retries.

    ``attempt`` raises ``CallError`` for a failed attempt. A ``429`` or ``529``
    reply with ``retry-after`` is retried no earlier than the delay it names, and
    other retryable failures after a jittered exponential backoff. Raises
    ``RetriesExhausted`` or ``Cancelled``. ``on_attempt`` runs before each request
    is sent, for counting.
    """
    not_before = 0.0
    attempts = 0
    while True:
        gate.wait_turn(cancel, not_before)
        attempts += 1
        on_attempt()
        try:
            return attempt()
        except CallError as error:
            if not error.retryable or attempts > max_retries:
                if error.retryable:
                    log.warning(
                        "LLM request for %s failed after %d attempts: %s",
                        label,
                        attempts,
                        error.reason,
                    )
                else:
                    log.warning("LLM request for %s failed, not retryable: %s", label, error.reason)
                raise RetriesExhausted(error, attempts) from None
            if error.retry_after is not None and error.retry_after > MAX_RETRY_AFTER:
                detail = (
                    f"the server asked to wait {error.retry_after:.0f} s, "
                    f"above the {MAX_RETRY_AFTER:.0f} s maximum"
                )
                log.warning("LLM request for %s failed: %s; %s", label, error.reason, detail)
                raise RetriesExhausted(error, attempts, detail) from None

            if error.retry_after is not None:
                delay = error.retry_after
                not_before = time.monotonic() + delay
                if error.status in (429, 529):
                    gate.hold_until(not_before)
            else:
                delay = backoff_delay(attempts)
                not_before = time.monotonic() + delay
            log.info(
                "LLM request for %s: %s; retrying in %.2f s (attempt %d of %d)",
                label,
                error.reason,
                delay,
                attempts + 1,
                max_retries + 1,
            )


def _sleep_until(moment: float, cancel: threading.Event) -> None:
    while True:
        remaining = moment - time.monotonic()
        if cancel.is_set():
            raise Cancelled()
        if remaining <= 0:
            return
        cancel.wait(remaining)
