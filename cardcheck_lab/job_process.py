"""Run one engine job in a child Python process and mirror its state in the server.

The engine reads and parses notebooks with CPU-bound Python in a thread pool.
Inside the Jupyter server process those threads compete with the event loop for
the GIL, so every other request slows down while a large job runs. A child
process has its own interpreter and GIL; the server only copies the job's events
and snapshots.

Protocol, one JSON document per line:

- parent to child (stdin): the job request, then ``"cancel"`` to stop the job.
  End of input also cancels, so a child never outlives a killed server.
- child to parent (stdout): ``{"kind": "update", "events": [...], "snapshot": {...}}``
  while the job runs, then ``{"kind": "end", "report": {...} | null, "error": str}``.

The child's stderr is the server's, so engine warnings appear in the server log.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from .jobs import EngineAdapter, JobRequest

# Seconds the child waits after sending an update, so that a burst of events
# travels as one message instead of hundreds.
UPDATE_INTERVAL = 0.05

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)

# Snapshot keys that the mirror keeps itself; every other key is copied as sent.
_MIRRORED_SEPARATELY = frozenset(
    {"id", "state", "seq", "error", "card", "workspace", "notebooks", "claims"}
)


def request_to_json(request: JobRequest, job_id: str) -> str:
    """Serialise a request for the child, API key included; the text goes only to its stdin."""
    return json.dumps(
        {
            "id": job_id,
            "workspace": str(request.workspace),
            "workspace_label": request.workspace_label,
            "card_path": str(request.card_path) if request.card_path else None,
            "card_text": request.card_text,
            "card_label": request.card_label,
            "notebooks": request.notebooks,
            "provider": request.provider,
            "model": request.model,
            "base_url": request.base_url,
            "workers": request.workers,
            "allow_hidden": request.allow_hidden,
            "api_key": request.api_key,
            "api_key_env": request.api_key_env,
            "cache_dir": str(request.cache_dir) if request.cache_dir else None,
        }
    )


def request_from_json(text: str) -> tuple[JobRequest, str]:
    data = json.loads(text)
    request = JobRequest(
        workspace=Path(data["workspace"]),
        workspace_label=data["workspace_label"],
        card_path=Path(data["card_path"]) if data["card_path"] else None,
        card_text=data["card_text"],
        card_label=data["card_label"],
        notebooks=data["notebooks"],
        provider=data["provider"],
        model=data["model"],
        base_url=data["base_url"],
        workers=int(data["workers"]),
        allow_hidden=bool(data["allow_hidden"]),
        api_key=data["api_key"],
        api_key_env=data["api_key_env"],
        cache_dir=Path(data["cache_dir"]) if data["cache_dir"] else None,
    )
    return request, str(data["id"])


class ProcessJob:
    """The server-side mirror of a job that runs in a child process.

    It offers the engine Job's interface (``id``, ``state``, ``seq``, ``run``,
    ``cancel``, ``snapshot``, ``events``, ``wait``, ``report``, ``subscribe``)
    so the job manager treats both alike. ``run`` blocks its calling thread
    while it reads the child's output.
    """

    def __init__(self, request: JobRequest, job_id: str, log: logging.Logger) -> None:
        self.id = job_id
        self.workspace = request.workspace
        self.card_label = request.card_label
        self.state = "queued"
        self.error = ""
        self._request = request
        self._log = log
        self._condition = threading.Condition()
        self._events: list[dict[str, Any]] = []
        # Latest entry of each notebook and claim, with the event number at which
        # the child reported it. That number can be a little later than the change
        # itself, so a ``since`` query may repeat an entry but never misses one.
        self._notebooks: dict[str, tuple[int, dict[str, Any]]] = {}
        self._claims: dict[str, tuple[int, dict[str, Any]]] = {}
        self._scalars: dict[str, Any] = {}
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._report: dict[str, Any] | None = None
        self._process: subprocess.Popen[str] | None = None
        self._stdin_lock = threading.Lock()
        self._cancel_requested = False

    # --- the engine Job interface -------------------------------------------

    @property
    def seq(self) -> int:
        with self._condition:
            return len(self._events)

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.append(listener)

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        with self._condition:
            return [dict(event) for event in self._events[since:]]

    def wait(self, after_seq: int, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: len(self._events) > after_seq, timeout)

    def snapshot(self, since: int = 0) -> dict[str, Any]:
        with self._condition:
            snapshot: dict[str, Any] = {"message": "", "total": 0, "processed": 0, "summary": {}}
            # A JSON round trip copies nested values, so callers can change the result.
            snapshot.update(json.loads(json.dumps(self._scalars)))
            snapshot.update(
                {
                    "id": self.id,
                    "state": self.state,
                    "seq": len(self._events),
                    "error": self.error,
                    "card": self.card_label,
                    "workspace": str(self.workspace),
                    "notebooks": [
                        dict(entry) for seq, entry in self._notebooks.values() if seq > since
                    ],
                    "claims": [dict(entry) for seq, entry in self._claims.values() if seq > since],
                }
            )
            return snapshot

    def report(self) -> dict[str, Any] | None:
        return self._report

    def cancel(self) -> None:
        """Ask the child to stop; a job that has not started will not start."""
        self._cancel_requested = True
        self._send_line("cancel")

    def kill(self) -> None:
        """End the child process at once, for a shutdown that cannot wait longer."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def run(self) -> dict[str, Any] | None:
        """Start the child, mirror its updates until it exits, and return the report."""
        if self._cancel_requested:
            self._set_final("cancelled", "")
            return None
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (_PACKAGE_PARENT, environment.get("PYTHONPATH")) if part
        )
        self._process = subprocess.Popen(
            [sys.executable, "-m", "cardcheck_lab.job_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            env=environment,
            text=True,
            encoding="utf-8",
        )
        self._send_line(request_to_json(self._request, self.id))
        if self._cancel_requested:
            self._send_line("cancel")

        ended = False
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                self._log.warning("CardCheck job %s: unreadable line from its process", self.id)
                continue
            if message.get("kind") == "update":
                self._apply_update(message)
            elif message.get("kind") == "end":
                self._report = message.get("report")
                if message.get("error"):
                    self._set_final("failed", str(message["error"]))
                ended = True
        code = self._process.wait()
        if not ended:
            self._set_final(
                "failed",
                f"The job's worker process exited with code {code} before the job ended; "
                "see the Jupyter server log.",
            )
        return self._report

    # --- helpers -------------------------------------------------------------

    def _send_line(self, text: str) -> None:
        process = self._process
        if process is None or process.stdin is None:
            return
        with self._stdin_lock:
            try:
                process.stdin.write(text + "\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass  # the child has exited; run() records how

    def _apply_update(self, message: dict[str, Any]) -> None:
        events = message.get("events") or []
        snapshot = message.get("snapshot") or {}
        with self._condition:
            self._events.extend(events)
            marker = int(snapshot.get("seq") or len(self._events))
            for entry in snapshot.get("notebooks") or []:
                self._notebooks[str(entry.get("path"))] = (marker, entry)
            for entry in snapshot.get("claims") or []:
                self._claims[str(entry.get("id"))] = (marker, entry)
            for key, value in snapshot.items():
                if key not in _MIRRORED_SEPARATELY:
                    self._scalars[key] = value
            self.state = str(snapshot.get("state") or self.state)
            self.error = str(snapshot.get("error") or "")
            self._condition.notify_all()
        for event in events:
            for listener in self._listeners:
                listener(event)

    def _set_final(self, state: str, error: str) -> None:
        with self._condition:
            self.state = state
            self.error = error
            self._condition.notify_all()


# --- the child side --------------------------------------------------------------


def _write(stream: TextIO, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message, ensure_ascii=False) + "\n")
    stream.flush()


def _watch_stdin(job: Any) -> None:
    """Cancel the job on a "cancel" line or when the parent closes the pipe."""
    for line in sys.stdin:
        if line.strip() == "cancel":
            break
    job.cancel()


def child_main() -> int:
    """Run the job described on stdin and stream its updates to stdout."""
    logging.basicConfig(
        level=logging.WARNING, format="[%(levelname)1.1s %(asctime)s cardcheck-job] %(message)s"
    )
    output = sys.stdout
    # Engine code that prints must not corrupt the protocol stream.
    sys.stdout = sys.stderr

    line = sys.stdin.readline()
    if not line:
        return 2
    request, job_id = request_from_json(line)
    job = EngineAdapter().create_job(request)
    job.id = job_id
    threading.Thread(target=_watch_stdin, args=(job,), name="cancel-watch", daemon=True).start()

    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = job.run()
        except Exception as error:  # reported to the parent, which records the job as failed
            logging.getLogger("cardcheck_lab").exception("CardCheck job %s crashed", job_id)
            outcome["error"] = (
                f"Internal error in the CardCheck engine ({type(error).__name__}); "
                "see the Jupyter server log for details."
            )

    runner = threading.Thread(target=run, name="cardcheck-run")
    runner.start()

    sent = 0
    while True:
        running = runner.is_alive()
        if running:
            job.wait(sent, 0.5)
        events = job.events(since=sent)
        if events or not running:
            snapshot = job.snapshot(since=sent)
            _write(output, {"kind": "update", "events": events, "snapshot": snapshot})
            sent += len(events)
        if not running and not events:
            break
        if running:
            time.sleep(UPDATE_INTERVAL)

    _write(output, {"kind": "end", "report": outcome.get("report"), "error": outcome.get("error")})
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
