"""A scriptable fake LLM server for tests and benchmarks, on 127.0.0.1 only.

It speaks just enough of OpenAI Chat Completions (``POST /v1/chat/completions``)
and the Anthropic Messages API (``POST /v1/messages``) for the official SDKs to
talk to it. Each request takes the next behaviour from a queue, or the default
behaviour when the queue is empty, and every request is recorded with its
arrival time, headers and body.

    with FakeLLM() as fake:
        fake.script(rate_limited(retry_after="1"), answer())
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A block header as the extractor renders it: "### cell 3, output 0 (stream)".
_CELL_HEADER = re.compile(r"^### cell (\d+), output \d+")
# "Name: 0.81", "name = 81.2%": the lines the automatic answer reports.
_NAME_VALUE = re.compile(
    r"^\s*(?P<name>[A-Za-z][\w \-]*?)\s*[:=]\s*(?P<value>-?\d+(?:\.\d+)?)(?P<pct>%?)\s*$"
)


@dataclass
class Behaviour:
    """One scripted reply. Build it with the functions below, such as ``answer()`` or ``rate_limited()``."""

    kind: str  # "answer", "status", "truncated" or "raw"
    delay: float = 0.0  # seconds to sleep before replying
    metrics: list[dict[str, Any]] | None = None  # for "answer"; None derives them from the prompt
    only_quoted: bool = True  # drop scripted metrics whose quote is not in the prompt
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str = ""
    message: str = ""
    content: str = ""  # the reply text for "truncated" and "raw"
    reject_json_schema: bool = False  # reply 400 to a json_schema request, answer other requests
    echo_authorization: bool = False  # put the received credentials in the error message


def answer(
    metrics: list[dict[str, Any]] | None = None, *, delay: float = 0.0, only_quoted: bool = True
) -> Behaviour:
    """Reply with metrics: the given ones, or those on "name: value" lines of the prompt when None."""
    return Behaviour("answer", delay=delay, metrics=metrics, only_quoted=only_quoted)


def rate_limited(*, retry_after: str | None = None, retry_after_ms: str | None = None) -> Behaviour:
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    return Behaviour(
        "status",
        status=429,
        headers=headers,
        error_type="rate_limit_error",
        message="Rate limit reached",
    )


def overloaded() -> Behaviour:
    return Behaviour("status", status=529, error_type="overloaded_error", message="Overloaded")


def server_error(status: int = 500) -> Behaviour:
    return Behaviour(
        "status", status=status, error_type="api_error", message="Internal server error"
    )


def status(
    code: int,
    message: str = "",
    *,
    error_type: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> Behaviour:
    return Behaviour(
        "status", status=code, error_type=error_type, message=message, headers=dict(headers or {})
    )


def auth_error_echoing_key() -> Behaviour:
    """Reply 401 with the received API key in the error message, as a careless proxy might."""
    return Behaviour(
        "status", status=401, error_type="authentication_error", echo_authorization=True
    )


def truncated(content: str) -> Behaviour:
    """Reply with ``content`` cut off by the output limit: finish_reason "length" / stop_reason "max_tokens"."""
    return Behaviour("truncated", content=content)


def raw(content: str) -> Behaviour:
    """Reply normally, with ``content`` as the message text (for invalid or fenced JSON)."""
    return Behaviour("raw", content=content)


def slow(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Sleep ``seconds`` before replying as ``then`` would (default: the automatic answer)."""
    behaviour = then or answer()
    behaviour.delay = seconds
    return behaviour


def rejecting_json_schema(then: Behaviour | None = None) -> Behaviour:
    """Reply 400 to a request for json_schema output; answer a json_object request as ``then`` would."""
    behaviour = then or answer()
    behaviour.reject_json_schema = True
    return behaviour


@dataclass
class RecordedRequest:
    """One request as the fake server received it."""

    index: int
    path: str
    arrived: float  # time.monotonic() when the body had been read
    replied: float  # time.monotonic() when the reply was written; 0.0 until then
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    prompt: str  # every message's text, joined
    status: int = 0
    behaviour: str = ""
    client_port: int = 0  # a new port means a new connection


class FakeLLM:
    """The fake server. Use as a context manager, or call ``start()`` and ``stop()``."""

    def __init__(self, default: Behaviour | None = None) -> None:
        self.default = default or answer()
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0  # maximum number of requests handled at the same time
        self._in_flight = 0
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> FakeLLM:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fakellm",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLLM:  # noqa: PYI034 - FakeLLM is not meant to be subclassed
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the fake server first"
        return self._server.server_address[1]

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Scripting and inspection

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    def script_many(self, count: int, make: Callable[[], Behaviour]) -> None:
        self.script(*(make() for _ in range(count)))

    def clear(self) -> None:
        """Forget queued behaviours, recorded requests and the in-flight maximum."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.max_in_flight = 0

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _next(
        self, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[RecordedRequest, Behaviour]:
        with self._lock:
            behaviour = self._queue.popleft() if self._queue else self.default
            record = RecordedRequest(
                index=len(self.requests),
                path=path,
                arrived=time.monotonic(),
                replied=0.0,
                headers=headers,
                body=body,
                prompt=_prompt_text(body),
                behaviour=behaviour.kind,
            )
            self.requests.append(record)
        return record, behaviour


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connection attempts beyond it when many clients
    # connect at once, and each dropped SYN costs the client a 1 s retransmission.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeLLM

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK would add about 40 ms to every reply.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw_body or b"{}")
        except json.JSONDecodeError:
            body = {}
        headers = {name.lower(): value for name, value in self.headers.items()}
        anthropic = self.path.rstrip("/").endswith("/messages")
        if not (anthropic or self.path.rstrip("/").endswith("/chat/completions")):
            self._send(
                404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}, {}
            )
            return

        fake = self.server_fake
        record, behaviour = fake._next(self.path, headers, body)
        record.client_port = self.client_address[1]
        fake._enter()
        try:
            if behaviour.delay and fake._stopping.wait(behaviour.delay):
                return
            status_code, payload, extra_headers = _reply(behaviour, record, anthropic)
            record.status = status_code
            try:
                self._send(status_code, payload, extra_headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first, as after its timeout
            record.replied = time.monotonic()
        finally:
            fake._leave()

    def _send(self, status_code: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status_code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _prompt_text(body: dict[str, Any]) -> str:
    parts = []
    system = body.get("system")
    if isinstance(system, str):
        parts.append(system)
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(block.get("text", "") for block in content if isinstance(block, dict))
    return "\n".join(parts)


def _reply(
    behaviour: Behaviour, record: RecordedRequest, anthropic: bool
) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = record.body
    if behaviour.kind == "status":
        message = behaviour.message or f"status {behaviour.status}"
        if behaviour.echo_authorization:
            credential = record.headers.get("x-api-key") or record.headers.get("authorization", "")
            message = f"Invalid API key: {credential}"
        return (
            behaviour.status,
            _error_body(anthropic, behaviour.error_type, message),
            dict(behaviour.headers),
        )

    if behaviour.reject_json_schema and not anthropic:
        requested = (body.get("response_format") or {}).get("type")
        if requested == "json_schema":
            message = "response_format of type json_schema is not supported by this server"
            return 400, _error_body(False, "invalid_request_error", message), {}

    if behaviour.kind == "truncated":
        return 200, _completion(anthropic, body, text=behaviour.content, cut_off=True), {}
    if behaviour.kind == "raw":
        return 200, _completion(anthropic, body, text=behaviour.content), {}

    metrics = _metrics_for(behaviour, record.prompt)
    if anthropic:
        return 200, _completion(True, body, tool_input={"metrics": metrics}), {}
    return 200, _completion(False, body, text=json.dumps({"metrics": metrics})), {}


def _metrics_for(behaviour: Behaviour, prompt: str) -> list[dict[str, Any]]:
    if behaviour.metrics is None:
        return auto_metrics(prompt)
    if not behaviour.only_quoted:
        return [dict(item) for item in behaviour.metrics]
    return [
        dict(item) for item in behaviour.metrics if not item.get("quote") or item["quote"] in prompt
    ]


def auto_metrics(prompt: str) -> list[dict[str, Any]]:
    """Report every "name: value" line of every output block in the prompt, as a careful model would."""
    metrics = []
    cell = None
    for line in prompt.splitlines():
        header = _CELL_HEADER.match(line)
        if header:
            cell = int(header.group(1))
            continue
        if cell is None:
            continue
        match = _NAME_VALUE.match(line)
        if match:
            metrics.append(
                {
                    "name": match.group("name").strip(),
                    "value": float(match.group("value")),
                    "cell": cell,
                    "quote": line,
                    "split": None,
                    "model": None,
                    "dataset": None,
                    "class": None,
                    "average": None,
                }
            )
    return metrics


def _error_body(anthropic: bool, error_type: str, message: str) -> dict[str, Any]:
    if anthropic:
        return {"type": "error", "error": {"type": error_type, "message": message}}
    return {"error": {"message": message, "type": error_type, "param": None, "code": None}}


_ids = iter(range(1, 1 << 62))


def _completion(
    anthropic: bool,
    body: dict[str, Any],
    *,
    text: str | None = None,
    tool_input: dict[str, Any] | None = None,
    cut_off: bool = False,
) -> dict[str, Any]:
    number = next(_ids)
    model = body.get("model", "fake-model")
    if anthropic:
        if tool_input is not None:
            tools = body.get("tools") or [{}]
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_fake_{number}",
                    "name": tools[0].get("name", "tool"),
                    "input": tool_input,
                }
            ]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": text or ""}]
            stop = "max_tokens" if cut_off else "end_turn"
        return {
            "id": f"msg_fake_{number}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 10},
        }
    return {
        "id": f"chatcmpl-fake-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": "length" if cut_off else "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


# Helpers shared by the LLM tests and the benchmark.

# Environment variables through which the SDKs would pick another endpoint or credentials.
SDK_ENVIRONMENT = (
    "OPENAI_API_KEY",
    "OPENAI_ADMIN_KEY",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_CUSTOM_HEADERS",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_CONFIG_DIR",
    "ANTHROPIC_CUSTOM_HEADERS",
    "ANTHROPIC_IDENTITY_TOKEN",
    "ANTHROPIC_IDENTITY_TOKEN_FILE",
)
# A closed local port: a client that ever ignored its base_url would fail here instead of leaving the machine.
UNREACHABLE_BASE_URL = "http://127.0.0.1:9"


def isolate_sdk_environment(monkeypatch: Any, tmp_path: Any) -> None:
    """Clear the SDKs' credential variables and point their default endpoints at a closed local port."""
    for name in SDK_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", UNREACHABLE_BASE_URL + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", UNREACHABLE_BASE_URL)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path / "anthropic-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def isolate_process_environment() -> None:
    """Do what ``isolate_sdk_environment`` does, for a whole process such as the benchmark."""
    import os
    import tempfile

    for name in SDK_ENVIRONMENT:
        os.environ.pop(name, None)
    os.environ["OPENAI_BASE_URL"] = UNREACHABLE_BASE_URL + "/v1"
    os.environ["ANTHROPIC_BASE_URL"] = UNREACHABLE_BASE_URL
    os.environ["ANTHROPIC_CONFIG_DIR"] = tempfile.mkdtemp(prefix="fakellm-anthropic-config-")


def make_doc(path: str, outputs: list[tuple[int, str] | tuple[int, str, str]]) -> Any:
    """Build a NotebookDoc from (cell_index, text) or (cell_index, text, kind) tuples."""
    import hashlib

    from cardcheck_lab.notebooks import NotebookDoc, OutputText

    items = []
    per_cell: dict[int, int] = {}
    for entry in outputs:
        cell_index, text = entry[0], entry[1]
        kind = entry[2] if len(entry) > 2 else "stream"
        output_index = per_cell.get(cell_index, 0)
        per_cell[cell_index] = output_index + 1
        items.append(
            OutputText(cell_index, f"cell-{cell_index}", output_index, kind, text, cell_index + 1)
        )
    digest = hashlib.sha256(
        "\x00".join(f"{o.cell_index}:{o.output_index}:{o.kind}:{o.text}" for o in items).encode()
    )
    return NotebookDoc(path=path, outputs=items, warnings=[], content_hash=digest.hexdigest())
