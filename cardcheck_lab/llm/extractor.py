"""The LLM extractor: one notebook in, grounded evidence and a note on anything that went wrong out."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..model import Claim, Evidence
from .cache import ResultCache, evidence_from_payload, evidence_to_payload
from .grounding import ground_metric
from .prompt import PROMPT_VERSION, SYSTEM_PROMPT, Chunk, Plan, build_plan, split_chunk
from .providers import Provider, ProviderUnavailable, Reply, build_provider
from .reply import InvalidReply, parse_reply_text, read_metrics
from .retry import (
    DEADLINE_GRACE,
    CallError,
    Cancelled,
    RetriesExhausted,
    call_with_deadline,
    send_with_retries,
    shared_gate,
)
from .settings import LLMSettings

if TYPE_CHECKING:
    from ..notebooks import NotebookDoc

log = logging.getLogger("cardcheck_lab.llm")

UNAVAILABLE = "LLM extraction not available"
INCOMPLETE_OUTPUT_LIMIT = "LLM extraction incomplete (output limit)"
INCOMPLETE_OUTPUT_CUT = "LLM extraction incomplete (output cut)"
INCOMPLETE_CONTEXT = "LLM extraction incomplete (context window)"

# The stop reason given to a request rejected because its prompt exceeds the context window.
CONTEXT_EXCEEDED = "context length exceeded"

# The placeholder key sent to an OpenAI-compatible server when none is configured:
# local servers usually need no key, but the openai SDK does not send a request without one.
NO_KEY_PLACEHOLDER = "no-key"


@dataclass
class LLMOutcome:
    """Result of the LLM extractor for one notebook."""

    evidence: list[Evidence]  # grounded values only, each with extractor="llm"
    rejected: (
        int  # values the LLM reported that the cited cell does not print, plus malformed items
    )
    note: str  # empty when all went well, else why the evidence is missing or partial
    calls: int  # HTTP requests sent, retries included; 0 on a cache hit
    cache_hit: bool


class _Failure(Exception):
    """The LLM cannot be used for this notebook; the message is the reason shown in the note."""


@dataclass
class _Run:
    """The running state of one notebook's extraction."""

    label: str
    calls: int = 0
    rejected: int = 0
    evidence: list[Evidence] = field(default_factory=list)
    cut_off_chunks: int = 0  # chunks still cut off by the output limit at the smallest size
    too_long_chunks: int = 0  # chunks still over the context window at the smallest size

    def count_call(self) -> None:
        self.calls += 1


class LLMExtractor:
    """Extract metric values from notebook outputs with an LLM, keeping only values the outputs print.

    One extractor may serve many threads at once: the SDK client, the request
    gate and the cache are all safe to share. A missing SDK or API key does not
    raise: every ``extract`` call then returns a "not available" note instead.
    """

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self._unavailable = ""
        self._provider: Provider | None = None
        self._cache: ResultCache | None = None
        self._secrets: tuple[str, ...] = ()
        if not settings.enabled:
            return

        api_key = settings.resolve_api_key()
        if api_key:
            self._secrets = (api_key,)
        elif settings.provider == "openai-compatible":
            log.info(
                "No API key in %s; sending a placeholder key to %s",
                settings.key_env_name(),
                settings.base_url,
            )
            api_key = NO_KEY_PLACEHOLDER
        else:
            self._unavailable = f"missing API key (set {settings.key_env_name()})"
            return

        try:
            self._provider = build_provider(settings, api_key)
        except ProviderUnavailable as error:
            self._unavailable = str(error)
            return
        self._gate = shared_gate(settings.provider, settings.base_url, settings.requests_per_minute)
        self._cache = ResultCache(settings.resolve_cache_path())

    def extract(self, doc: NotebookDoc, hints: list[Claim], cancel: threading.Event) -> LLMOutcome:
        """Extract grounded metric values from ``doc``.

        Every failure, network, LLM or internal, becomes the outcome's note rather than an exception.
        """
        if not self.settings.enabled:
            return LLMOutcome([], 0, "", 0, False)
        if self._unavailable or self._provider is None:
            return LLMOutcome([], 0, f"{UNAVAILABLE}: {self._unavailable}", 0, False)

        started = time.monotonic()
        plan = build_plan(doc, hints, self.settings.chunk_chars)
        if not plan.chunks:
            return LLMOutcome([], 0, "", 0, False)

        key = self._cache_key(doc, plan)
        cached = self._cache.get(key) if self._cache else None
        if cached is not None:
            evidence = evidence_from_payload(cached, doc.path)
            log.info(
                "LLM extraction of %s: cache hit, %d values, 0 requests", doc.path, len(evidence)
            )
            return LLMOutcome(
                evidence, int(cached.get("rejected", 0)), str(cached.get("note", "")), 0, True
            )

        run = _Run(label=doc.path)
        try:
            self._run_chunks(plan, run, cancel)
        except Cancelled:
            log.info("LLM extraction of %s cancelled after %d requests", doc.path, run.calls)
            return LLMOutcome([], run.rejected, f"{UNAVAILABLE}: cancelled", run.calls, False)
        except _Failure as failure:
            note = f"{UNAVAILABLE}: {self._redact(str(failure))}"
            log.warning(
                "LLM extraction of %s failed after %d requests: %s", doc.path, run.calls, note
            )
            return LLMOutcome([], run.rejected, note, run.calls, False)
        except Exception as error:
            # A bug or an SDK surprise must not fail the notebook, which keeps its rule evidence.
            reason = f"unexpected error ({type(error).__name__})"
            if self._mentions_secret(error):
                # The traceback would repeat the key, so only the redacted message is logged.
                log.error("LLM extraction of %s failed: %s", doc.path, self._redact(str(error)))
            else:
                log.exception("LLM extraction of %s failed", doc.path)
            return LLMOutcome([], run.rejected, f"{UNAVAILABLE}: {reason}", run.calls, False)

        notes = []
        if run.cut_off_chunks:
            notes.append(
                f"{INCOMPLETE_OUTPUT_LIMIT}: the replies for {run.cut_off_chunks} of the notebook's requests "
                "were still cut off at the smallest request size, so those outputs were not read"
            )
        if run.too_long_chunks:
            notes.append(
                f"{INCOMPLETE_CONTEXT}: {run.too_long_chunks} of the notebook's requests were still "
                "longer than the model's context window at the smallest request size, so those "
                "outputs were not read"
            )
        if plan.notes:
            notes.append(f"{INCOMPLETE_OUTPUT_CUT}: " + "; ".join(plan.notes))
        note = "; ".join(notes)

        if not run.cut_off_chunks and not run.too_long_chunks and self._cache is not None:
            self._cache.put(
                key,
                evidence_to_payload(run.evidence, run.rejected, note),
                prompt_version=PROMPT_VERSION,
                provider=self.settings.provider,
                model=self.settings.model,
                notebook_hash=doc.content_hash,
            )
        log.info(
            "LLM extraction of %s: %d requests, %d values accepted, %d rejected, %.2f s%s",
            doc.path,
            run.calls,
            len(run.evidence),
            run.rejected,
            time.monotonic() - started,
            f"; {note}" if note else "",
        )
        return LLMOutcome(run.evidence, run.rejected, note, run.calls, False)

    def _run_chunks(self, plan: Plan, run: _Run, cancel: threading.Event) -> None:
        pending: deque[Chunk] = deque(plan.chunks)
        seen: set[tuple] = set()
        while pending:
            if cancel.is_set():
                raise Cancelled()
            chunk = pending.popleft()
            reply = self._request(plan, chunk, run, cancel)

            if reply.truncated:
                limit = "context window" if reply.stop == CONTEXT_EXCEEDED else "output limit"
                halves = split_chunk(chunk)
                if halves:
                    log.info(
                        "LLM request for %s hit the %s (%s); resending its %d characters as two",
                        run.label,
                        limit,
                        reply.stop,
                        chunk.size,
                    )
                    pending.extendleft(reversed(halves))
                    continue
                log.warning(
                    "LLM request for %s hit the %s (%s) at the smallest request size; "
                    "%d characters of outputs not read",
                    run.label,
                    limit,
                    reply.stop,
                    chunk.size,
                )
                if reply.stop == CONTEXT_EXCEEDED:
                    run.too_long_chunks += 1
                else:
                    run.cut_off_chunks += 1
                continue

            try:
                data = reply.data if reply.data is not None else parse_reply_text(reply.text or "")
                reported, malformed = read_metrics(data)
            except InvalidReply as error:
                log.warning("LLM reply for %s rejected: %s", run.label, error)
                raise _Failure(str(error)) from None
            run.rejected += malformed

            for metric in reported:
                evidence = ground_metric(metric, chunk.blocks, run.label)
                if evidence is None:
                    run.rejected += 1
                    log.info(
                        "LLM value rejected as ungrounded in %s: %s = %r in cell %d",
                        run.label,
                        metric.name,
                        metric.value,
                        metric.cell,
                    )
                    continue
                identity = (
                    evidence.cell_index,
                    evidence.output_index,
                    evidence.metric,
                    evidence.text,
                    evidence.token,
                )
                if identity not in seen:
                    seen.add(identity)
                    run.evidence.append(evidence)

    def _request(self, plan: Plan, chunk: Chunk, run: _Run, cancel: threading.Event) -> Reply:
        """Send one chunk, with retries and the structured-output fallback; raise ``_Failure`` if it cannot."""
        assert self._provider is not None
        provider = self._provider
        user = plan.user_message(chunk)
        deadline = self.settings.timeout + DEADLINE_GRACE

        def attempt() -> Reply:
            try:
                return call_with_deadline(
                    lambda: provider.send(SYSTEM_PROMPT, user), deadline, cancel
                )
            except CallError as error:
                error.reason = self._redact(error.reason)
                raise

        while True:
            try:
                return send_with_retries(
                    attempt,
                    max_retries=self.settings.max_retries,
                    gate=self._gate,
                    cancel=cancel,
                    label=run.label,
                    on_attempt=run.count_call,
                )
            except RetriesExhausted as exhausted:
                if provider.can_fall_back(exhausted.last):
                    provider.fall_back()
                    continue
                if exhausted.last.input_too_long:
                    # Handled like a reply cut off by the output limit: the chunk is resent in halves.
                    return Reply(stop=CONTEXT_EXCEEDED, truncated=True)
                raise _Failure(str(exhausted)) from None

    def _cache_key(self, doc: NotebookDoc, plan: Plan) -> str:
        parts = [
            PROMPT_VERSION,
            self.settings.provider,
            self.settings.base_url,
            self.settings.model,
            self.settings.max_output_tokens,
            doc.content_hash,
            plan.digest,
        ]
        return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()

    def _mentions_secret(self, error: BaseException) -> bool:
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            if any(secret in str(current) for secret in self._secrets):
                return True
            current = current.__cause__ or current.__context__
        return False

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text
