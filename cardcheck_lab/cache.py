"""A per-user cache of notebook results, so unchanged notebooks are not read again.

One SQLite file, ``notebooks.sqlite``, in the cache folder (``--cache-dir``;
by default ``$XDG_CACHE_HOME/cardcheck`` or ``~/.cache/cardcheck``, the folder
that also contains the LLM cache). Two tables:

- ``notebooks``: one row per (workspace, notebook, engine): the file's size,
  modification time and SHA-256, and the rules result (status, error,
  warnings, evidence) encoded as compressed JSON. A notebook whose size and
  mtime match its row is not opened; when they differ, its content is hashed
  and a matching hash still counts. A row written less than
  ``RACY_SECONDS`` after the file was modified is not trusted on size and mtime
  alone (another write may land within the same clock tick), so its next
  lookup hashes the file.
- ``verdicts``: the verdicts of a whole job, keyed by the claims and by every
  notebook result of the job. A run where nothing changed skips the comparison.

``engine`` is a digest of ``CACHE_FORMAT``, the package version and the source
of every engine module, so any change to the engine starts from an empty cache
without anyone having to bump a number.

Every stored value is checked to decode to an equal value before it is
written (a NaN, for one, does not), so a result from the cache is always the
result a fresh read gives. A cache that cannot be opened or written is
logged and skipped; it never fails a job.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import sys
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import orjson

from . import __version__
from .model import Claim, Evidence, Interval, NotebookResult, Spread, Verdict

log = logging.getLogger("cardcheck_lab")

# Bump when the stored layout changes. The engine digest covers everything else.
CACHE_FORMAT = 1
CACHE_FILE = "notebooks.sqlite"
RACY_SECONDS = 2.0
# Rows not used for this long are deleted when a cache is opened.
MAX_AGE_SECONDS = 30 * 24 * 3600
# A hit refreshes its row's "used" time at most this often.
_TOUCH_SECONDS = 24 * 3600
# Modules left out of the engine digest, because their code does not decide results.
_NOT_ENGINE = frozenset(
    {"app.py", "cli.py", "jobs.py", "job_process.py", "job_records.py", "routes.py"}
)


def default_cache_dir() -> Path:
    """Return the per-user cache folder, following each platform's convention."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "cardcheck" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "cardcheck"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cardcheck"


_engine_digest: str | None = None


def engine_fingerprint() -> str:
    """Digest of the cache format, the package version and the engine's source files."""
    global _engine_digest
    if _engine_digest is None:
        digest = hashlib.sha256(f"cardcheck-cache {CACHE_FORMAT} {__version__}\0".encode())
        package = Path(__file__).resolve().parent
        for source in sorted(package.glob("*.py")):
            if source.name in _NOT_ENGINE:
                continue
            digest.update(source.name.encode() + b"\0")
            try:
                digest.update(source.read_bytes())
            except OSError:
                digest.update(b"unreadable")
        _engine_digest = digest.hexdigest()[:32]
    return _engine_digest


# --- encoding -----------------------------------------------------------------

_EVIDENCE_FIELDS = tuple(f.name for f in fields(Evidence))
_CLAIM_FIELDS = tuple(f.name for f in fields(Claim))


def _row(item: Any, names: tuple[str, ...]) -> list[Any]:
    return [getattr(item, name) for name in names]  # orjson writes Spread and Interval as objects


def _evidence(row: list[Any]) -> Evidence:
    item = Evidence(*row)
    if item.spread is not None:
        item.spread = Spread(**item.spread)
    if item.interval is not None:
        item.interval = Interval(**item.interval)
    return item


def _claim(row: list[Any]) -> Claim:
    claim = Claim(*row)
    if claim.spread is not None:
        claim.spread = Spread(**claim.spread)
    if claim.interval is not None:
        claim.interval = Interval(**claim.interval)
    return claim


def _pack(value: Any) -> bytes:
    return zlib.compress(orjson.dumps(value), 1)


def _unpack(payload: bytes) -> Any:
    return orjson.loads(zlib.decompress(payload))


def encode_result(result: NotebookResult) -> bytes:
    """Encode a result without its path and timing, which belong to the run."""
    return _pack(
        [
            result.status,
            result.error,
            result.warnings,
            result.notes,
            [_row(item, _EVIDENCE_FIELDS) for item in result.evidence],
        ]
    )


def decode_result(path: str, payload: bytes, seconds: float = 0.0) -> NotebookResult:
    status, error, warnings, notes, rows = _unpack(payload)
    return NotebookResult(
        path=path,
        status=status,
        error=error,
        warnings=warnings,
        evidence=[_evidence(row) for row in rows],
        seconds=seconds,
        notes=notes,
    )


def encode_result_checked(result: NotebookResult) -> bytes | None:
    """Encode ``result``, or return None when the encoding would not decode to an equal result."""
    try:
        payload = encode_result(result)
        same = decode_result(result.path, payload, result.seconds) == result
    except (TypeError, ValueError, orjson.JSONEncodeError):
        return None
    return payload if same else None


def encode_verdicts(verdicts: list[Verdict]) -> bytes:
    return _pack(
        [
            [
                _row(verdict.claim, _CLAIM_FIELDS),
                verdict.verdict,
                verdict.reason,
                [_row(item, _EVIDENCE_FIELDS) for item in verdict.evidence],
            ]
            for verdict in verdicts
        ]
    )


def decode_verdicts(payload: bytes) -> list[Verdict]:
    return [
        Verdict(_claim(claim), verdict, reason, [_evidence(row) for row in evidence])
        for claim, verdict, reason, evidence in _unpack(payload)
    ]


def encode_claims(claims: list[Claim]) -> bytes | None:
    """Encode claims for a verdicts key, or return None when they would not decode as equal."""
    try:
        payload = orjson.dumps([_row(claim, _CLAIM_FIELDS) for claim in claims])
        same = [_claim(row) for row in orjson.loads(payload)] == claims
    except (TypeError, ValueError, orjson.JSONEncodeError):
        return None
    return payload if same else None


# --- the store ----------------------------------------------------------------


@dataclass
class Hit:
    result: NotebookResult
    payload_digest: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS notebooks (
    workspace TEXT NOT NULL,
    path TEXT NOT NULL,
    engine TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    trusted INTEGER NOT NULL,
    payload BLOB NOT NULL,
    payload_digest TEXT NOT NULL,
    used REAL NOT NULL,
    PRIMARY KEY (workspace, path, engine)
);
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    used REAL NOT NULL
);
"""


class NotebookCache:
    """The cache of one job's workspace.

    It is thread-safe, and every method logs its errors and carries on.
    """

    def __init__(self, directory: Path, workspace: Path) -> None:
        self.directory = Path(directory)
        self.file = self.directory / CACHE_FILE
        self.workspace = os.path.realpath(workspace)
        self.engine = engine_fingerprint()
        self._lock = threading.Lock()
        self._queue: list[tuple[str, tuple]] = []
        self._flushed = time.monotonic()
        self._connection = self._connect()

    def _connect(self) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            return self._open()
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                raise
            log.warning(
                "notebook cache %s is damaged (%s), so it is replaced by an empty one",
                self.file,
                error,
            )
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(f"{self.file}{suffix}")
                except FileNotFoundError:
                    pass
            return self._open()

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.file, timeout=5.0, check_same_thread=False, isolation_level=None
        )
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version != CACHE_FORMAT:
                connection.executescript(
                    "DROP TABLE IF EXISTS notebooks; DROP TABLE IF EXISTS verdicts;"
                )
                connection.execute(f"PRAGMA user_version = {CACHE_FORMAT}")
            connection.executescript(_SCHEMA)
            old = time.time() - MAX_AGE_SECONDS
            connection.execute("DELETE FROM notebooks WHERE used < ?", (old,))
            connection.execute("DELETE FROM verdicts WHERE used < ?", (old,))
        except BaseException:
            connection.close()
            raise
        return connection

    # --- notebooks ----------------------------------------------------------

    def lookup(self, relative: str, path: Path) -> Hit | None:
        """Return the cached result of ``relative`` when the file is unchanged, else None."""
        started = time.perf_counter()
        try:
            status = os.stat(path)
        except OSError:
            return None
        try:
            with self._lock:
                row = self._connection.execute(
                    "SELECT size, mtime_ns, digest, trusted, payload, payload_digest, used "
                    "FROM notebooks "
                    "WHERE workspace = ? AND path = ? AND engine = ?",
                    (self.workspace, relative, self.engine),
                ).fetchone()
        except sqlite3.Error as error:
            log.debug("notebook cache lookup failed for %s: %s", relative, error)
            return None
        if row is None:
            return None
        size, mtime_ns, digest, trusted, payload, payload_digest, used = row
        same_stat = size == status.st_size and mtime_ns == status.st_mtime_ns
        if not (same_stat and trusted):
            if size != status.st_size:
                return None
            from .scan import file_stamp

            stamp = file_stamp(path)
            if stamp is None or stamp.digest != digest:
                return None
            self._write(
                "UPDATE notebooks SET mtime_ns = ?, trusted = ?, used = ? "
                "WHERE workspace = ? AND path = ? AND engine = ?",
                (
                    stamp.mtime_ns,
                    _trusted(stamp.mtime_ns, stamp.read_ns),
                    time.time(),
                    self.workspace,
                    relative,
                    self.engine,
                ),
            )
        elif used < time.time() - _TOUCH_SECONDS:
            self._write(
                "UPDATE notebooks SET used = ? WHERE workspace = ? AND path = ? AND engine = ?",
                (time.time(), self.workspace, relative, self.engine),
            )
        try:
            result = decode_result(relative, payload)
        except (zlib.error, TypeError, ValueError) as error:  # A damaged row is a miss.
            log.debug("notebook cache row for %s does not decode: %s", relative, error)
            return None
        result.seconds = time.perf_counter() - started
        return Hit(result, payload_digest)

    def store(self, relative: str, stamp, payload: bytes) -> str:
        """Store ``payload`` as the result of the bytes ``stamp`` describes; return its digest."""
        payload_digest = hashlib.sha256(payload).hexdigest()
        self._write(
            "INSERT OR REPLACE INTO notebooks "
            "(workspace, path, engine, size, mtime_ns, digest, trusted, payload, payload_digest, "
            "used) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.workspace,
                relative,
                self.engine,
                stamp.size,
                stamp.mtime_ns,
                stamp.digest,
                _trusted(stamp.mtime_ns, stamp.read_ns),
                payload,
                payload_digest,
                time.time(),
            ),
        )
        return payload_digest

    # --- verdicts -----------------------------------------------------------

    def verdicts_key(self, claims: list[Claim], parts: Iterable[str]) -> str | None:
        """Key the verdicts of ``claims`` against the results that ``parts`` name, in order."""
        encoded = encode_claims(claims)
        if encoded is None:
            return None
        digest = hashlib.sha256(self.engine.encode() + b"\0" + encoded)
        for part in parts:
            digest.update(b"\0" + part.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def load_verdicts(self, key: str) -> list[Verdict] | None:
        try:
            with self._lock:
                row = self._connection.execute(
                    "SELECT payload FROM verdicts WHERE key = ?", (key,)
                ).fetchone()
            if row is None:
                return None
            self._write("UPDATE verdicts SET used = ? WHERE key = ?", (time.time(), key))
            return decode_verdicts(row[0])
        except (sqlite3.Error, zlib.error, TypeError, ValueError) as error:
            log.debug("verdict cache lookup failed: %s", error)
            return None

    def store_verdicts(self, key: str, verdicts: list[Verdict]) -> None:
        try:
            payload = encode_verdicts(verdicts)
            if decode_verdicts(payload) != verdicts:
                return
        except (TypeError, ValueError, orjson.JSONEncodeError):
            return
        self._write(
            "INSERT OR REPLACE INTO verdicts (key, payload, used) VALUES (?, ?, ?)",
            (key, payload, time.time()),
        )

    # --- writing ------------------------------------------------------------

    def _write(self, statement: str, values: tuple) -> None:
        """Queue a write; queued writes go to the file in one transaction, now and then."""
        with self._lock:
            self._queue.append((statement, values))
            if len(self._queue) >= 100 or time.monotonic() - self._flushed > 1.0:
                self._flush()

    def _flush(self) -> None:
        queue, self._queue = self._queue, []
        self._flushed = time.monotonic()
        if not queue:
            return
        try:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                for statement, values in queue:
                    self._connection.execute(statement, values)
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")
        except sqlite3.Error as error:
            log.debug("notebook cache write failed: %s", error)

    def close(self) -> None:
        with self._lock:
            self._flush()
            self._connection.close()


def _trusted(mtime_ns: int, read_ns: int) -> int:
    return int(read_ns - mtime_ns > RACY_SECONDS * 1e9)


def open_cache(directory: Path | str | None, workspace: Path) -> NotebookCache | None:
    """Open the cache in ``directory``, or in the default folder when it is None.

    Returns None, after logging why, when the cache cannot be used.
    """
    folder = Path(directory).expanduser() if directory else default_cache_dir()
    try:
        return NotebookCache(folder, workspace)
    except (OSError, sqlite3.Error) as error:
        log.warning("notebook cache in %s not used, so every notebook is read: %s", folder, error)
        return None
