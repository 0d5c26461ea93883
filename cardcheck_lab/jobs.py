"""Job manager of the CardCheck server extension.

The manager runs each job from a thread pool that it owns: the thread either runs
the engine's Job itself or supervises a child process that runs it (see
job_process.py). The server's event loop only hands work over and reads results.
Every job is also one JSON file in the reports directory (see job_records.py), so
finished reports survive a restart and cut-off jobs are recorded as interrupted.

Nothing here imports tornado, so the manager can be driven from a plain script.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .job_records import (
    ACTIVE_STATES,
    INTERRUPTED_MESSAGE,
    RECORD_FORMAT,
    TERMINAL_STATES,
    RecordStore,
    close_open_notebooks,
    listing_item,
    snapshot_from_record,
    utc_now,
)

# The same names as cardcheck_lab.llm.settings, repeated so that the server
# extension loads even when the LLM extras are not installed.
LLM_PROVIDERS = ("none", "openai", "anthropic", "openai-compatible")
DEFAULT_API_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "openai-compatible": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
}

# File of the LLM extractor's cache inside a configured cache folder.
LLM_CACHE_FILE = "llm.sqlite"

# Keys that may carry a secret in an engine document; they are removed before a
# snapshot, report or record leaves the manager.
_SECRET_KEYS = frozenset({"api_key", "apikey", "authorization"})


class QueueFullError(Exception):
    """Raised when a submission would exceed ``max_queued_jobs``."""


class ManagerClosedError(Exception):
    """Raised when a job is submitted while the server is stopping."""


class JobInputError(Exception):
    """Raised when the engine rejects a job's input; ``str(error)`` is for the user."""


class ReportUnavailableError(Exception):
    """Raised when a job has no report yet, or lost it; ``str(error)`` is for the user."""


@dataclass
class JobRequest:
    """A validated job request: absolute paths for the engine, labels for people.

    Paths are already resolved inside the server root by the caller.
    """

    workspace: Path
    workspace_label: str
    card_path: Path | None
    card_text: str | None
    card_label: str
    notebooks: list[str] | None  # relative to ``workspace``; None reads all of them
    provider: str
    model: str
    base_url: str
    workers: int
    allow_hidden: bool = False
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = ""  # read by the LLM settings when api_key is None
    cache_dir: Path | None = None  # folder of the engine's result caches; None: engine default

    def public_options(self) -> dict[str, Any]:
        """Return the options as stored and shown, never with the API key."""
        return {
            "provider": self.provider,
            "model": self.model,
            "base_url": self.base_url,
            "workers": self.workers,
            "notebooks": list(self.notebooks) if self.notebooks is not None else None,
        }

    def fingerprint(self) -> str:
        """Return a digest that is equal for two requests asking for the same check."""
        parts = [
            str(self.workspace),
            str(self.card_path or ""),
            hashlib.sha256((self.card_text or "").encode("utf-8")).hexdigest(),
            json.dumps(self.public_options(), sort_keys=True),
            str(self.allow_hidden),
        ]
        return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


class EngineAdapter:
    """The only place that calls ``cardcheck_lab.runner`` and ``cardcheck_lab.report``.

    With ``isolation="process"`` a job runs in a child process (see job_process.py),
    and ``create_job`` returns its server-side mirror. With ``"thread"`` it returns
    the engine's own Job, which then runs on a thread of the server. Imports happen on first use
    so the server extension loads even when an engine module fails to import.
    """

    def __init__(self, isolation: str = "thread", log: logging.Logger | None = None) -> None:
        if isolation not in ("process", "thread"):
            raise ValueError(f"invalid job isolation {isolation!r}: expected 'process' or 'thread'")
        self.isolation = isolation
        self.log = log or logging.getLogger(__name__)

    def create_job(self, request: JobRequest) -> Any:
        """Build a job, raising JobInputError for input the engine rejects."""
        if self.isolation == "process":
            from .job_process import ProcessJob

            self._llm_settings(request)  # rejects bad LLM settings before a process starts
            return ProcessJob(request, uuid.uuid4().hex, self.log)

        from .errors import InputError
        from .runner import Job, JobOptions

        options = JobOptions(
            workers=request.workers,
            provider=request.provider,
            model=request.model,
            base_url=request.base_url,
            api_key=request.api_key,
            notebooks=request.notebooks,
            llm=self._llm_settings(request),
        )
        if request.cache_dir is not None and hasattr(options, "cache_dir"):
            # Engines without a notebook cache have no such option.
            options.cache_dir = str(request.cache_dir)
        try:
            return Job(
                workspace=request.workspace,
                card_path=request.card_path,
                card_text=request.card_text,
                card_label=request.card_label,
                options=options,
                allow_hidden=request.allow_hidden,
            )
        except InputError as error:
            raise JobInputError(str(error)) from error

    def _llm_settings(self, request: JobRequest) -> Any:
        if request.provider == "none":
            return None
        from .llm.settings import LLMSettings

        try:
            return LLMSettings(
                provider=request.provider,
                model=request.model,
                base_url=request.base_url,
                api_key=request.api_key,
                api_key_env=request.api_key_env,
                cache_path=request.cache_dir / LLM_CACHE_FILE if request.cache_dir else None,
            )
        except ValueError as error:
            raise JobInputError(str(error)) from error

    def subscribe(self, job: Any, listener: Callable[[dict[str, Any]], None]) -> bool:
        """Call ``listener`` from the job's threads for every event; False if unsupported."""
        subscribe = getattr(job, "subscribe", None)
        if subscribe is None:
            return False
        subscribe(listener)
        return True

    def render_markdown(self, report: dict[str, Any]) -> str:
        """Render a report document as Markdown."""
        from .report import render_markdown

        return render_markdown(report)


class JobEntry:
    """A job started by this server process, with the manager's own state for it."""

    def __init__(self, job: Any, request: JobRequest, fingerprint: str) -> None:
        self.job = job
        self.id: str = job.id
        self.fingerprint = fingerprint
        self.card_label = request.card_label
        self.workspace_label = request.workspace_label
        self.workspace_real = os.path.realpath(request.workspace)
        self.options = request.public_options()
        self.future: concurrent.futures.Future[None] | None = None
        self.created = utc_now()
        self.started: str | None = None
        self.finished: str | None = None
        # Set when the manager decides the state itself: "cancelled" for a job
        # cancelled before it started, "interrupted" for one cut off by shutdown.
        self.state_override: str | None = None
        self.cancel_requested = False
        self.interrupted = False
        self.crash_error: str | None = None
        self.report: dict[str, Any] | None = None
        self.saved_seq = -1
        self.final_written = False
        # Set once the final record write was attempted. Until then clients see an
        # active state, so a job reported as ended is always on disk as ended too.
        self.finalized = False
        self.listing: dict[str, Any] | None = None  # cached once the final record is written
        # Last event number, kept up to date by ``on_event`` so the event loop can
        # read it without taking the job's lock. None until the job is subscribed.
        self.last_seq: int | None = None
        # Serialises the writes of this job's record file.
        self.write_lock = threading.Lock()

    def on_event(self, event: dict[str, Any]) -> None:
        """Record the newest event number; called from the job's threads."""
        seq = int(event.get("seq") or 0)
        if self.last_seq is None or seq > self.last_seq:
            self.last_seq = seq

    def current_seq(self) -> int:
        """Return the number of the job's newest event."""
        if self.last_seq is not None:
            return self.last_seq
        return int(self.job.seq)

    def final_state(self) -> str:
        """Return the state to record, which may differ from the engine's."""
        if self.state_override:
            return self.state_override
        if self.crash_error:
            return "failed"
        state = str(self.job.state)
        if state == "cancelled" and self.interrupted:
            return "interrupted"
        return state

    @property
    def state(self) -> str:
        """The state shown to clients: an ended state only once the final record is written."""
        state = self.final_state()
        if state in TERMINAL_STATES and not self.finalized:
            engine_state = str(self.job.state)
            return engine_state if engine_state in ACTIVE_STATES else "running"
        return state

    @property
    def error(self) -> str | None:
        """The user-facing error of a failed or interrupted job, if any."""
        if self.crash_error:
            return self.crash_error
        if self.final_state() == "interrupted":
            return INTERRUPTED_MESSAGE
        return getattr(self.job, "error", None) or None

    def is_finished(self) -> bool:
        """Return True once the job has ended and its final record is written."""
        return self.state in TERMINAL_STATES


def _strip_secrets(document: Any) -> Any:
    """Return a copy of a JSON-like document without keys that may hold a secret."""
    if isinstance(document, dict):
        return {
            key: _strip_secrets(value)
            for key, value in document.items()
            if str(key).lower() not in _SECRET_KEYS
        }
    if isinstance(document, list):
        return [_strip_secrets(item) for item in document]
    return document


class JobManager:
    """Queue, run, persist and look up CardCheck jobs.

    ``max_concurrent_jobs`` jobs run at once; later submissions wait in the
    executor's queue in state ``queued``, up to ``max_queued_jobs`` of them.
    Blocking calls (``submit``, ``snapshot``, ``events``, ``report`` and the
    listing) are meant to run off the event loop, through ``run_io``.
    """

    def __init__(
        self,
        *,
        reports_dir: str | os.PathLike[str],
        root_dir: str | os.PathLike[str],
        max_concurrent_jobs: int = 2,
        max_queued_jobs: int = 20,
        max_saved_reports: int = 500,
        max_jobs_in_memory: int = 50,
        checkpoint_interval: float = 2.0,
        shutdown_timeout: float = 15.0,
        reuse_active_jobs: bool = True,
        isolation: str = "process",
        log: logging.Logger | None = None,
        engine: EngineAdapter | None = None,
    ) -> None:
        self.reports_dir = Path(reports_dir)
        self.root_real = os.path.realpath(root_dir)
        self.max_concurrent_jobs = max(1, int(max_concurrent_jobs))
        self.max_queued_jobs = max(0, int(max_queued_jobs))
        self.max_saved_reports = max(1, int(max_saved_reports))
        self.max_jobs_in_memory = max(1, int(max_jobs_in_memory))
        self.checkpoint_interval = float(checkpoint_interval)
        self.shutdown_timeout = float(shutdown_timeout)
        self.reuse_active_jobs = reuse_active_jobs
        self.log = log or logging.getLogger(__name__)
        self.engine = engine or EngineAdapter(isolation, self.log)
        self._records = RecordStore(self.reports_dir, self.max_saved_reports, self.log)

        self._lock = threading.Lock()
        self._entries: dict[str, JobEntry] = {}
        self._stored: dict[str, dict[str, Any]] = {}  # listing items of jobs only on disk
        self._reserved_slots = 0
        self._closing = False
        self._started = False
        self._job_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._io_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._recovery: concurrent.futures.Future[None] | None = None
        self._checkpoint_stop = threading.Event()
        self._checkpoint_thread: threading.Thread | None = None
        # Per job, whether each reported notebook path stays inside the server root.
        self._path_checks: dict[str, dict[str, bool]] = {}

    # ------------------------------------------------------------------
    # Life cycle

    def start(self) -> None:
        """Create the thread pools, recover old records and start checkpoints."""
        if self._started:
            return
        self._started = True
        self._job_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.max_concurrent_jobs, thread_name_prefix="cardcheck-job"
        )
        self._io_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="cardcheck-io"
        )
        self._recovery = self._io_pool.submit(self._recover_records)
        self._checkpoint_thread = threading.Thread(
            target=self._checkpoint_loop, name="cardcheck-checkpoint", daemon=True
        )
        self._checkpoint_thread.start()

    @property
    def closing(self) -> bool:
        """True once ``stop`` was called."""
        return self._closing

    def run_io(self, function: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Run a blocking call on the manager's I/O threads and return its future."""
        if self._io_pool is None:
            raise ManagerClosedError("The CardCheck job manager is not running.")
        return self._io_pool.submit(function, *args)

    def wait_recovered(self) -> None:
        """Block until the records of earlier server runs are loaded."""
        if self._recovery is not None:
            self._recovery.result()

    def stop(self) -> None:
        """Cancel every job, record active ones as interrupted and stop the pools.

        Blocks for at most about ``shutdown_timeout`` seconds; call it from a thread.
        """
        with self._lock:
            if self._closing:
                return
            self._closing = True
            entries = list(self._entries.values())

        active = [entry for entry in entries if not entry.is_finished()]
        for entry in active:
            entry.interrupted = True
            self._cancel_entry(entry)

        self._checkpoint_stop.set()
        running = [entry.future for entry in active if entry.future is not None]
        if self._job_pool is not None:
            self._job_pool.shutdown(wait=False, cancel_futures=True)
        if running:
            _, not_done = concurrent.futures.wait(running, timeout=self.shutdown_timeout)
            for entry in active:
                if entry.future in not_done and hasattr(entry.job, "kill"):
                    entry.job.kill()
            if not_done:
                self.log.warning(
                    "CardCheck: %d job(s) did not stop within %.0f s of shutdown; "
                    "recording them as interrupted",
                    len(not_done),
                    self.shutdown_timeout,
                )
        for entry in active:
            if not entry.final_written:
                entry.state_override = "interrupted"
                entry.finished = entry.finished or utc_now()
                self._save_record(entry, final=True)

        if self._checkpoint_thread is not None:
            self._checkpoint_thread.join(timeout=5)
        if self._io_pool is not None:
            self._io_pool.shutdown(wait=True, cancel_futures=True)
            self._io_pool = None

    # ------------------------------------------------------------------
    # Submitting and cancelling

    def submit(self, request: JobRequest) -> tuple[JobEntry, bool]:
        """Create and queue a job; return its entry and whether it was reused.

        A request equal to a queued or running job returns that job instead of
        starting a second one, unless ``reuse_active_jobs`` is off. Raises
        QueueFullError, ManagerClosedError or JobInputError.
        """
        fingerprint = request.fingerprint()
        with self._lock:
            if self._closing or self._job_pool is None:
                raise ManagerClosedError(
                    "The Jupyter server is stopping; start the job again after it restarts."
                )
            if self.reuse_active_jobs:
                for entry in self._entries.values():
                    if entry.fingerprint == fingerprint and entry.state in ACTIVE_STATES:
                        return entry, True
            queued = sum(1 for entry in self._entries.values() if entry.state == "queued")
            running = sum(1 for entry in self._entries.values() if entry.state == "running")
            free_runners = max(0, self.max_concurrent_jobs - running)
            if queued + self._reserved_slots >= self.max_queued_jobs + free_runners:
                raise QueueFullError(
                    f"{queued} CardCheck jobs are already waiting (the limit is "
                    f"{self.max_queued_jobs}, set by CardCheckApp.max_queued_jobs); "
                    "wait for one to finish or cancel one."
                )
            self._reserved_slots += 1

        try:
            job = self.engine.create_job(request)
            entry = JobEntry(job, request, fingerprint)
            if self.engine.subscribe(job, entry.on_event):
                entry.last_seq = int(job.seq)
            self._save_record(entry)
            with self._lock:
                if self._closing or self._job_pool is None:
                    raise ManagerClosedError(
                        "The Jupyter server is stopping; start the job again after it restarts."
                    )
                self._entries[entry.id] = entry
                self.log.debug(
                    "CardCheck job %s queued: card %r, workspace %r, provider %s, %d workers",
                    entry.id,
                    entry.card_label,
                    entry.workspace_label,
                    request.provider,
                    request.workers,
                )
                entry.future = self._job_pool.submit(self._run_entry, entry)
        finally:
            with self._lock:
                self._reserved_slots -= 1
        return entry, False

    def cancel(self, job_id: str) -> JobEntry | None:
        """Request cancellation of an active job; return its entry, or None if unknown.

        A job that has not started is cancelled at once; a running one stops
        within the engine's cancellation delay.
        """
        entry = self.get(job_id)
        if entry is None:
            return None
        if entry.state in ACTIVE_STATES:
            self._cancel_entry(entry)
            self.log.debug("CardCheck job %s: cancellation requested", job_id)
        return entry

    def _cancel_entry(self, entry: JobEntry) -> None:
        entry.cancel_requested = True
        entry.job.cancel()
        if entry.future is not None and entry.future.cancel():
            # The job never reached a worker thread, so no other code records its end.
            entry.state_override = "interrupted" if entry.interrupted else "cancelled"
            entry.finished = utc_now()
            self._save_record(entry, final=True)

    def _run_entry(self, entry: JobEntry) -> None:
        """Run one job on a job thread and write its final record."""
        if entry.cancel_requested:
            entry.state_override = "interrupted" if entry.interrupted else "cancelled"
            entry.finished = utc_now()
            self._save_record(entry, final=True)
            return

        entry.started = utc_now()
        self.log.debug("CardCheck job %s started", entry.id)
        self._save_record(entry)
        try:
            report = entry.job.run()
        except Exception as error:  # a crashed job must still be recorded
            self.log.exception("CardCheck job %s failed with an internal error", entry.id)
            entry.crash_error = (
                f"Internal error in the CardCheck engine ({type(error).__name__}); "
                "see the Jupyter server log for details."
            )
            report = None
        entry.finished = utc_now()
        if report is None and not entry.crash_error:
            report = self._safe_report(entry)
        entry.report = _strip_secrets(report) if isinstance(report, dict) else None

        self._save_record(entry, final=True)
        self.log.debug("CardCheck job %s ended in state %s", entry.id, entry.state)
        self._evict_finished()

    def _safe_report(self, entry: JobEntry) -> dict[str, Any] | None:
        try:
            return entry.job.report()
        except Exception:  # the record is written without a report
            self.log.exception("CardCheck job %s: building the report failed", entry.id)
            return None

    # ------------------------------------------------------------------
    # Looking up

    def get(self, job_id: str) -> JobEntry | None:
        """Return the in-memory entry of a job of this session, or None."""
        with self._lock:
            return self._entries.get(job_id)

    def snapshot(self, job_id: str, since: int = 0) -> dict[str, Any] | None:
        """Return the job's snapshot (changes after event ``since``), or None. Blocking."""
        entry = self.get(job_id)
        if entry is not None:
            snapshot = entry.job.snapshot(since=since)
            snapshot = self._present(entry, snapshot)
            return snapshot

        record = self._load_stored(job_id)
        if record is None:
            return None
        return snapshot_from_record(record, since)

    def events(self, job_id: str, since: int = 0) -> tuple[list[dict[str, Any]], str] | None:
        """Return the events after ``since`` and the job's state. Blocking.

        Returns None for an unknown job. A job known only from disk yields one
        ``job`` event with its final state, because its event list was not kept.
        The state is read before the events, so a final state means that the
        returned list already contains the job's last event.
        """
        entry = self.get(job_id)
        if entry is not None:
            finished = entry.is_finished()
            state = entry.state if finished or entry.state in ACTIVE_STATES else "running"
            events = [_strip_secrets(event) for event in entry.job.events(since=since)]
            guarded = [self._guard_event(entry, event) for event in events]
            return [event for event in guarded if event is not None], state

        record = self._load_stored(job_id)
        if record is None:
            return None
        seq = int(record.get("seq") or 0)
        state = str(record.get("state"))
        if since >= seq:
            return [], state
        closing = {"seq": seq, "type": "job", "state": state, "error": record.get("error")}
        return [closing], state

    def report(self, job_id: str) -> dict[str, Any] | None:
        """Return the report of an ended job, or None for an unknown job. Blocking.

        Raises ReportUnavailableError while the job is active or when it ended
        without a report.
        """
        entry = self.get(job_id)
        if entry is not None:
            if not entry.is_finished():
                raise ReportUnavailableError(
                    f"Job {job_id} is still {entry.state}; its report is ready when the "
                    "state is done, failed or cancelled."
                )
            report = entry.report
            state, error = entry.state, entry.error
        else:
            record = self._load_stored(job_id)
            if record is None:
                return None
            report = record.get("report")
            state, error = record.get("state"), record.get("error")

        if not isinstance(report, dict):
            detail = f" ({error})" if error else ""
            raise ReportUnavailableError(
                f"Job {job_id} ended in state {state} without a report{detail}; "
                "start the job again."
            )
        return self._present_report(entry, report)

    def render_markdown(self, report: dict[str, Any]) -> str:
        """Render a report as Markdown. Blocking."""
        return self.engine.render_markdown(report)

    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Return the most recent jobs, newest first, active and stored. Blocking."""
        self.wait_recovered()
        with self._lock:
            entries = list(self._entries.values())
            items = {job_id: dict(item) for job_id, item in self._stored.items()}
        for entry in entries:
            items[entry.id] = self._entry_listing(entry)
        ordered = sorted(items.values(), key=lambda item: item.get("created") or "", reverse=True)
        return ordered[:limit]

    def _entry_listing(self, entry: JobEntry) -> dict[str, Any]:
        if entry.listing is not None:
            return entry.listing
        snapshot = entry.job.snapshot(since=0)
        item = listing_item(
            {
                "id": entry.id,
                "state": entry.state,
                "card": entry.card_label,
                "workspace": entry.workspace_label,
                "created": entry.created,
                "started": entry.started,
                "finished": entry.finished,
                "error": entry.error,
                "total": snapshot.get("total"),
                "processed": snapshot.get("processed"),
                "summary": snapshot.get("summary"),
                "options": entry.options,
            }
        )
        if entry.final_written:
            entry.listing = item
        return item

    # ------------------------------------------------------------------
    # Presenting engine documents

    def _present(self, entry: JobEntry, snapshot: dict[str, Any]) -> dict[str, Any]:
        """Replace engine paths and states with what clients should see."""
        snapshot = _strip_secrets(snapshot)
        snapshot.update(
            {
                "id": entry.id,
                "state": entry.state,
                "error": entry.error,
                "card": entry.card_label,
                "workspace": entry.workspace_label,
                "created": entry.created,
                "started": entry.started,
                "finished": entry.finished,
                "options": entry.options,
            }
        )
        return self._guard_document(entry, snapshot)

    def _present_report(self, entry: JobEntry | None, report: dict[str, Any]) -> dict[str, Any]:
        report = _strip_secrets(report)
        if entry is None:
            return report
        report["card"] = entry.card_label
        report["workspace"] = entry.workspace_label
        if "state" in report:
            report["state"] = entry.final_state()
            report["error"] = entry.error or report.get("error")
        return self._guard_document(entry, report)

    def _guard_document(self, entry: JobEntry, document: dict[str, Any]) -> dict[str, Any]:
        """Drop notebooks and evidence that resolve outside the server root.

        The engine skips symlinks that leave the workspace; this is a second
        check at the server boundary so that no such value reaches a client.
        """
        notebooks = document.get("notebooks")
        if isinstance(notebooks, list):
            document["notebooks"] = [
                item
                for item in notebooks
                if not isinstance(item, dict) or self._notebook_allowed(entry, item)
            ]
        claims = document.get("claims")
        if isinstance(claims, list):
            for claim in claims:
                if isinstance(claim, dict) and isinstance(claim.get("evidence"), list):
                    claim["evidence"] = self._guard_evidence(entry, claim["evidence"])
        return document

    def _guard_event(self, entry: JobEntry, event: dict[str, Any]) -> dict[str, Any] | None:
        if event.get("type") == "notebook" and not self._notebook_allowed(entry, event):
            return None
        if isinstance(event.get("evidence"), list):
            event["evidence"] = self._guard_evidence(entry, event["evidence"])
        return event

    def _notebook_allowed(self, entry: JobEntry, item: dict[str, Any]) -> bool:
        # A skipped entry carries only its name and the reason, such as
        # "outside workspace (symlink)", which the user should see.
        return item.get("status") == "skipped" or self._inside_root(entry, item.get("path"))

    def _guard_evidence(self, entry: JobEntry, evidence: list[Any]) -> list[Any]:
        return [
            item
            for item in evidence
            if not isinstance(item, dict) or self._inside_root(entry, item.get("notebook"))
        ]

    def _inside_root(self, entry: JobEntry, relative: Any) -> bool:
        """Return False when a workspace-relative notebook path resolves outside the root."""
        if not isinstance(relative, str) or not relative:
            return True
        checks = self._path_checks.setdefault(entry.id, {})
        if relative not in checks:
            real = os.path.realpath(os.path.join(entry.workspace_real, relative))
            inside = os.path.commonpath([self.root_real, real]) == self.root_real
            if not inside:
                self.log.warning(
                    "CardCheck job %s: dropped the results of a notebook outside the server root",
                    entry.id,
                )
            checks[relative] = inside
        return checks[relative]

    # ------------------------------------------------------------------
    # Records on disk

    def _build_record(self, entry: JobEntry) -> dict[str, Any]:
        snapshot = self._present(entry, entry.job.snapshot(since=0))
        return {
            "format": RECORD_FORMAT,
            "id": entry.id,
            "state": entry.final_state(),
            "card": entry.card_label,
            "workspace": entry.workspace_label,
            "options": entry.options,
            "created": entry.created,
            "started": entry.started,
            "finished": entry.finished,
            "error": entry.error,
            "seq": snapshot.get("seq", 0),
            "total": snapshot.get("total"),
            "processed": snapshot.get("processed"),
            "summary": snapshot.get("summary") or {},
            "notebooks": (
                close_open_notebooks(snapshot.get("notebooks") or [])
                if entry.final_state() in TERMINAL_STATES
                else snapshot.get("notebooks") or []
            ),
            # The report contains the claims, so they are stored here only until it exists.
            "claims": [] if entry.report else snapshot.get("claims") or [],
            "report": self._present_report(entry, entry.report) if entry.report else None,
        }

    def _save_record(self, entry: JobEntry, final: bool = False) -> None:
        """Write the job's record file; a final record is never overwritten."""
        with entry.write_lock:
            if entry.final_written:
                return
            try:
                record = self._build_record(entry)
                self._records.write(entry.id, record)
            except (OSError, TypeError, ValueError) as error:
                self.log.warning(
                    "CardCheck job %s: could not write its record to the reports directory: %s",
                    entry.id,
                    error,
                )
                return
            finally:
                if final:
                    entry.finalized = True
            entry.saved_seq = int(record.get("seq") or 0)
            if final:
                entry.final_written = True

    def _checkpoint_loop(self) -> None:
        """Refresh the records of running jobs so a crash loses little progress."""
        while not self._checkpoint_stop.wait(self.checkpoint_interval):
            with self._lock:
                running = [entry for entry in self._entries.values() if entry.state == "running"]
            for entry in running:
                if entry.current_seq() != entry.saved_seq:
                    self._save_record(entry)

    def _evict_finished(self) -> None:
        """Keep at most ``max_jobs_in_memory`` ended jobs in memory; older ones stay on disk."""
        with self._lock:
            finished = [entry for entry in self._entries.values() if entry.final_written]
            excess = len(finished) - self.max_jobs_in_memory
            if excess <= 0:
                return
            finished.sort(key=lambda entry: entry.finished or "")
            for entry in finished[:excess]:
                self._stored[entry.id] = self._entry_listing(entry)
                del self._entries[entry.id]
                self._path_checks.pop(entry.id, None)

    def _load_stored(self, job_id: str) -> dict[str, Any] | None:
        """Return the record of a job that is not in memory, once recovery has run."""
        self.wait_recovered()
        record = self._records.load(job_id)
        if record is not None and record.get("state") in ACTIVE_STATES:
            # Only an earlier server process can have left an active record behind,
            # and recovery may have failed to rewrite it.
            record["state"] = "interrupted"
            record["error"] = INTERRUPTED_MESSAGE
        return record

    def _recover_records(self) -> None:
        """Load the listing of earlier jobs; runs on an I/O thread at start."""
        stored = self._records.recover()
        with self._lock:
            for job_id, item in stored.items():
                if job_id not in self._entries:
                    self._stored[job_id] = item
