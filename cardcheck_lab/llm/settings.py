"""Settings for the optional LLM extractor: provider, model, limits and cache location."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROVIDERS = ("none", "openai", "anthropic", "openai-compatible")

# The environment variable that contains the API key when ``api_key_env`` is empty.
DEFAULT_API_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "openai-compatible": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
}

# Smallest prompt budget a request may have; below it the instructions alone fill the request.
MIN_CHUNK_CHARS = 4000


@dataclass
class LLMSettings:
    """How to reach the LLM and how much to send it per request.

    Invalid values raise ``ValueError`` when the settings are built, so a bad
    command line or request fails before any notebook is read.

    ``max_retries`` counts retries after the first attempt, as the SDKs do, so a
    request is sent at most ``max_retries + 1`` times. The extractor owns the only
    retry layer: the SDK clients are built with ``max_retries=0``.
    """

    provider: str  # "none", "openai", "anthropic" or "openai-compatible"
    model: str = ""
    base_url: str = ""  # such as http://127.0.0.1:8000/v1; empty means the SDK's default
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = ""  # empty means OPENAI_API_KEY or ANTHROPIC_API_KEY, by provider
    timeout: float = 60.0  # seconds per request attempt
    max_retries: int = 3
    requests_per_minute: float | None = None  # shared by every thread that uses the same endpoint
    max_output_tokens: int = 4096
    chunk_chars: int = 24000  # prompt characters per request, instructions included
    cache_path: Path | None = None  # None means default_cache_path()

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(
                f"invalid LLM provider {self.provider!r}: expected one of {', '.join(PROVIDERS)}"
            )
        if self.enabled and not self.model.strip():
            raise ValueError(
                f"missing LLM model name for provider {self.provider!r}: set the model"
            )
        if self.provider == "openai-compatible" and not self.base_url:
            raise ValueError(
                "missing base URL for provider 'openai-compatible': set it, such as http://127.0.0.1:8000/v1"
            )
        if self.timeout <= 0:
            raise ValueError(
                f"invalid LLM timeout {self.timeout!r}: expected a number of seconds above 0"
            )
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(
                f"invalid LLM max_retries {self.max_retries!r}: expected an integer of 0 or more"
            )
        if self.requests_per_minute is not None and self.requests_per_minute <= 0:
            raise ValueError(
                f"invalid LLM requests_per_minute {self.requests_per_minute!r}: expected a number above 0, or None"
            )
        if self.max_output_tokens < 1:
            raise ValueError(
                f"invalid LLM max_output_tokens {self.max_output_tokens!r}: expected 1 or more"
            )
        if self.chunk_chars < MIN_CHUNK_CHARS:
            raise ValueError(
                f"invalid LLM chunk_chars {self.chunk_chars!r}: expected {MIN_CHUNK_CHARS} or more"
            )
        if self.cache_path is not None:
            self.cache_path = Path(self.cache_path)

    @property
    def enabled(self) -> bool:
        return self.provider != "none"

    def key_env_name(self) -> str:
        """Return the name of the environment variable the API key is read from."""
        return self.api_key_env or DEFAULT_API_KEY_ENV.get(self.provider, "")

    def resolve_api_key(self) -> str | None:
        """Return the explicit key, else the key from the environment, else None."""
        if self.api_key:
            return self.api_key
        env_name = self.key_env_name()
        if not env_name:
            return None
        return os.environ.get(env_name) or None

    def resolve_cache_path(self) -> Path:
        return self.cache_path if self.cache_path is not None else default_cache_path()

    def public_dict(self) -> dict[str, Any]:
        """Return the settings for reports and logs, without the API key."""
        return {
            "provider": self.provider,
            "model": self.model,
            "base_url": self.base_url,
            "api_key_env": self.key_env_name(),
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "requests_per_minute": self.requests_per_minute,
            "max_output_tokens": self.max_output_tokens,
            "chunk_chars": self.chunk_chars,
            "cache_path": str(self.resolve_cache_path()),
        }


def default_cache_path() -> Path:
    """Return the per-user cache file, following each platform's cache directory convention."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "cardcheck" / "Cache" / "llm.sqlite"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "cardcheck" / "llm.sqlite"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cardcheck" / "llm.sqlite"
