"""Run one verification job: one card against the notebooks of one workspace.

Notebooks are read in a thread pool, each in its own task, so one notebook's
failure never stops the others. Every state change is an event with a sequence
number; the CLI's progress, the server's poll and its event stream all read
the same events.

A rules-only job first takes every unchanged notebook from the cache
(``cache.py``). Its threads then hand the other notebooks to worker processes
(``scan.py``), min(CPU count, notebooks) of them, once those notebooks add up
to ``scan.PROCESS_MIN_BYTES``. ``workers`` stays the number of threads, so it
also bounds how many notebooks are in flight. With an LLM extractor, or when
the engine's functions have been replaced (as tests do), notebooks are read on
the threads and nothing is cached.
"""

from __future__ import annotations

import logging
import os
import posixpath
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import scan
from .cache import open_cache
from .card import parse_card
from .compare import compare
from .errors import InputError
from .extract_rules import extract_rules
from .model import Claim, Evidence, NotebookResult, Verdict
from .notebooks import NotebookError, discover_notebooks
from .scan import read_notebook

log = logging.getLogger("cardcheck_lab")

DEFAULT_WORKERS = 5
# Verdicts are recomputed while notebooks finish, at most this often (seconds),
# and once more at the end.
_VERDICT_REFRESH = 0.5
# A refresh also waits this many times as long as the last comparison took, so
# that comparing a large workspace's evidence does not crowd out reading it.
_VERDICT_REFRESH_COST = 20
_STOCK_ENGINE = (read_notebook, extract_rules)


@dataclass
class JobOptions:
    """Settings of one job."""

    workers: int = DEFAULT_WORKERS
    provider: str = "none"
    model: str = ""
    base_url: str = ""
    api_key: str | None = field(default=None, repr=False)
    notebooks: list[str] | None = None  # workspace-relative paths; None means every notebook
    llm: Any = None  # an LLMSettings when an LLM extractor is configured
    use_cache: bool = True  # reuse results of unchanged notebooks (rules-only jobs)
    cache_dir: str | None = None  # None means cache.default_cache_dir()

    def public(self) -> dict[str, Any]:
        """Return the options for the report, without the API key."""
        return {
            "provider": self.provider,
            "model": self.model,
            "base_url": self.base_url,
            "workers": self.workers,
            "notebooks": list(self.notebooks) if self.notebooks is not None else None,
        }


def read_card(path: Path, label: str = "") -> str:
    """Read a model card as UTF-8 text; raise InputError with the reason when it cannot.

    Messages name the card by ``label`` (the path the user gave), so a server
    never shows its own absolute paths.
    """
    name = label or str(path)
    if not path.exists():
        raise InputError(f"model card not found: {name}")
    if not path.is_file():
        raise InputError(f"model card is not a file: {name}")
    if path.suffix.lower() == ".ipynb":
        raise InputError(f"{name} is a notebook; give the model card's Markdown file")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"model card is not UTF-8 (byte offset {error.start}): {name}") from None
    except OSError as error:
        raise InputError(f"cannot read model card {name}: {error.strerror}") from None


def load_claims(card_text: str, card_label: str) -> list[Claim]:
    claims = parse_card(card_text)
    if not claims:
        raise InputError(
            f"no metric claims found in {card_label}: the card states no number next to a "
            "metric name (such as 'ROC-AUC 0.81' or a metrics table)"
        )
    return claims


def process_notebook(
    workspace: Path, relative: str, cancel: threading.Event, llm=None, claims=None
) -> NotebookResult:
    """Read one notebook and extract its evidence; never raises for a bad notebook."""
    return check_notebook(
        relative, cancel, lambda: read_notebook(workspace / relative, relative), llm, claims
    )


def check_notebook(
    relative: str, cancel: threading.Event, read: Callable[[], Any], llm=None, claims=None
) -> NotebookResult:
    """Extract the evidence of the document that ``read()`` returns.

    Never raises for a bad notebook: its result is "failed" with the reason.
    """
    started = time.perf_counter()
    result = NotebookResult(path=relative, status="done")
    try:
        if cancel.is_set():
            result.status = "cancelled"
            return result
        doc = read()
        result.warnings = doc.warnings
        result.evidence = extract_rules(doc)
        if llm is not None and not cancel.is_set():
            _add_llm_evidence(result, llm, doc, claims or [], cancel)
    except NotebookError as error:
        result.status = "failed"
        result.error = str(error)
    except Exception as error:  # one notebook's bug must not stop the job
        log.exception("Unexpected error while reading %s", relative)
        result.status = "failed"
        result.error = f"internal error: {type(error).__name__}: {error}"
    result.seconds = time.perf_counter() - started
    return result


def _add_llm_evidence(
    result: NotebookResult, llm, doc, claims: list[Claim], cancel: threading.Event
) -> None:
    from .llm import merge_evidence

    outcome = llm.extract(doc, claims, cancel)
    if outcome.note:
        result.notes.append(outcome.note)
    if outcome.rejected:
        result.notes.append(
            f"LLM values rejected as not found in the cited output: {outcome.rejected}"
        )
    result.evidence = merge_evidence(result.evidence, outcome.evidence)


class Job:
    """One card checked against one workspace, with its events and results."""

    def __init__(
        self,
        workspace: Path,
        card_path: Path | None = None,
        card_text: str | None = None,
        card_label: str = "",
        options: JobOptions | None = None,
        allow_hidden: bool = False,
    ) -> None:
        if card_path is None and card_text is None:
            raise InputError("give a model card path or the card's text")
        self.id = uuid.uuid4().hex
        self.workspace = Path(workspace)
        self.card_path = Path(card_path) if card_path is not None else None
        self.card_text = card_text
        self.card_label = card_label or (str(card_path) if card_path else "card text")
        self.options = options or JobOptions()
        self.allow_hidden = allow_hidden

        self.state = "queued"
        self.error = ""
        self.message = ""
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None

        self.claims: list[Claim] = []
        self.verdicts: list[Verdict] = []
        self.results: dict[str, NotebookResult] = {}
        self.order: list[str] = []

        self._cancel = threading.Event()
        self._condition = threading.Condition()
        self._events: list[dict[str, Any]] = []
        self._notebook_seq: dict[str, int] = {}
        self._claim_seq: dict[str, int] = {}
        self._cache = None  # a cache.NotebookCache while a rules-only job runs
        self._payload_digests: dict[str, str] = {}  # path -> digest of its cached result
        self._compare_seconds = 0.0
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    # --- events ------------------------------------------------------------

    @property
    def seq(self) -> int:
        with self._condition:
            return len(self._events)

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` with every event from now on (from the emitting thread)."""
        self._listeners.append(listener)

    def _emit(self, event: dict[str, Any]) -> None:
        with self._condition:
            event["seq"] = len(self._events) + 1
            self._events.append(event)
            if event["type"] == "notebook":
                self._notebook_seq[event["path"]] = event["seq"]
            elif event["type"] == "claim":
                self._claim_seq[event["id"]] = event["seq"]
            self._condition.notify_all()
        for listener in self._listeners:
            listener(event)

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        with self._condition:
            return [dict(event) for event in self._events[since:]]

    def wait(self, after_seq: int, timeout: float) -> bool:
        """Block until an event newer than ``after_seq`` exists or ``timeout`` passes."""
        with self._condition:
            return self._condition.wait_for(lambda: len(self._events) > after_seq, timeout)

    @property
    def ended(self) -> bool:
        return self.state in ("done", "failed", "cancelled", "interrupted")

    def cancel(self) -> None:
        """Ask the job to stop; notebooks not yet started are marked cancelled."""
        self._cancel.set()

    # --- snapshots ---------------------------------------------------------

    def snapshot(self, since: int = 0) -> dict[str, Any]:
        """Return the job's state; with ``since``, only notebooks and claims changed after it."""
        with self._condition:
            seq = len(self._events)
            notebooks = [
                self._notebook_entry(path)
                for path in self.order
                if self._notebook_seq.get(path, 0) > since
            ]
            verdicts = {verdict.claim.id: verdict for verdict in self.verdicts}
            claims = [
                verdicts[claim.id].to_dict() if claim.id in verdicts else _pending_claim(claim)
                for claim in self.claims
                if self._claim_seq.get(claim.id, 0) > since
            ]
            processed = sum(
                1
                for r in self.results.values()
                if r.status in ("done", "failed", "skipped", "cancelled")
            )
            return {
                "id": self.id,
                "state": self.state,
                "seq": seq,
                "error": self.error,
                "message": self.message,
                "total": len(self.order),
                "processed": processed,
                "card": self.card_label,
                "workspace": str(self.workspace),
                "notebooks": notebooks,
                "claims": claims,
                "summary": self._summary(),
            }

    def _notebook_entry(self, path: str) -> dict[str, Any]:
        return self.results[path].summary_dict()

    def _summary(self) -> dict[str, Any]:
        from .report import summary_counts

        return summary_counts(self.verdicts, list(self.results.values()))

    def report(self) -> dict[str, Any]:
        from .report import build_report

        with self._condition:
            return build_report(self)

    # --- running -----------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run the whole job in the calling thread; return the report.

        Bad input (no card, no claims, no workspace) ends the job as ``failed``
        with ``error`` set; it is not raised.
        """
        self.started = time.time()
        self._set_state("running")
        try:
            self._prepare()
        except InputError as error:
            self.error = str(error)
            self.finished = time.time()
            self._set_state("failed", error=self.error)
            return self.report()

        try:
            self._process_all()
            self._final_verdicts()
        finally:
            if self._cache is not None:
                self._cache.close()
                self._cache = None
        self.finished = time.time()

        evidence_count = sum(len(r.evidence) for r in self.results.values())
        read = sum(1 for r in self.results.values() if r.status in ("done", "failed"))
        failed = sum(1 for r in self.results.values() if r.status == "failed")
        self.message = f"Extracted {evidence_count} metrics from {read} notebooks ({failed} failed)"
        self._set_state("cancelled" if self._cancel.is_set() else "done", message=self.message)
        return self.report()

    def _set_state(self, state: str, **extra: Any) -> None:
        self.state = state
        self._emit({"type": "job", "state": state, **extra})

    def _prepare(self) -> None:
        if not self.workspace.is_dir():
            raise InputError(f"workspace folder not found: {self.workspace}")
        card_text = (
            self.card_text
            if self.card_text is not None
            else read_card(self.card_path, self.card_label)
        )
        self.claims = load_claims(card_text, self.card_label)
        for claim in self.claims:
            self._emit({"type": "claim", "id": claim.id, "verdict": None})

        discovery = discover_notebooks(self.workspace, self.allow_hidden)
        selected = discovery.notebooks
        if self.options.notebooks is not None:
            # "./a.ipynb" and "dir\\a.ipynb" name the same notebooks as discovery's paths.
            requested = [
                posixpath.normpath(path.replace("\\", "/")) for path in self.options.notebooks
            ]
            unknown = [path for path in requested if path not in selected]
            if unknown:
                raise InputError(f"notebook not found in the workspace: {unknown[0]}")
            selected = [path for path in selected if path in requested]

        with self._condition:
            self.order = list(selected)
            for path in selected:
                self.results[path] = NotebookResult(path=path, status="queued")
            for path, reason in discovery.skipped:
                if self.options.notebooks is None:
                    self.order.append(path)
                    self.results[path] = NotebookResult(path=path, status="skipped", error=reason)
        for path in self.order:
            result = self.results[path]
            self._emit(
                {"type": "notebook", "path": path, "status": result.status, "error": result.error}
            )

    def _process_all(self) -> None:
        pending_paths = [path for path in self.order if self.results[path].status == "queued"]
        total = len(self.order)
        done_count = total - len(pending_paths)
        llm = self._make_llm()
        fast = llm is None and _engine_is_stock()
        if fast and self.options.use_cache:
            self._cache = open_cache(self.options.cache_dir, self.workspace)
        if self._cache is not None:
            pending_paths, done_count = self._take_cached(pending_paths, done_count, total)
        processes = scan.process_count(pending_paths, self.workspace) if fast else 0
        worker_pool = scan.WorkerPool(processes) if processes else None
        if worker_pool is not None:
            pending_paths = scan.largest_first(pending_paths, self.workspace)
        try:
            self._read_all(pending_paths, done_count, total, llm, fast, worker_pool)
        finally:
            if worker_pool is not None:
                worker_pool.close(cancelled=self._cancel.is_set())

    def _take_cached(self, paths: list[str], done_count: int, total: int) -> tuple[list[str], int]:
        """Finish every notebook whose cached result is still valid, and return the other paths."""
        misses = []
        for path in paths:
            hit = None if self._cancel.is_set() else self._cache.lookup(path, self.workspace / path)
            if hit is None:
                misses.append(path)
                continue
            self._payload_digests[path] = hit.payload_digest
            with self._condition:
                self.results[path].status = "running"
            self._emit({"type": "notebook", "path": path, "status": "running"})
            done_count += 1
            self._finish(path, hit.result, done_count, total)
        return misses, done_count

    def _read_all(self, pending_paths, done_count, total, llm, fast, worker_pool) -> None:
        last_refresh = time.monotonic()
        workers = max(1, int(self.options.workers))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cardcheck") as pool:
            futures: dict[Future, str] = {}
            for path in pending_paths:
                future = pool.submit(self._run_one, path, llm, fast, worker_pool)
                futures[future] = path

            outstanding = set(futures)
            while outstanding:
                finished, outstanding = wait(outstanding, timeout=0.2, return_when=FIRST_COMPLETED)
                if self._cancel.is_set():
                    if worker_pool is not None:
                        worker_pool.stop()
                    for future in list(outstanding):
                        if future.cancel():
                            outstanding.discard(future)
                            self._finish(
                                futures[future],
                                NotebookResult(futures[future], "cancelled"),
                                done_count,
                                total,
                            )
                            done_count += 1
                for future in finished:
                    if future.cancelled():
                        continue
                    done_count += 1
                    self._finish(futures[future], future.result(), done_count, total)
                interval = max(_VERDICT_REFRESH, _VERDICT_REFRESH_COST * self._compare_seconds)
                if finished and time.monotonic() - last_refresh > interval:
                    self._refresh_verdicts()
                    last_refresh = time.monotonic()

    def _run_one(self, path: str, llm, fast: bool = False, worker_pool=None) -> NotebookResult:
        with self._condition:
            self.results[path].status = "running"
        self._emit({"type": "notebook", "path": path, "status": "running"})
        if not fast:
            return process_notebook(self.workspace, path, self._cancel, llm, self.claims)
        if self._cancel.is_set():
            return NotebookResult(path=path, status="cancelled")
        outcome = worker_pool.run(self.workspace, path, self._cancel) if worker_pool else None
        if outcome is None:
            outcome = scan.work(str(self.workspace), path)
        if self._cache is not None and outcome.cacheable:
            self._payload_digests[path] = self._cache.store(path, outcome.stamp, outcome.payload)
        return outcome.decoded()

    def _finish(self, path: str, result: NotebookResult, index: int, total: int) -> None:
        with self._condition:
            self.results[path] = result
        self._emit(
            {
                "type": "notebook",
                "path": path,
                "status": result.status,
                "error": result.error,
                "notes": list(result.notes),
                "seconds": round(result.seconds, 4),
                "index": index,
                "total": total,
                "evidence_count": len(result.evidence),
            }
        )

    def _make_llm(self):
        if self.options.llm is None or getattr(self.options.llm, "provider", "none") == "none":
            return None
        from .llm import LLMExtractor

        return LLMExtractor(self.options.llm)

    def evidence(self) -> list[Evidence]:
        with self._condition:
            results = [self.results[path] for path in self.order if path in self.results]
        return [item for result in results for item in result.evidence]

    def _refresh_verdicts(self) -> None:
        started = time.perf_counter()
        verdicts = compare(self.claims, self.evidence())
        self._compare_seconds = time.perf_counter() - started
        self._apply_verdicts(verdicts)

    def _final_verdicts(self) -> None:
        """Decide every claim, reusing the verdicts of a cached run on exactly the same results."""
        key = self._verdicts_key()
        cached = self._cache.load_verdicts(key) if key else None
        if cached is not None:
            self._apply_verdicts(cached)
            return
        self._refresh_verdicts()
        if key:
            self._cache.store_verdicts(key, self.verdicts)

    def _verdicts_key(self) -> str | None:
        if self._cache is None or self._cancel.is_set():
            return None
        parts = []
        for path in self.order:
            result = self.results[path]
            if result.status == "skipped":
                parts.append(f"{path}\0skipped\0{result.error}")
            elif path in self._payload_digests:
                parts.append(f"{path}\0{self._payload_digests[path]}")
            else:
                return None
        return self._cache.verdicts_key(self.claims, parts)

    def _apply_verdicts(self, verdicts: list[Verdict]) -> None:
        with self._condition:
            previous = {v.claim.id: (v.verdict, v.reason) for v in self.verdicts}
            self.verdicts = verdicts
        for verdict in verdicts:
            if previous.get(verdict.claim.id) != (verdict.verdict, verdict.reason):
                self._emit({"type": "claim", "id": verdict.claim.id, "verdict": verdict.verdict})


def _engine_is_stock() -> bool:
    """Return False when read_notebook or extract_rules was replaced (tests do this)."""
    return read_notebook is _STOCK_ENGINE[0] and extract_rules is _STOCK_ENGINE[1]


def _pending_claim(claim: Claim) -> dict[str, Any]:
    data = claim.to_dict()
    data.update({"verdict": None, "reason": "not decided yet", "evidence": []})
    return data


def resolve_workers(value: int | None) -> int:
    if value is None:
        return DEFAULT_WORKERS
    if value < 1:
        raise InputError(f"workers must be at least 1, got {value}")
    return min(value, max(32, (os.cpu_count() or 1) * 8))
