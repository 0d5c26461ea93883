"""Jupyter server extension of CardCheck Lab: configuration, routes and job manager."""

from __future__ import annotations

import asyncio
import os
import time
from importlib import metadata
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode, default, validate

from .jobs import DEFAULT_API_KEY_ENV, LLM_PROVIDERS, JobManager
from .routes import build_routes


def _package_version() -> str:
    try:
        return metadata.version("cardcheck_lab")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class CardCheckApp(ExtensionApp):
    """Serve the CardCheck job API under ``<base_url>/cardcheck/``.

    Configure with ``c.CardCheckApp.<trait>`` in ``jupyter_server_config.py``.
    """

    name = "cardcheck_lab"
    description = "Check the numbers of a model card against saved notebook outputs."

    workers = Int(
        5,
        help="Notebooks read in parallel by one job, unless the request sets 'workers'.",
    ).tag(config=True)

    max_workers = Int(
        16,
        help="Largest 'workers' value a request may ask for; larger values are rejected.",
    ).tag(config=True)

    provider = Unicode(
        "none",
        help=(
            "LLM provider used by default: 'none' (rules only, no network), 'openai', "
            "'anthropic' or 'openai-compatible'."
        ),
    ).tag(config=True)

    model = Unicode(
        "",
        help="LLM model name used by default; a job with a provider other than 'none' needs one.",
    ).tag(config=True)

    base_url = Unicode(
        "",
        help=(
            "Base URL of the LLM server used by default, such as http://127.0.0.1:8000/v1; "
            "empty uses the provider SDK's default. This is not the Jupyter server's base_url."
        ),
    ).tag(config=True)

    api_key_env = Unicode(
        "",
        help=(
            "Name of the environment variable that contains the LLM API key. Empty means "
            "OPENAI_API_KEY for 'openai' and 'openai-compatible', ANTHROPIC_API_KEY for "
            "'anthropic'. The key itself is never logged, stored or returned."
        ),
    ).tag(config=True)

    cache_dir = Unicode(
        "",
        help=(
            "Folder of the engine's result caches (LLM answers, and notebook results when "
            "the engine caches them). Empty uses the engine's default folder, which the "
            "cardcheck command line shares."
        ),
    ).tag(config=True)

    reports_dir = Unicode(
        help=(
            "Folder where each job is recorded as one JSON file, including its report, so "
            "finished jobs are still listed after a restart. Default: the "
            "'cardcheck/reports' folder of the Jupyter data directory."
        ),
    ).tag(config=True)

    max_concurrent_jobs = Int(
        2,
        help="Jobs that run at the same time; later jobs wait in state 'queued'.",
    ).tag(config=True)

    max_queued_jobs = Int(
        20,
        help="Jobs that may wait in state 'queued'; further submissions get HTTP 429.",
    ).tag(config=True)

    max_request_bytes = Int(
        2 * 1024 * 1024,
        help="Largest request body, in bytes, that POST /cardcheck/jobs accepts (413 above it).",
    ).tag(config=True)

    max_card_bytes = Int(
        1024 * 1024,
        help="Largest model card, in bytes, given as a file or as 'card_text'.",
    ).tag(config=True)

    max_saved_reports = Int(
        500,
        help="Job records kept in reports_dir; the oldest are deleted at startup beyond it.",
    ).tag(config=True)

    max_jobs_in_memory = Int(
        50,
        help="Ended jobs kept in memory with their event history; older ones are read from disk.",
    ).tag(config=True)

    checkpoint_interval = Float(
        2.0,
        help="Seconds between rewrites of a running job's record, which bounds the progress "
        "lost when the server is killed.",
    ).tag(config=True)

    shutdown_timeout = Float(
        15.0,
        help="Seconds the server waits at shutdown for cancelled jobs to stop.",
    ).tag(config=True)

    reuse_active_jobs = Bool(
        True,
        help="Return the existing job when a request equals a queued or running one, "
        "instead of starting a second identical job.",
    ).tag(config=True)

    job_isolation = CaselessStrEnum(
        ["process", "thread"],
        default_value="process",
        help=(
            "Where a job runs. 'process' (default) starts a child Python process per job, so "
            "the CPU-bound notebook parsing does not compete with the server's event loop for "
            "the GIL. 'thread' runs the job on a thread of the server process: no process "
            "start-up cost, but other requests slow down while a large job runs."
        ),
    ).tag(config=True)

    @default("reports_dir")
    def _default_reports_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "cardcheck", "reports")

    @validate(
        "workers",
        "max_workers",
        "max_concurrent_jobs",
        "max_request_bytes",
        "max_card_bytes",
        "max_saved_reports",
        "max_jobs_in_memory",
    )
    def _validate_positive(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        if value < 1:
            name = proposal["trait"].name
            raise ValueError(f"CardCheckApp.{name} must be 1 or more, got {value}")
        return value

    @validate("max_queued_jobs")
    def _validate_queue(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 0:
            raise ValueError(
                f"CardCheckApp.max_queued_jobs must be 0 or more, got {proposal['value']}"
            )
        return proposal["value"]

    @validate("provider")
    def _validate_provider(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in LLM_PROVIDERS:
            raise ValueError(
                f"CardCheckApp.provider must be one of {', '.join(LLM_PROVIDERS)}, "
                f"got {proposal['value']!r}"
            )
        return proposal["value"]

    @validate("checkpoint_interval", "shutdown_timeout")
    def _validate_seconds(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] <= 0:
            raise ValueError(f"CardCheckApp.{proposal['trait'].name} must be above 0 seconds")
        return proposal["value"]

    manager: JobManager | None = None

    # ------------------------------------------------------------------
    # Extension hooks

    def initialize_settings(self) -> None:
        """Create and start the job manager; log one line about the setup."""
        started = time.perf_counter()
        self.manager = self.create_manager()
        self.manager.start()
        self.log.info(
            "CardCheck Lab %s: API at %s, reports in %s, provider %s, %d workers per job, "
            "%d concurrent jobs (loaded in %.0f ms)",
            _package_version(),
            url_path_join(self.serverapp.web_app.settings["base_url"], "cardcheck"),
            self.reports_dir,
            self.provider,
            self.workers,
            self.max_concurrent_jobs,
            (time.perf_counter() - started) * 1000,
        )

    def initialize_handlers(self) -> None:
        """Register the routes under ``<base_url>/cardcheck/``."""
        web_app = self.serverapp.web_app
        web_app.add_handlers(".*$", build_routes(web_app.settings["base_url"], self))

    async def stop_extension(self) -> None:
        """Cancel running jobs, record them as interrupted and stop the thread pools."""
        manager = self.manager
        if manager is None:
            return
        try:
            await asyncio.to_thread(manager.stop)
        except Exception:  # shutdown must go on for the other extensions
            self.log.exception("CardCheck: stopping the job manager failed")

    def create_manager(self) -> JobManager:
        """Build a job manager from the current configuration."""
        return JobManager(
            reports_dir=self.reports_dir,
            root_dir=self.root_dir,
            max_concurrent_jobs=self.max_concurrent_jobs,
            max_queued_jobs=self.max_queued_jobs,
            max_saved_reports=self.max_saved_reports,
            max_jobs_in_memory=self.max_jobs_in_memory,
            checkpoint_interval=self.checkpoint_interval,
            shutdown_timeout=self.shutdown_timeout,
            reuse_active_jobs=self.reuse_active_jobs,
            isolation=self.job_isolation,
            log=self.log,
        )

    # ------------------------------------------------------------------
    # Values the handlers read

    @property
    def root_dir(self) -> str:
        """The Jupyter server's root directory, which every request path must stay inside."""
        return str(self.serverapp.root_dir)

    @property
    def version(self) -> str:
        """The installed package version."""
        return _package_version()

    def key_env_name(self, provider: str) -> str:
        """Return the name of the environment variable with the server's key for ``provider``."""
        return self.api_key_env or DEFAULT_API_KEY_ENV.get(provider, "")

    def server_api_key(self) -> str | None:
        """Return the server's configured LLM key, or None."""
        env_name = self.key_env_name(self.provider)
        return os.environ.get(env_name) or None if env_name else None

    def api_key_for(self, request_key: str | None, provider: str, base_url: str) -> str | None:
        """Return the key to put in a job's LLM settings; None lets them read the environment.

        The server's key from the environment may only go to the provider's own
        endpoint or to the configured ``base_url``. Raises ValueError when a
        request names another base URL without its own key while the server
        has a key for that provider, because the key would go to that URL.
        """
        if request_key:
            return request_key
        custom_endpoint = bool(base_url) and base_url != self.base_url
        env_name = self.key_env_name(provider)
        if custom_endpoint and env_name and os.environ.get(env_name):
            raise ValueError(
                "This request sends the job to a base_url other than the server's "
                "configured one, so the server's API key is not used; send the key "
                "for that server in the X-CardCheck-API-Key header."
            )
        return None
