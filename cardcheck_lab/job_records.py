"""Job records of the CardCheck server: one JSON file per job in the reports folder.

A record is written when a job is queued, rewritten while it runs and once more
with the report when it ends. Each write goes through a temporary file and
``os.replace``, so a reader sees the old record or the new one, never a mix.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

# Version of the record files' layout.
RECORD_FORMAT = 1

ACTIVE_STATES = frozenset({"queued", "running"})
TERMINAL_STATES = frozenset({"done", "failed", "cancelled", "interrupted"})

JOB_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")

INTERRUPTED_MESSAGE = (
    "The Jupyter server stopped before this job finished. The notebooks listed as "
    "done were read; start the job again for a complete report."
)


def utc_now() -> str:
    """Return the current UTC time as an ISO 8601 string with milliseconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def listing_item(record: dict[str, Any]) -> dict[str, Any]:
    """Return the fields of a job record that ``GET jobs`` lists."""
    return {
        "id": record.get("id"),
        "state": record.get("state"),
        "card": record.get("card"),
        "workspace": record.get("workspace"),
        "created": record.get("created"),
        "started": record.get("started"),
        "finished": record.get("finished"),
        "error": record.get("error"),
        "total": record.get("total"),
        "processed": record.get("processed"),
        "summary": record.get("summary") or {},
        "options": record.get("options") or {},
    }


def snapshot_from_record(record: dict[str, Any], since: int) -> dict[str, Any]:
    """Build a job snapshot from a stored record, as ``GET jobs/{id}`` returns it.

    The record keeps no per-entry event numbers, so a ``since`` below the
    record's last event returns every notebook and claim.
    """
    seq = int(record.get("seq") or 0)
    changed = since < seq
    report = record.get("report") if isinstance(record.get("report"), dict) else {}
    claims = report.get("claims") or record.get("claims") or []
    return {
        "id": record.get("id"),
        "state": record.get("state"),
        "seq": seq,
        "error": record.get("error"),
        "total": record.get("total"),
        "processed": record.get("processed"),
        "card": record.get("card"),
        "workspace": record.get("workspace"),
        "created": record.get("created"),
        "started": record.get("started"),
        "finished": record.get("finished"),
        "options": record.get("options") or {},
        "notebooks": list(record.get("notebooks") or []) if changed else [],
        "claims": list(claims) if changed else [],
        "summary": record.get("summary") or report.get("summary") or {},
    }


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Write JSON to ``path`` through a temporary file in the same folder and ``os.replace``."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, ensure_ascii=False, separators=(",", ":"))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise


def close_open_notebooks(notebooks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark notebooks still queued or running in an ended job as cancelled."""
    closed = []
    for notebook in notebooks:
        if isinstance(notebook, dict) and notebook.get("status") in ("queued", "running"):
            notebook = {
                **notebook,
                "status": "cancelled",
                "error": "the job ended before this notebook was read",
            }
        closed.append(notebook)
    return closed


class RecordStore:
    """Read, write, recover and prune the job records in one folder."""

    def __init__(self, folder: str | os.PathLike[str], max_records: int, log: logging.Logger):
        self.folder = Path(folder)
        self.max_records = max(1, int(max_records))
        self.log = log

    def path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def write(self, job_id: str, record: dict[str, Any]) -> None:
        """Write a record; raises OSError, TypeError or ValueError on failure."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_json_atomic(self.path(job_id), record)

    def load(self, job_id: str) -> dict[str, Any] | None:
        """Return a stored record, or None when it is missing or unreadable."""
        if not JOB_ID_PATTERN.match(job_id):
            return None
        path = self.path(job_id)
        try:
            with open(path, encoding="utf-8") as stream:
                record = json.load(stream)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            self.log.warning("CardCheck: job record %s is unreadable: %s", path.name, error)
            return None
        return record if isinstance(record, dict) else None

    def recover(self) -> dict[str, dict[str, Any]]:
        """Return the listing items of the stored jobs, after cleaning up.

        Marks records left queued or running by a stopped server as interrupted,
        deletes temporary files of cut-off writes, and prunes the oldest records
        beyond ``max_records``.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            names = os.listdir(self.folder)
        except OSError as error:
            self.log.warning("CardCheck: cannot use the reports directory: %s", error)
            return {}

        stored: dict[str, dict[str, Any]] = {}
        interrupted = 0
        for name in names:
            if name.startswith(".") and name.endswith(".tmp"):
                # A write cut off by a crash; the record it was replacing is intact.
                self._delete(self.folder / name)
                continue
            stem, suffix = os.path.splitext(name)
            if suffix != ".json" or not JOB_ID_PATTERN.match(stem):
                continue
            record = self.load(stem)
            if record is None:
                continue
            if record.get("state") in ACTIVE_STATES:
                self._mark_interrupted(stem, record)
                interrupted += 1
            stored[stem] = listing_item(record)

        pruned = self.prune(stored)
        self.log.debug(
            "CardCheck: loaded %d job record(s), %d marked interrupted, %d pruned",
            len(stored),
            interrupted,
            pruned,
        )
        return stored

    def prune(self, stored: dict[str, dict[str, Any]]) -> int:
        """Delete the oldest records beyond ``max_records`` from disk and ``stored``.

        Returns how many were deleted.
        """
        excess = len(stored) - self.max_records
        if excess <= 0:
            return 0
        oldest = sorted(stored.values(), key=lambda item: item.get("created") or "")[:excess]
        removed = 0
        for item in oldest:
            job_id = str(item["id"])
            if self._delete(self.path(job_id)):
                del stored[job_id]
                removed += 1
        return removed

    def _mark_interrupted(self, job_id: str, record: dict[str, Any]) -> None:
        record["state"] = "interrupted"
        record["error"] = INTERRUPTED_MESSAGE
        record["notebooks"] = close_open_notebooks(list(record.get("notebooks") or []))
        record["finished"] = record.get("finished") or utc_now()
        try:
            write_json_atomic(self.path(job_id), record)
        except OSError as error:
            self.log.warning("CardCheck: could not update job record %s: %s", job_id, error)

    def _delete(self, path: Path) -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return True
        except OSError as error:
            self.log.warning("CardCheck: could not delete %s: %s", path.name, error)
            return False
        return True
