"""Helpers of the browser tests: a JupyterLab server on 127.0.0.1 and the Chromium to drive it.

The tests use the Chromium of the system (``/usr/bin/chromium`` unless
``CARDCHECK_CHROMIUM`` names another binary) through Python Playwright; they
never download a browser. Every test here is marked ``browser`` and is skipped
when Playwright or Chromium is missing.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_WORKSPACE = REPO_ROOT / "examples" / "credit-scoring"
CHROMIUM = os.environ.get("CARDCHECK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
]
# Seconds to wait for `jupyter lab` to return 200 on /api/status.
SERVER_START_TIMEOUT = 90.0


@dataclass
class LabServer:
    """A running `jupyter lab` process and how to reach it."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def lab_url(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(server: LabServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    status_url = f"{server.url}api/status?token={server.token}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited with code {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"jupyter lab did not respond to {status_url} within {SERVER_START_TIMEOUT} s:\n"
        f"{server.log_tail()}"
    )


def check_server_extension(server: LabServer) -> int:
    """Return the HTTP status of `GET cardcheck/version` on `server`."""
    url = f"{server.url}cardcheck/version?token={server.token}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def start_lab(tmp_dir: Path, *extra_args: str) -> LabServer:
    """Start `jupyter lab` on a copy of the credit-scoring example.

    Settings, workspaces, runtime files and reports go to `tmp_dir`, so the
    user's own JupyterLab state is neither read nor changed.
    """
    if not EXAMPLE_WORKSPACE.is_dir():
        pytest.skip(f"the example workspace {EXAMPLE_WORKSPACE} is missing")
    root = tmp_dir / "credit-scoring"
    shutil.copytree(EXAMPLE_WORKSPACE, root)
    for name in ("settings", "workspaces", "runtime", "config", "reports"):
        (tmp_dir / name).mkdir()

    # No news feed, update check or PyPI extension manager: the server must
    # not reach any host but 127.0.0.1.
    (tmp_dir / "config" / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "LabApp": {
                    "news_url": None,
                    "check_for_updates_class": (
                        "jupyterlab.handlers.announcements.NeverCheckForUpdate"
                    ),
                    "extension_manager": "readonly",
                }
            }
        )
    )

    port = _free_port()
    token = secrets.token_hex(16)
    log_path = tmp_dir / "jupyter-lab.log"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_dir / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_dir / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_dir / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_dir / "workspaces"),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        f"--CardCheckApp.reports_dir={tmp_dir / 'reports'}",
        *extra_args,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = LabServer(
        url=f"http://127.0.0.1:{port}/",
        token=token,
        root=root,
        process=process,
        log_path=log_path,
    )
    try:
        _wait_until_ready(server)
    except Exception:
        stop_lab(server)
        raise
    return server


def stop_lab(server: LabServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
