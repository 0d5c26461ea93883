"""Read and extract notebooks at scale: a lean reader and worker processes.

The lean reader streams a notebook in chunks and hashes every byte for the
cache. It drops the base64 payloads of binary outputs (``image/*``,
``application/pdf``) before the JSON is parsed, so a plot is never decoded,
parsed into a Python string or kept. Every other byte is parsed as before, so
the document it returns equals what :func:`notebooks.read_notebook` returns;
when the stripped bytes do not parse, the notebook is read again in full to
give the usual reason.

A payload is dropped only when it is the string value of such a key and
holds nothing but base64 characters and ``\\n`` escapes. In valid JSON an
unescaped ``"image/png": "`` can only be a key followed by a string value
(inside a string every quote is escaped), so the reader needs no JSON state
beyond that signature.

Rules-only jobs read and extract in worker processes, because that work is
CPU-bound Python and threads share one GIL. :class:`WorkerPool` runs
:func:`work` in worker processes of its own; each result comes back as the
cache's encoded bytes, checked in the worker to decode to an equal result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from .model import NotebookResult
from .notebooks import NotebookDoc, parse_notebook
from .notebooks import read_notebook as read_whole_notebook

log = logging.getLogger("cardcheck_lab")

MB = 1024 * 1024
# Files at least this large are read by the lean reader even on the plain
# (thread) path, so a large notebook never sits in memory as bytes and parsed
# JSON at once. Smaller ones gain nothing from it.
LEAN_READ_MIN_BYTES = 8 * MB
CHUNK_BYTES = 4 * MB
# Worker processes pay for their start-up only with enough to read. Below this
# many bytes of uncached notebooks, a job stays on its threads.
PROCESS_MIN_BYTES = 4 * MB

# A binary output's key and the opening quote of its string value.
_BINARY_KEY = re.compile(
    rb'"(?:image/[A-Za-z0-9.+-]{1,40}|application/pdf)"[ \t\r\n]{0,16}:[ \t\r\n]{0,16}"'
)
# Longer than any _BINARY_KEY match, so a key split between two chunks is seen whole.
_TAIL = 128
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_BACKSLASH = 0x5C


@dataclass
class FileStamp:
    """The size, mtime and SHA-256 of the bytes a result was read from."""

    size: int
    mtime_ns: int
    digest: str  # SHA-256 of the content, hex
    read_ns: int  # wall clock when reading started (time.time_ns)


def _is_base64_body(body: bytes) -> bool:
    """Return True when ``body`` contains only base64 characters and ``\\n`` escapes."""
    rest = body.translate(None, _BASE64)
    if not rest:
        return True
    if rest.strip(b"\\"):
        return False
    # Every backslash must start a \n escape. bytes.find is a memchr, unlike a
    # two-byte count, so this stays one fast pass over the body.
    position = -1
    for _ in range(len(rest)):
        position = body.find(b"\\", position + 1)
        if body[position + 1 : position + 2] != b"n":
            return False
        position += 1
    return True


def strip_binary(chunks: Iterable[bytes]) -> bytearray:
    """Join ``chunks`` with the base64 payloads of binary outputs replaced by ``""``."""
    out = bytearray()
    buffer = b""
    payload: list[bytes] | None = None  # pieces of the value being read, when inside one
    before = -1  # the byte just before ``buffer`` starts
    for chunk in _with_end(chunks):
        final = chunk is None
        if chunk:
            buffer = buffer + chunk if buffer else chunk
        view = memoryview(buffer)
        position = 0
        while True:
            if payload is not None:
                quote = buffer.find(b'"', position)
                if quote < 0:
                    payload.append(buffer[position:])
                    position = len(buffer)
                    break
                payload.append(buffer[position:quote])
                body = b"".join(payload)
                payload = None
                if not _is_base64_body(body):
                    out += body
                del body
                out += b'"'
                position = quote + 1
                continue
            match = _BINARY_KEY.search(buffer, position)
            if match is None:
                break
            start = match.start()
            previous = buffer[start - 1] if start else before
            if previous == _BACKSLASH:  # An escaped quote inside a string is no key.
                out += view[position : start + 1]
                position = start + 1
                continue
            out += view[position : match.end()]
            position = match.end()
            payload = []
        if payload is not None:
            view.release()
            buffer = b""
            before = -1
        else:
            keep = 0 if final else min(len(buffer) - position, _TAIL)
            cut = len(buffer) - keep
            out += view[position:cut]
            if cut:
                before = buffer[cut - 1]
            view.release()
            buffer = buffer[cut:]
        if final:
            if payload is not None:  # The file ends inside a string, which is kept as it is.
                out += b"".join(payload)
            break
    return out


def _with_end(chunks: Iterable[bytes]) -> Iterator[bytes | None]:
    yield from chunks
    yield None


def _stamped_chunks(handle, digest) -> Iterator[bytes]:
    while True:
        chunk = handle.read(CHUNK_BYTES)
        if not chunk:
            return
        digest.update(chunk)
        yield chunk


def read_lean(path: Path) -> tuple[bytearray, FileStamp]:
    """Return the notebook's bytes without binary payloads, and the stamp of what was read.

    Raises OSError when the file cannot be read.
    """
    read_ns = time.time_ns()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        status = os.fstat(handle.fileno())
        data = strip_binary(_stamped_chunks(handle, digest))
        size = handle.tell()
    return data, FileStamp(size, status.st_mtime_ns, digest.hexdigest(), read_ns)


def file_stamp(path: Path) -> FileStamp | None:
    """Hash a file without parsing it, or return None when it cannot be read."""
    read_ns = time.time_ns()
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            for _ in _stamped_chunks(handle, digest):
                pass
            size = handle.tell()
    except OSError:
        return None
    return FileStamp(size, status.st_mtime_ns, digest.hexdigest(), read_ns)


def read_doc(path: Path, relative: str) -> tuple[NotebookDoc, FileStamp | None]:
    """Read one notebook's outputs with the lean reader; raise NotebookError as read_notebook does.

    The stamp describes bytes read no later than those the document comes from,
    so a cache entry can only be older than the file, never newer.
    """
    stamps: list[FileStamp] = []
    doc = _read_doc(path, relative, stamps)
    return doc, (stamps[0] if stamps else None)


def _read_doc(path: Path, relative: str, stamps: list[FileStamp]) -> NotebookDoc:
    """Read like :func:`read_doc`, appending the stamp to ``stamps`` before parsing.

    A notebook that fails to parse keeps its stamp that way, so its failure is cached too.
    """
    try:
        data, stamp = read_lean(path)
    except OSError:
        return read_whole_notebook(path, relative)  # raises NotebookError with the reason
    stamps.append(stamp)
    if data.strip():
        view = memoryview(data)
        if data.startswith(b"\xef\xbb\xbf"):
            view = view[3:]
        try:
            raw = orjson.loads(view)
        except orjson.JSONDecodeError:
            raw = None
        del view, data
        if raw is not None:
            return parse_notebook(raw, relative)
    # Empty or not JSON: the full reader gives the reason (line numbers, offsets).
    return read_whole_notebook(path, relative)


def read_notebook(path: Path, relative: str) -> NotebookDoc:
    """:func:`notebooks.read_notebook`, with the lean reader for large files."""
    try:
        large = os.stat(path).st_size >= LEAN_READ_MIN_BYTES
    except OSError:
        large = False
    if large:
        return read_doc(path, relative)[0]
    return read_whole_notebook(path, relative)


# --- one notebook in a worker ---------------------------------------------------


@dataclass
class Outcome:
    """One notebook's result from :func:`work`, as cache bytes when they decode as equal."""

    path: str
    payload: bytes | None
    result: NotebookResult | None  # set when ``payload`` is None
    stamp: FileStamp | None
    cacheable: bool
    seconds: float

    def decoded(self) -> NotebookResult:
        if self.result is not None:
            return self.result
        from .cache import decode_result

        return decode_result(self.path, self.payload, self.seconds)


_NEVER = threading.Event()


def work(workspace: str, relative: str) -> Outcome:
    """Read and extract one notebook with the rules, in a worker process or on a thread."""
    from . import runner
    from .cache import encode_result_checked

    stamps: list[FileStamp] = []

    def read() -> NotebookDoc:
        return _read_doc(Path(workspace) / relative, relative, stamps)

    result = runner.check_notebook(relative, _NEVER, read)
    stamp = stamps[0] if stamps else None
    # Only the engine's own results are cached: an internal error is a bug, not a fact of the file.
    cacheable = (
        stamp is not None
        and result.status in ("done", "failed")
        and not result.error.startswith("internal error:")
    )
    payload = encode_result_checked(result)
    if payload is None:
        return Outcome(relative, None, result, stamp, False, result.seconds)
    return Outcome(relative, payload, None, stamp, cacheable, result.seconds)


def process_count(paths: list[str], workspace: Path) -> int:
    """Return how many worker processes to use: min(CPU count, notebooks), or 0 to stay on threads.

    Zero when fewer than two notebooks or fewer than PROCESS_MIN_BYTES are to
    be read, where starting processes costs more than it saves.
    """
    cpus = os.cpu_count() or 1
    if cpus < 2 or len(paths) < 2:
        return 0
    total = 0
    for path in paths:
        try:
            total += os.stat(workspace / path).st_size
        except OSError:
            continue
        if total >= PROCESS_MIN_BYTES:
            return min(cpus, len(paths))
    return 0


def largest_first(paths: list[str], workspace: Path) -> list[str]:
    """Order ``paths`` largest file first, so that no worker is left with a large one at the end."""

    def size(path: str) -> int:
        try:
            return os.stat(workspace / path).st_size
        except OSError:
            return 0

    return sorted(paths, key=size, reverse=True)


# --- worker processes -------------------------------------------------------------
#
# Each worker is a plain ``python -c`` child that reads requests on stdin and
# replies on stdout, one pickled message per request with an 8-byte length in
# front. Not multiprocessing: its spawn and forkserver workers import the
# parent's ``__main__`` again (a script without a main guard would run again in
# every worker), and "fork" copies a process whose other threads may hold locks.

_SERVE = "from cardcheck_lab.scan import serve; serve()"
_READY = b"ready"
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


def _send(stream, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "big") + data)
    stream.flush()


def _receive(stream) -> object:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    size = int.from_bytes(header, "big")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def serve() -> None:
    """Run the worker's loop, which reads (workspace, relative) requests until stdin closes."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # Anything printed goes to stderr, never into the replies.
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    from . import runner  # noqa: F401  (imported once, before the first notebook)

    _send(replies, _READY)
    while True:
        try:
            workspace, relative = _receive(requests)
        except EOFError:
            return
        try:
            outcome = work(workspace, relative)
        except (
            Exception
        ) as error:  # work() catches a notebook's errors, so this is a bug in work().
            log.exception("Unexpected error while reading %s", relative)
            failed = NotebookResult(
                path=relative,
                status="failed",
                error=f"internal error: {type(error).__name__}: {error}",
            )
            outcome = Outcome(relative, None, failed, None, False, 0.0)
        _send(replies, outcome)


class _WorkerGone(Exception):
    """The worker process ended (killed, out of memory) before it replied."""


class _Worker:
    def __init__(self) -> None:
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (_PACKAGE_PARENT, environment.get("PYTHONPATH")) if part
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
        )
        try:
            ready = _receive(self.process.stdout)
        except (EOFError, pickle.UnpicklingError, OSError) as error:
            self.kill()
            raise _WorkerGone(
                f"worker process did not start (exit status {self.process.poll()})"
            ) from error
        if ready != _READY:
            self.kill()
            raise _WorkerGone("worker process did not start")

    def call(self, workspace: str, relative: str) -> Outcome:
        try:
            _send(self.process.stdin, (workspace, relative))
            outcome = _receive(self.process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as error:
            self.kill()
            raise _WorkerGone(str(error)) from error
        return outcome

    def close(self) -> None:
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self.process.stdout.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class WorkerPool:
    """Up to ``processes`` worker processes for one job, started when first needed.

    A worker that dies (killed, out of memory) is replaced and the notebook is
    tried once more before it fails. When workers cannot start at all,
    :meth:`run` returns None and the caller reads the notebook on its own thread.
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._lock = threading.Lock()
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers: list[_Worker] = []
        self._starting = 0
        self._unavailable = False
        self._stopped = False

    def _acquire(self, cancel: threading.Event) -> _Worker | None:
        """Return an idle worker, starting one if there is room; None if stopped or unavailable."""
        while True:
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                pass
            with self._lock:
                if self._unavailable or self._stopped:
                    return None
                start = len(self._workers) + self._starting < self.processes
                if start:
                    self._starting += 1
            if start:
                return self._start()
            try:
                return self._idle.get(timeout=0.25)
            except queue.Empty:
                if cancel.is_set():
                    return None

    def _start(self) -> _Worker | None:
        try:
            worker = _Worker()
        except (OSError, _WorkerGone) as error:
            log.warning("worker processes unavailable, reading on threads: %s", error)
            with self._lock:
                self._starting -= 1
                self._unavailable = True
            return None
        with self._lock:
            self._starting -= 1
            self._workers.append(worker)
            stopped = self._stopped
        if stopped:
            worker.kill()
            return None
        return worker

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)

    def run(self, workspace: Path, relative: str, cancel: threading.Event) -> Outcome | None:
        """Run :func:`work` in a worker process; None when processes are unavailable."""
        cancelled = Outcome(
            relative, None, NotebookResult(path=relative, status="cancelled"), None, False, 0.0
        )
        for _ in range(2):
            worker = self._acquire(cancel)
            if worker is None:
                return cancelled if (cancel.is_set() or self._stopped) else None
            try:
                outcome = worker.call(str(workspace), relative)
            except _WorkerGone:
                self._discard(worker)
                if cancel.is_set() or self._stopped:
                    return cancelled
                log.warning("a worker process stopped while reading %s", relative)
                continue
            self._idle.put(worker)
            return outcome
        failed = NotebookResult(
            path=relative,
            status="failed",
            error="internal error: the worker process reading this notebook stopped "
            "(killed or out of memory)",
        )
        return Outcome(relative, None, failed, None, False, 0.0)

    def stop(self) -> None:
        """End every worker now; notebooks they were reading come back cancelled."""
        with self._lock:
            self._stopped = True
            workers = list(self._workers)
        for worker in workers:
            worker.kill()

    def close(self, cancelled: bool = False) -> None:
        """Let the workers exit; when the job was cancelled, end them at once."""
        if cancelled:
            self.stop()
        with self._lock:
            self._stopped = True
            workers, self._workers = list(self._workers), []
        for worker in workers:
            worker.close()
