"""SQLite cache of LLM extraction results, so unchanged notebooks cost no requests.

Entries are keyed by a hash of the prompt version, provider, base URL, model,
output-token limit, the notebook's content hash and everything the requests
would send. Only the extracted evidence is stored: never the API key, and never
the prompts themselves.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..model import Evidence, Interval, Spread

log = logging.getLogger("cardcheck_lab.llm")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_results (
    key TEXT PRIMARY KEY,
    prompt_version TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    notebook_hash TEXT NOT NULL,
    created REAL NOT NULL,
    payload TEXT NOT NULL
)
"""


class ResultCache:
    """Extraction results in one SQLite file in WAL mode, safe to use from many threads.

    The threads share one connection behind a lock: each statement takes well
    under a millisecond, and reopening the file for every statement would make
    SQLite checkpoint the WAL on every close. Other processes may use the same
    file at once. A cache that cannot be opened or written is logged and then
    skipped, because the extraction itself does not depend on it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            connection.execute("PRAGMA busy_timeout = 30000")
            connection.execute("PRAGMA journal_mode = WAL")
            # In WAL mode, NORMAL skips the fsync on every commit. A crash can lose the newest
            # entries, which are then extracted again, but it cannot corrupt the file.
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(_SCHEMA)
            connection.commit()
            self._connection = connection
        except (OSError, sqlite3.Error) as error:
            log.warning("LLM cache %s is not usable, continuing without it: %s", self.path, error)

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the stored payload for ``key``, or None."""
        if self._connection is None:
            return None
        try:
            with self._lock:
                row = self._connection.execute(
                    "SELECT payload FROM llm_results WHERE key = ?", (key,)
                ).fetchone()
        except sqlite3.Error as error:
            log.warning(
                "LLM cache %s could not be read, continuing without it: %s", self.path, error
            )
            return None
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except json.JSONDecodeError:
            log.warning(
                "LLM cache entry %s in %s is not valid JSON; ignoring it", key[:12], self.path
            )
            return None

    def put(
        self,
        key: str,
        payload: dict[str, Any],
        *,
        prompt_version: str,
        provider: str,
        model: str,
        notebook_hash: str,
    ) -> None:
        """Store ``payload`` under ``key``, replacing any older entry."""
        if self._connection is None:
            return
        try:
            with self._lock:
                self._connection.execute(
                    "INSERT OR REPLACE INTO llm_results "
                    "(key, prompt_version, provider, model, notebook_hash, created, payload) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        prompt_version,
                        provider,
                        model,
                        notebook_hash,
                        time.time(),
                        json.dumps(payload),
                    ),
                )
                self._connection.commit()
        except sqlite3.Error as error:
            log.warning(
                "LLM cache %s could not be written, continuing without it: %s", self.path, error
            )

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __del__(self) -> None:
        connection = getattr(self, "_connection", None)
        if connection is not None:
            connection.close()


def evidence_to_payload(evidence: list[Evidence], rejected: int, note: str) -> dict[str, Any]:
    return {"evidence": [asdict(item) for item in evidence], "rejected": rejected, "note": note}


def evidence_from_payload(payload: dict[str, Any], notebook: str) -> list[Evidence]:
    """Rebuild stored evidence, naming the notebook by its current path."""
    items = []
    for data in payload.get("evidence", []):
        data = dict(data)
        data["notebook"] = notebook
        if data.get("spread") is not None:
            data["spread"] = Spread(**data["spread"])
        if data.get("interval") is not None:
            data["interval"] = Interval(**data["interval"])
        items.append(Evidence(**data))
    return items
