"""HTTP handlers of the CardCheck server extension, under ``<base_url>/cardcheck/``.

Handlers parse and check a request, hand the work to the job manager on its own
threads, and serialise the answer. Every path in a request is resolved inside the
Jupyter server's root directory before the engine sees it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jupyter_core.paths import is_hidden
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.iostream import StreamClosedError

from .job_records import ACTIVE_STATES, JOB_ID_PATTERN, TERMINAL_STATES
from .jobs import (
    LLM_PROVIDERS,
    JobInputError,
    JobRequest,
    ManagerClosedError,
    QueueFullError,
    ReportUnavailableError,
)

if TYPE_CHECKING:
    from .app import CardCheckApp
    from .jobs import JobManager

AUTH_RESOURCE = "cardcheck"
API_KEY_HEADER = "X-CardCheck-API-Key"

JOB_FIELDS = (
    "card",
    "card_text",
    "workspace",
    "notebooks",
    "provider",
    "model",
    "base_url",
    "workers",
)

# Seconds between checks for new events while an SSE stream waits, and between
# keep-alive comments that stop proxies from closing an idle stream.
SSE_POLL_SECONDS = 0.25
SSE_KEEPALIVE_SECONDS = 15.0

_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")


class CardCheckHandler(APIHandler):
    """Shared request parsing and error mapping of the CardCheck routes."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, extension: CardCheckApp) -> None:  # type: ignore[override]
        self.extension = extension

    @property
    def manager(self) -> JobManager:
        manager = self.extension.manager
        if manager is None or manager.closing:
            raise web.HTTPError(
                503, "The CardCheck job manager is stopping; retry after the restart."
            )
        return manager

    async def in_thread(self, function: Any, *args: Any) -> Any:
        """Run a blocking manager call on the manager's I/O threads."""
        try:
            future = self.manager.run_io(function, *args)
        except ManagerClosedError as error:
            raise web.HTTPError(503, str(error)) from error
        return await asyncio.wrap_future(future)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Write ``{"message", "reason"}`` JSON with the HTTPError's detail as written.

        ``APIHandler.write_error`` sends ``log_message`` raw, and tornado 6.5+
        stores it with every ``%`` doubled when there are no format arguments, so
        a path such as ``%2e%2e`` would come back as ``%%2e%%2e``.
        """
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        if not isinstance(error, web.HTTPError) or not error.log_message:
            super().write_error(status_code, **kwargs)
            return
        get_message = getattr(error, "get_message", None)
        message = get_message() if get_message else error.log_message
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message, "reason": error.reason}, ensure_ascii=False))

    def write_json(self, document: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(document, ensure_ascii=False))

    def checked_job_id(self, job_id: str) -> str:
        if not JOB_ID_PATTERN.match(job_id):
            shown = job_id if len(job_id) <= 64 else job_id[:64] + "..."
            raise web.HTTPError(
                404, f"No CardCheck job has the id {shown!r}; ids are 32 hexadecimal characters."
            )
        return job_id

    def not_found(self, job_id: str) -> web.HTTPError:
        return web.HTTPError(
            404,
            f"No CardCheck job has the id {job_id!r}; GET /cardcheck/jobs lists the known jobs.",
        )

    def int_argument(
        self, name: str, default: int, minimum: int, maximum: int | None = None
    ) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise web.HTTPError(
                400, f"Query argument {name!r} must be an integer, got {raw!r}."
            ) from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise web.HTTPError(
                400, f"Query argument {name!r} must be at least {minimum}{upper}, got {value}."
            )
        return value


class VersionHandler(CardCheckHandler):
    """``GET version``: the extension's version and defaults, never the key."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        extension = self.extension
        self.write_json(
            {
                "version": extension.version,
                "provider": extension.provider,
                "model": extension.model,
                "base_url": extension.base_url,
                "llm_key_configured": extension.server_api_key() is not None,
                "workers": extension.workers,
                "max_workers": extension.max_workers,
            }
        )


class JobsHandler(CardCheckHandler):
    """``GET jobs`` lists recent jobs; ``POST jobs`` starts one."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        limit = self.int_argument("limit", 50, 1, 1000)
        jobs = await self.in_thread(self.manager.list_jobs, limit)
        self.write_json({"jobs": jobs})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_body()
        api_key = self.read_api_key()
        fields = check_job_fields(body, self.extension)
        allow_hidden = bool(self.contents_manager.allow_hidden)

        def create() -> tuple[Any, bool]:
            request = build_job_request(fields, self.extension, allow_hidden, api_key)
            return self.manager.submit(request)

        try:
            entry, reused = await self.in_thread(create)
        except JobInputError as error:
            raise web.HTTPError(400, str(error)) from error
        except QueueFullError as error:
            raise web.HTTPError(429, str(error)) from error
        except ManagerClosedError as error:
            raise web.HTTPError(503, str(error)) from error

        location = url_path_join(self.base_url, "cardcheck", "jobs", entry.id)
        self.set_header("Location", location)
        self.write_json(
            {"id": entry.id, "state": entry.state, "seq": entry.current_seq(), "reused": reused},
            202,
        )

    def read_body(self) -> dict[str, Any]:
        limit = self.extension.max_request_bytes
        if len(self.request.body) > limit:
            raise web.HTTPError(
                413,
                f"The request body is {len(self.request.body)} bytes; the limit is {limit} bytes "
                "(CardCheckApp.max_request_bytes). Send a smaller card or a card path.",
            )
        if not self.request.body.strip():
            raise web.HTTPError(
                400, "The request body is empty; send a JSON object with 'card' or 'card_text'."
            )
        try:
            body = self.get_json_body()
        except UnicodeDecodeError as error:
            raise web.HTTPError(
                400, "The request body is not UTF-8; send UTF-8 encoded JSON."
            ) from error
        if not isinstance(body, dict):
            raise web.HTTPError(
                400, "The request body must be a JSON object with 'card' or 'card_text'."
            )
        return body

    def read_api_key(self) -> str | None:
        key = self.request.headers.get(API_KEY_HEADER)
        if key is None:
            return None
        key = key.strip()
        if not key:
            return None
        if len(key) > 4096 or not key.isascii() or not key.isprintable():
            # The key is not echoed: it may be a real secret pasted with a typo.
            raise web.HTTPError(400, f"The {API_KEY_HEADER} header is not a valid API key.")
        return key


class JobHandler(CardCheckHandler):
    """``GET jobs/{id}`` returns the snapshot; ``DELETE jobs/{id}`` cancels."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        job_id = self.checked_job_id(job_id)
        since = self.int_argument("since", 0, 0)
        snapshot = await self.in_thread(self.manager.snapshot, job_id, since)
        if snapshot is None:
            raise self.not_found(job_id)
        self.write_json(snapshot)

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        job_id = self.checked_job_id(job_id)
        manager = self.manager

        def cancel() -> tuple[str, int] | None:
            entry = manager.cancel(job_id)
            if entry is not None:
                return entry.state, entry.current_seq()
            snapshot = manager.snapshot(job_id)
            if snapshot is None:
                return None
            return str(snapshot.get("state")), int(snapshot.get("seq") or 0)

        result = await self.in_thread(cancel)
        if result is None:
            raise self.not_found(job_id)
        state, seq = result
        if state not in ACTIVE_STATES and state != "cancelled":
            raise web.HTTPError(
                409, f"Job {job_id} already ended in state {state}; there is nothing to cancel."
            )
        self.write_json({"id": job_id, "state": state, "seq": seq}, 202)


class JobReportHandler(CardCheckHandler):
    """``GET jobs/{id}/report?format=json|markdown``."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        job_id = self.checked_job_id(job_id)
        output_format = self.get_query_argument("format", "json")
        if output_format not in ("json", "markdown"):
            raise web.HTTPError(
                400, f"Query argument 'format' must be 'json' or 'markdown', got {output_format!r}."
            )
        manager = self.manager

        def build() -> Any:
            report = manager.report(job_id)
            if report is None or output_format == "json":
                return report
            return manager.render_markdown(report)

        try:
            result = await self.in_thread(build)
        except ReportUnavailableError as error:
            raise web.HTTPError(409, str(error)) from error
        if result is None:
            raise self.not_found(job_id)
        if output_format == "markdown":
            self.set_header("Content-Disposition", f'inline; filename="cardcheck-{job_id}.md"')
            self.finish(result, set_content_type="text/markdown; charset=UTF-8")
        else:
            self.write_json(result)


class JobEventsHandler(CardCheckHandler):
    """``GET jobs/{id}/events``: Server-Sent Events until the job ends.

    Each event is one ``data:`` line of JSON with ``id:`` set to its sequence
    number, so a reconnecting EventSource resumes after ``Last-Event-ID``. The
    stream closes with an ``{"type": "end", "state": ...}`` message that has no
    id. A reconnect to a job that has ended with nothing left to send gets 204,
    because that status makes an EventSource stop reconnecting.
    """

    _client_gone = False

    def on_connection_close(self) -> None:
        self._client_gone = True

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        job_id = self.checked_job_id(job_id)
        since = self.read_last_event_id()
        manager = self.manager

        result = await self.in_thread(manager.events, job_id, since)
        if result is None:
            raise self.not_found(job_id)
        events, state = result
        if not events and state in TERMINAL_STATES and self.request.headers.get("Last-Event-ID"):
            self.set_status(204)
            self.finish()
            return

        self.set_header("Content-Type", "text/event-stream; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        self.write("retry: 2000\n\n")

        while True:
            for event in events:
                since = max(since, int(event.get("seq", since)))
                self.write(f"id: {since}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n")
            if state in TERMINAL_STATES or manager.closing:
                end = {"type": "end", "state": state, "seq": since}
                self.write(f"data: {json.dumps(end)}\n\n")
                break
            if not await self.flush_or_stop():
                return
            if not await self.wait_for_event(job_id, since):
                return
            if manager.closing:
                events = []
                continue
            result = await self.in_thread(manager.events, job_id, since)
            if result is None:
                return
            events, state = result

        if not self._client_gone:
            self.finish(set_content_type="text/event-stream; charset=UTF-8")

    def read_last_event_id(self) -> int:
        header = self.request.headers.get("Last-Event-ID")
        if header is None or header.strip() == "":
            return self.int_argument("since", 0, 0)
        try:
            value = int(header.strip())
        except ValueError:
            raise web.HTTPError(
                400, f"The Last-Event-ID header must be an event number, got {header!r}."
            ) from None
        if value < 0:
            raise web.HTTPError(400, f"The Last-Event-ID header must be 0 or more, got {value}.")
        return value

    async def flush_or_stop(self) -> bool:
        if self._client_gone:
            return False
        try:
            await self.flush()
        except StreamClosedError:
            self._client_gone = True
            return False
        return True

    async def wait_for_event(self, job_id: str, since: int) -> bool:
        """Sleep until the job has an event after ``since`` or has ended.

        This reads the entry's event counter and state, which are plain attributes
        updated by the job's threads. So the event loop never waits on the job's lock.
        """
        last_write = time.monotonic()
        while not self._client_gone:
            manager = self.extension.manager
            if manager is None or manager.closing:
                return True
            entry = manager.get(job_id)
            if entry is None or entry.current_seq() > since or entry.is_finished():
                return True
            await asyncio.sleep(SSE_POLL_SECONDS)
            if time.monotonic() - last_write >= SSE_KEEPALIVE_SECONDS:
                self.write(": keep-alive\n\n")
                if not await self.flush_or_stop():
                    return False
                last_write = time.monotonic()
        return False


# ----------------------------------------------------------------------
# Request checks


def check_job_fields(body: dict[str, Any], extension: CardCheckApp) -> dict[str, Any]:
    """Check the types and ranges of a job request; return the fields with defaults.

    Paths are only type-checked here; ``build_job_request`` resolves them off
    the event loop.
    """
    unknown = sorted(set(body) - set(JOB_FIELDS))
    if unknown:
        raise web.HTTPError(
            400,
            f"Unknown field(s) {', '.join(map(repr, unknown))}; "
            f"a job request accepts {', '.join(JOB_FIELDS)}.",
        )
    card, card_text = _check_card(body, extension)
    workspace, notebooks = _check_paths(body)
    provider, model, base_url = _check_llm(body, extension)
    workers = _check_workers(body, extension)
    return {
        "card": card,
        "card_text": card_text,
        "workspace": workspace,
        "notebooks": notebooks,
        "provider": provider,
        "model": model,
        "base_url": base_url,
        "workers": workers,
    }


def _check_card(body: dict[str, Any], extension: CardCheckApp) -> tuple[Any, Any]:
    card = body.get("card")
    card_text = body.get("card_text")
    if card is None and card_text is None:
        raise web.HTTPError(
            400, "Give the model card as 'card' (a path) or 'card_text' (its Markdown)."
        )
    if card is not None and card_text is not None:
        raise web.HTTPError(400, "Give either 'card' or 'card_text', not both.")
    if card is not None and (not isinstance(card, str) or not card.strip()):
        raise web.HTTPError(
            400, "'card' must be a non-empty path relative to the Jupyter server root."
        )
    if card_text is not None:
        if not isinstance(card_text, str) or not card_text.strip():
            raise web.HTTPError(400, "'card_text' must be a non-empty string of Markdown.")
        size = len(card_text.encode("utf-8"))
        if size > extension.max_card_bytes:
            raise web.HTTPError(
                413,
                f"'card_text' is {size} bytes; the limit is {extension.max_card_bytes} bytes "
                "(CardCheckApp.max_card_bytes).",
            )
    return card, card_text


def _check_paths(body: dict[str, Any]) -> tuple[str, list[str] | None]:
    workspace = body.get("workspace", "")
    if workspace is None:
        workspace = ""
    if not isinstance(workspace, str):
        raise web.HTTPError(
            400, "'workspace' must be a folder path relative to the Jupyter server root."
        )

    notebooks = body.get("notebooks")
    if notebooks is not None:
        if not isinstance(notebooks, list) or not all(
            isinstance(item, str) and item for item in notebooks
        ):
            raise web.HTTPError(
                400,
                "'notebooks' must be a list of notebook paths relative to the Jupyter server root.",
            )
        if not notebooks:
            raise web.HTTPError(
                400, "'notebooks' is empty; leave it out to check every notebook of the workspace."
            )
    return workspace, notebooks


def _check_llm(body: dict[str, Any], extension: CardCheckApp) -> tuple[str, str, str]:
    """Check provider, model and base_url; a request that keeps the server's
    provider also inherits its model and base_url."""
    provider = body.get("provider") or extension.provider
    if not isinstance(provider, str) or provider not in LLM_PROVIDERS:
        raise web.HTTPError(
            400, f"'provider' must be one of {', '.join(LLM_PROVIDERS)}, got {provider!r}."
        )

    model = body.get("model")
    if model is None:
        model = extension.model if provider == extension.provider else ""
    if not isinstance(model, str) or len(model) > 200:
        raise web.HTTPError(400, "'model' must be a model name of at most 200 characters.")
    if provider != "none" and not model.strip():
        raise web.HTTPError(
            400, f"'model' is required for provider {provider!r}; give the LLM model name."
        )

    base_url = body.get("base_url")
    if base_url is None:
        base_url = extension.base_url if provider == extension.provider else ""
    if not isinstance(base_url, str) or len(base_url) > 2000:
        raise web.HTTPError(400, "'base_url' must be a URL string of at most 2000 characters.")
    if base_url:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise web.HTTPError(
                400,
                "'base_url' must be an http or https URL, such as http://127.0.0.1:8000/v1; "
                f"got {base_url!r}.",
            )
    if provider == "openai-compatible" and not base_url:
        raise web.HTTPError(
            400,
            "'base_url' is required for provider 'openai-compatible', "
            "such as http://127.0.0.1:8000/v1.",
        )
    return provider, model, base_url


def _check_workers(body: dict[str, Any], extension: CardCheckApp) -> int:
    workers = body.get("workers", extension.workers)
    if not isinstance(workers, int) or isinstance(workers, bool):
        raise web.HTTPError(400, f"'workers' must be an integer, got {workers!r}.")
    if not 1 <= workers <= extension.max_workers:
        raise web.HTTPError(
            400,
            f"'workers' must be between 1 and {extension.max_workers} "
            f"(CardCheckApp.max_workers), got {workers}.",
        )
    return workers


def build_job_request(
    fields: dict[str, Any], extension: CardCheckApp, allow_hidden: bool, api_key: str | None
) -> JobRequest:
    """Resolve the request's paths inside the server root and build a JobRequest.

    Blocking (it touches the file system); raises ``HTTPError`` for a bad path.
    """
    root = os.path.realpath(extension.root_dir)
    workspace_real, workspace_label = resolve_path(
        root, fields["workspace"], "workspace", "folder", allow_hidden
    )

    card_path = None
    card_label = "(card text)"
    if fields["card"] is not None:
        card_real, card_label = resolve_path(root, fields["card"], "card", "file", allow_hidden)
        size = os.path.getsize(card_real)
        if size > extension.max_card_bytes:
            raise web.HTTPError(
                413,
                f"The card {card_label!r} is {size} bytes; "
                f"the limit is {extension.max_card_bytes} bytes "
                "(CardCheckApp.max_card_bytes).",
            )
        card_path = card_real

    notebooks = None
    if fields["notebooks"] is not None:
        notebooks = []
        for value in fields["notebooks"]:
            notebook_real, label = resolve_path(root, value, "notebook", "file", allow_hidden)
            if not label.endswith(".ipynb"):
                raise web.HTTPError(400, f"The notebook {label!r} is not an .ipynb file.")
            if os.path.commonpath([workspace_real, notebook_real]) != workspace_real:
                raise web.HTTPError(
                    400,
                    f"The notebook {label!r} is not inside the workspace {workspace_label!r}.",
                )
            relative = os.path.relpath(notebook_real, workspace_real).replace(os.sep, "/")
            if relative not in notebooks:
                notebooks.append(relative)

    try:
        job_api_key = extension.api_key_for(api_key, fields["provider"], fields["base_url"])
    except ValueError as error:
        raise web.HTTPError(400, str(error)) from error

    return JobRequest(
        workspace=Path(workspace_real),
        workspace_label=workspace_label,
        card_path=Path(card_path) if card_path else None,
        card_text=fields["card_text"],
        card_label=card_label,
        notebooks=notebooks,
        provider=fields["provider"],
        model=fields["model"],
        base_url=fields["base_url"],
        workers=fields["workers"],
        allow_hidden=allow_hidden,
        api_key=job_api_key,
        api_key_env=extension.api_key_env,
        cache_dir=Path(extension.cache_dir) if extension.cache_dir else None,
    )


def _real_path(root: str, segments: list[str]) -> str:
    if not segments:
        return root
    path = os.path.join(root, *segments)
    try:
        # strict=True raises on a symbolic link loop instead of returning a loop member.
        return os.path.realpath(path, strict=True)
    except FileNotFoundError:
        return os.path.realpath(path)  # a missing path gets its 404 below


def resolve_path(
    root: str, value: str, field: str, kind: str, allow_hidden: bool
) -> tuple[str, str]:
    """Resolve a request path inside ``root``; return the real path and a clean label.

    ``root`` must already be a real path. The value is used as written: a
    ``%2e%2e`` in it is a name, because JSON bodies are never URL-decoded.
    Raises ``HTTPError`` 400 for an absolute path or a ``..`` segment, 403 for
    a path that leaves the root through a symbolic link or is hidden, and 404
    when nothing of the expected kind exists. Messages name only the request's
    own relative path, never a server path.
    """
    if "\x00" in value:
        raise web.HTTPError(400, f"The {field} path contains a NUL character.")
    if value.startswith(("/", "\\")) or os.path.isabs(value) or _DRIVE_PREFIX.match(value):
        raise web.HTTPError(
            400,
            f"The {field} path {value!r} is absolute; "
            "give a path relative to the Jupyter server root.",
        )
    segments = [segment for segment in re.split(r"[\\/]", value) if segment not in ("", ".")]
    if ".." in segments:
        raise web.HTTPError(
            400,
            f"The {field} path {value!r} contains '..'; "
            "give a path inside the Jupyter server root.",
        )
    label = "/".join(segments) or "."

    try:
        real = _real_path(root, segments)
    except OSError as error:
        # realpath or is_hidden on a symbolic link loop raises ELOOP.
        raise web.HTTPError(
            400, f"The {field} path {label!r} cannot be resolved: {error.strerror}."
        ) from error
    if os.path.commonpath([root, real]) != root:
        raise web.HTTPError(
            403, f"The {field} path {label!r} resolves outside the Jupyter server root."
        )
    if not allow_hidden and (
        any(segment.startswith(".") for segment in segments)
        or (real != root and is_hidden(real, root))
    ):
        raise web.HTTPError(
            403,
            f"The {field} path {label!r} is hidden; hidden files are checked only when "
            "ContentsManager.allow_hidden is True.",
        )

    if kind == "folder" and not os.path.isdir(real):
        if os.path.exists(real):
            raise web.HTTPError(400, f"The {field} path {label!r} is not a folder.")
        raise web.HTTPError(
            404, f"The {field} folder {label!r} does not exist under the Jupyter server root."
        )
    if kind == "file" and not os.path.isfile(real):
        if os.path.exists(real):
            raise web.HTTPError(400, f"The {field} path {label!r} is not a file.")
        raise web.HTTPError(
            404, f"The {field} file {label!r} does not exist under the Jupyter server root."
        )
    return real, label


# ----------------------------------------------------------------------
# Route table


def build_routes(base_url: str, extension: CardCheckApp) -> list[tuple[str, type, dict[str, Any]]]:
    """Return the URL patterns of the CardCheck API under ``base_url``."""
    prefix = url_path_join(base_url, "cardcheck")
    job = r"(?P<job_id>[^/]+)"
    kwargs = {"extension": extension}
    return [
        (url_path_join(prefix, "version"), VersionHandler, kwargs),
        (url_path_join(prefix, "jobs"), JobsHandler, kwargs),
        (url_path_join(prefix, "jobs", job), JobHandler, kwargs),
        (url_path_join(prefix, "jobs", job, "events"), JobEventsHandler, kwargs),
        (url_path_join(prefix, "jobs", job, "report"), JobReportHandler, kwargs),
    ]
