"""Provider adapters over the official SDKs: one request in, a ``Reply`` or a ``CallError`` out.

The SDKs are imported when an adapter is built, never when this package is
imported, so the rest of CardCheck Lab works without them. Both clients are
built with ``max_retries=0`` because the extractor's own loop does the retrying.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from .prompt import REPLY_SCHEMA, TOOL_NAME
from .retry import CallError, parse_retry_after
from .settings import LLMSettings

log = logging.getLogger("cardcheck_lab.llm")

# Phrases of a 400 error about a prompt longer than the model's context window: OpenAI's
# "maximum context length" (code context_length_exceeded) and Anthropic's "prompt is too long".
_CONTEXT_PHRASES = (
    "context_length_exceeded",
    "maximum context length",
    "prompt is too long",
    "context window",
)

# Words in a 400/422 error that show the server rejected the structured-output request itself.
_SCHEMA_REJECTION_WORDS = ("response_format", "json_schema", "structured output", "schema")


class ProviderUnavailable(Exception):
    """The provider cannot be used at all: its SDK is missing or a setting is invalid."""


@dataclass
class Reply:
    """The LLM's reply to one request, before any parsing."""

    stop: str  # finish_reason or stop_reason as the API returned it
    truncated: bool  # cut off by the output-token limit or the context window
    text: str | None = None  # JSON text to parse
    data: dict[str, Any] | None = None  # already-structured tool input


class Provider(Protocol):
    def send(self, system: str, user: str) -> Reply: ...

    def can_fall_back(self, error: CallError) -> bool: ...

    def fall_back(self) -> None: ...


def build_provider(settings: LLMSettings, api_key: str) -> Provider:
    if settings.provider == "anthropic":
        return AnthropicProvider(settings, api_key)
    return OpenAIChatProvider(settings, api_key)


class OpenAIChatProvider:
    """Chat Completions through the ``openai`` SDK, for OpenAI and for OpenAI-compatible servers.

    Requests ask for structured output against ``REPLY_SCHEMA``. A server that
    rejects ``json_schema`` gets ``json_object`` mode from then on.
    """

    def __init__(self, settings: LLMSettings, api_key: str) -> None:
        try:
            import openai
        except ImportError:
            raise ProviderUnavailable(
                "the openai package is not installed (pip install openai)"
            ) from None
        self._sdk = openai
        self._settings = settings
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=settings.base_url or None,
            timeout=settings.timeout,
            max_retries=0,
        )
        self._lock = threading.Lock()
        self._json_schema = True

    def send(self, system: str, user: str) -> Reply:
        with self._lock:
            json_schema = self._json_schema
        if json_schema:
            response_format: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {"name": "metrics_report", "strict": True, "schema": REPLY_SCHEMA},
            }
        else:
            response_format = {"type": "json_object"}

        arguments: dict[str, Any] = {
            "model": self._settings.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "response_format": response_format,
        }
        if self._settings.provider == "openai":
            # OpenAI's Chat Completions reference marks max_tokens as deprecated and not compatible with
            # its o-series reasoning models, and those models reject any temperature but the default.
            arguments["max_completion_tokens"] = self._settings.max_output_tokens
        else:
            arguments["max_tokens"] = self._settings.max_output_tokens
            arguments["temperature"] = 0

        try:
            completion = self._client.chat.completions.create(**arguments)
        except self._sdk.LengthFinishReasonError:
            return Reply(stop="length", truncated=True)
        except self._sdk.OpenAIError as error:
            raise classify_error(error, self._sdk) from None

        if not completion.choices:
            raise CallError("empty reply from LLM (no choices)", retryable=False)
        choice = completion.choices[0]
        # Checked before anything reads the content: a cut-off reply is never parsed.
        if choice.finish_reason == "length":
            return Reply(stop="length", truncated=True)
        if choice.finish_reason == "content_filter":
            raise CallError("reply blocked by the provider's content filter", retryable=False)
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise CallError(f"LLM returned a refusal: {_shorten(refusal)}", retryable=False)
        return Reply(stop=choice.finish_reason or "", truncated=False, text=message.content or "")

    def can_fall_back(self, error: CallError) -> bool:
        with self._lock:
            if not self._json_schema or error.status not in (400, 422):
                return False
        reason = error.reason.lower()
        return any(word in reason for word in _SCHEMA_REJECTION_WORDS)

    def fall_back(self) -> None:
        with self._lock:
            if self._json_schema:
                log.warning(
                    "LLM server at %s rejected json_schema structured output; using json_object mode",
                    self._settings.base_url or "the default OpenAI endpoint",
                )
            self._json_schema = False


class AnthropicProvider:
    """Messages API through the ``anthropic`` SDK, forcing one tool call whose input follows ``REPLY_SCHEMA``."""

    def __init__(self, settings: LLMSettings, api_key: str) -> None:
        try:
            import anthropic
        except ImportError:
            raise ProviderUnavailable(
                "the anthropic package is not installed (pip install anthropic)"
            ) from None
        self._sdk = anthropic
        self._settings = settings
        self._client = anthropic.Anthropic(
            api_key=api_key,
            base_url=settings.base_url or None,
            timeout=settings.timeout,
            max_retries=0,
        )

    def send(self, system: str, user: str) -> Reply:
        try:
            message = self._client.messages.create(
                model=self._settings.model,
                max_tokens=self._settings.max_output_tokens,
                system=system,
                messages=[{"role": "user", "content": user}],
                tools=[
                    {
                        "name": TOOL_NAME,
                        "description": "Report the metric values printed in the notebook outputs.",
                        "input_schema": REPLY_SCHEMA,
                    }
                ],
                tool_choice={"type": "tool", "name": TOOL_NAME},
            )
        except self._sdk.AnthropicError as error:
            raise classify_error(error, self._sdk) from None

        stop = message.stop_reason or ""
        # Checked before anything reads the content: a cut-off tool input is never parsed.
        if stop in ("max_tokens", "model_context_window_exceeded"):
            return Reply(stop=stop, truncated=True)
        if stop == "refusal":
            raise CallError('LLM returned a refusal (stop_reason "refusal")', retryable=False)

        texts = []
        for block in message.content:
            if block.type == "tool_use" and block.name == TOOL_NAME:
                data = block.input
                if not isinstance(data, dict):
                    raise CallError("invalid tool input from LLM (not an object)", retryable=False)
                return Reply(stop=stop, truncated=False, data=data)
            if block.type == "text":
                texts.append(block.text)
        return Reply(stop=stop, truncated=False, text="".join(texts))

    def can_fall_back(self, error: CallError) -> bool:
        return False

    def fall_back(self) -> None:
        pass


def classify_error(error: Exception, sdk: Any) -> CallError:
    """Turn an SDK exception into a ``CallError`` that states whether a retry may help."""
    if isinstance(error, sdk.APITimeoutError):
        return CallError("timed out", retryable=True)
    if isinstance(error, sdk.APIConnectionError):
        return CallError("connection failed", retryable=True)
    if not isinstance(error, sdk.APIStatusError):
        return CallError(f"request failed ({type(error).__name__})", retryable=False)

    status = error.status_code
    headers = error.response.headers
    retry_after = parse_retry_after(headers)
    detail = _shorten(_error_message(error))

    if status == 429:
        if _error_code(error) == "insufficient_quota":
            classified = CallError("quota exceeded (429)", retryable=False, status=status)
        else:
            classified = CallError(
                "rate-limited (429)", retryable=True, retry_after=retry_after, status=status
            )
    elif status == 529:
        classified = CallError(
            "overloaded (529)", retryable=True, retry_after=retry_after, status=status
        )
    elif status >= 500:
        classified = CallError(
            f"server error ({status})", retryable=True, retry_after=retry_after, status=status
        )
    elif status in (408, 409):
        classified = CallError(
            f"request failed ({status})", retryable=True, retry_after=retry_after, status=status
        )
    elif status in (401, 403):
        classified = CallError(f"authentication failed ({status})", retryable=False, status=status)
    else:
        classified = CallError(
            f"request rejected ({status}): {detail}", retryable=False, status=status
        )
        lowered = f"{_error_code(error) or ''} {detail}".lower()
        classified.input_too_long = status in (400, 413) and any(
            phrase in lowered for phrase in _CONTEXT_PHRASES
        )

    # A server can decide the retry itself with x-should-retry, which both SDKs obey as well.
    should_retry = headers.get("x-should-retry")
    if should_retry == "true":
        classified.retryable = True
    elif should_retry == "false":
        classified.retryable = False
    return classified


def _error_message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        message = inner.get("message")
        if isinstance(message, str):
            return message
    return str(getattr(error, "message", "") or "")


def _error_code(error: Any) -> str | None:
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return code
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        code = inner.get("code")
        if isinstance(code, str):
            return code
    return None


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
