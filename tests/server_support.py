"""Helpers shared by the server extension tests (tests/test_server_*.py)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from nbformat.v4 import new_code_cell, new_notebook, new_output
from tornado.httpclient import HTTPClientError

EXTENSION_MODULE = "cardcheck_lab"
REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE_WORKSPACE = REPOSITORY / "examples" / "credit-scoring"
TERMINAL_STATES = {"done", "failed", "cancelled", "interrupted"}


def server_config(reports_dir: Path, **traits: Any) -> dict[str, Any]:
    """Return a jp_server_config that enables the extension with its own reports folder."""
    return {
        "ServerApp": {"jpserver_extensions": {EXTENSION_MODULE: True}},
        "CardCheckApp": {
            "reports_dir": str(reports_dir),
            "cache_dir": str(reports_dir.parent / "cache"),
            "checkpoint_interval": 0.2,
            "shutdown_timeout": 20.0,
            **traits,
        },
    }


def set_isolation(serverapp: Any, isolation: str) -> None:
    """Make the running extension start later jobs in a child process or on a thread."""
    serverapp.web_app.settings["cardcheck_lab"].manager.engine.isolation = isolation


def write_notebook(path: Path, *stream_texts: str) -> Path:
    """Write a notebook with one code cell per text, each holding a stdout stream output."""
    notebook = new_notebook()
    for index, text in enumerate(stream_texts):
        cell = new_code_cell(source=f"print(result_{index})", execution_count=index + 1)
        cell.outputs = [new_output("stream", name="stdout", text=text)]
        notebook.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def body_of(response: Any) -> Any:
    return json.loads(response.body.decode("utf-8"))


async def fetch_error(fetch_call: Any) -> tuple[int, dict[str, Any]]:
    """Await a request expected to fail; return its status and JSON body."""
    with pytest.raises(HTTPClientError) as info:
        await fetch_call
    response = info.value.response
    assert response is not None, f"no response for the failed request: {info.value}"
    content_type = response.headers.get("Content-Type", "")
    assert content_type.startswith("application/json"), (
        f"error body is {content_type!r}, not JSON: {response.body[:200]!r}"
    )
    return info.value.code, json.loads(response.body.decode("utf-8"))


async def post_job(jp_fetch: Any, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = await jp_fetch("cardcheck", "jobs", method="POST", body=json.dumps(body), **kwargs)
    assert response.code == 202
    return body_of(response)


async def get_snapshot(jp_fetch: Any, job_id: str, since: int = 0) -> dict[str, Any]:
    params = {"since": str(since)} if since else None
    response = await jp_fetch("cardcheck", "jobs", job_id, params=params)
    return body_of(response)


async def wait_for_state(
    jp_fetch: Any, job_id: str, states: set[str] = TERMINAL_STATES, timeout: float = 60.0
) -> dict[str, Any]:
    """Poll the job until its state is one of ``states``; return the last snapshot."""
    deadline = time.monotonic() + timeout
    while True:
        snapshot = await get_snapshot(jp_fetch, job_id)
        if snapshot["state"] in states:
            return snapshot
        if time.monotonic() > deadline:
            raise AssertionError(
                f"job {job_id} still {snapshot['state']} after {timeout} s "
                f"({snapshot.get('processed')}/{snapshot.get('total')} notebooks)"
            )
        await asyncio.sleep(0.1)


def parse_sse(text: str) -> list[tuple[int | None, dict[str, Any]]]:
    """Split a Server-Sent Events body into (id, JSON data) pairs."""
    messages = []
    for block in text.split("\n\n"):
        event_id = None
        data_lines = []
        for line in block.splitlines():
            if line.startswith("id:"):
                event_id = int(line[3:].strip())
            elif line.startswith("data:"):
                data_lines.append(line[5:].strip())
        if data_lines:
            messages.append((event_id, json.loads("\n".join(data_lines))))
    return messages


class ServerProcess:
    """A Jupyter server with the extension, run as a separate process on 127.0.0.1."""

    def __init__(self, base: Path, root: Path, reports_dir: Path, *extra_args: str) -> None:
        self.base = base
        self.root = root
        self.reports_dir = reports_dir
        self.extra_args = extra_args
        self.token = secrets.token_hex(16)
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> ServerProcess:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        environment = dict(os.environ)
        for name in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR"):
            folder = self.base / name.lower()
            folder.mkdir(parents=True, exist_ok=True)
            environment[name] = str(folder)
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(REPOSITORY), environment.get("PYTHONPATH")) if part
        )
        command = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.jpserver_extensions={'cardcheck_lab': True}",
            f"--CardCheckApp.reports_dir={self.reports_dir}",
            f"--CardCheckApp.cache_dir={self.base / 'cache'}",
            *self.extra_args,
        ]
        log = open(self.base / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(command, env=environment, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with code {self.process.returncode}")
            try:
                if self.request("GET", "api/status").status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError("the server did not answer within 60 s")

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def kill(self) -> None:
        """End the server with SIGKILL, as a crash would, without any shutdown code."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def job_processes_of(marker: str) -> list[int]:
    """Return the ids of CardCheck job processes whose environment contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            environment = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"cardcheck_lab.job_process" in command and marker.encode() in environment:
            found.append(int(entry.name))
    return found
