"""Measure Jupyter API latency while a CardCheck job reads hundreds of notebooks.

For each ``CardCheckApp.job_isolation`` setting, starts a Jupyter server with
the CardCheck extension on 127.0.0.1 in a temporary folder, times
``GET /api/status`` and ``GET /api/contents`` while the server is idle, then
again while one job reads a generated workspace. The medians and 99th
percentiles go into the ``server-latency`` section of docs/benchmarks.md; other
sections of that file are left as they are.

    .venv/bin/python bench/bench_server_latency.py [--notebooks 240] [--isolation process] [--no-write]

The job uses the rules extractor only (provider "none"), so its worker threads
are CPU-bound: the worst case for a server that runs them on its own threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import requests
from nbformat.v4 import new_code_cell, new_notebook, new_output

REPOSITORY = Path(__file__).resolve().parent.parent
BENCHMARKS_PAGE = REPOSITORY / "docs" / "benchmarks.md"
SECTION_START = "<!-- server-latency:start -->"
SECTION_END = "<!-- server-latency:end -->"

IDLE_SAMPLES = 200  # requests per endpoint while idle
SAMPLE_PAUSE = 0.02  # seconds between two samples
MAX_BUSY_SECONDS = 300.0  # the busy phase stops here even if the job has not ended
CELLS_PER_NOTEBOOK = 40
WORKERS = 5
ISOLATIONS = ("process", "thread")


def write_workspace(folder: Path, count: int) -> None:
    """Write ``count`` notebooks with varied metric outputs, and a card."""
    folder.mkdir(parents=True)
    for index in range(count):
        notebook = new_notebook()
        for cell_index in range(CELLS_PER_NOTEBOOK):
            lines = [
                f"epoch {cell_index}: train loss {0.5 / (cell_index + 1):.4f}",
                f"Validation AUC: 0.{700 + (index + cell_index) % 200}",
                f"Test accuracy = 0.{800 + (index * 7 + cell_index) % 150}",
                f"rows scored: {10_000 + index * 13 + cell_index:,}",
                "precision    recall  f1-score   support",
                f"    0       0.{81 + cell_index % 9}      0.77      0.79      {900 + index}",
                f"    1       0.{61 + cell_index % 9}      0.66      0.63      {300 + index}",
            ]
            cell = new_code_cell(source=f"evaluate({cell_index})", execution_count=cell_index + 1)
            cell.outputs = [new_output("stream", name="stdout", text="\n".join(lines) + "\n")]
            notebook.cells.append(cell)
        nbformat.write(notebook, str(folder / f"run_{index:03d}.ipynb"))
    (folder / "card.md").write_text(
        "# Benchmark model\n\nTest accuracy is 0.812 and validation AUC is 0.75.\n",
        encoding="utf-8",
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(base: Path, root: Path, port: int, token: str, isolation: str) -> subprocess.Popen:
    environment = dict(os.environ)
    for name in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR"):
        path = base / name.lower()
        path.mkdir()
        environment[name] = str(path)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPOSITORY), environment.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.jpserver_extensions={'cardcheck_lab': True}",
        f"--CardCheckApp.reports_dir={base / 'reports'}",
        f"--CardCheckApp.job_isolation={isolation}",
        "--ServerApp.log_level=WARN",
        # CI and the benchmark machines run as root.
        "--ServerApp.allow_root=True",
    ]
    log_file = open(base / "server.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, env=environment, stdout=log_file, stderr=subprocess.STDOUT)


def wait_until_ready(session: requests.Session, url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Jupyter server exited with code {process.returncode}")
        try:
            if session.get(url + "api/status", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the Jupyter server did not answer within 60 s")


def timed_get(session: requests.Session, url: str) -> float:
    """Return the seconds one GET took; raise if it failed."""
    started = time.perf_counter()
    response = session.get(url, timeout=30)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summarize(values: list[float]) -> dict[str, float]:
    return {
        "samples": len(values),
        "median_ms": statistics.median(values) * 1000,
        "p99_ms": percentile(values, 0.99) * 1000,
        "max_ms": max(values) * 1000,
    }


def measure(notebooks: int, isolation: str) -> dict:
    """Start a server, time requests while idle and during one job, and stop the server."""
    base = Path(tempfile.mkdtemp(prefix="cardcheck-bench-"))
    root = base / "root"
    root.mkdir()
    write_workspace(root / "workspace", notebooks)
    port = free_port()
    token = secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}/"
    process = start_server(base, root, port, token, isolation)
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    endpoints = {"GET /api/status": url + "api/status", "GET /api/contents": url + "api/contents"}
    try:
        try:
            wait_until_ready(session, url, process)
        except RuntimeError:
            log_text = (base / "server.log").read_text(encoding="utf-8", errors="replace")
            print(log_text[-3000:], file=sys.stderr)
            raise
        for endpoint in endpoints.values():
            timed_get(session, endpoint)  # warm up caches and connections

        idle: dict[str, list[float]] = {name: [] for name in endpoints}
        for _ in range(IDLE_SAMPLES):
            for name, endpoint in endpoints.items():
                idle[name].append(timed_get(session, endpoint))
            time.sleep(SAMPLE_PAUSE)

        post_started = time.perf_counter()
        response = session.post(
            url + "cardcheck/jobs",
            json={"card": "workspace/card.md", "workspace": "workspace", "workers": WORKERS},
            timeout=30,
        )
        post_seconds = time.perf_counter() - post_started
        response.raise_for_status()
        job_id = response.json()["id"]
        job_url = url + f"cardcheck/jobs/{job_id}"

        busy: dict[str, list[float]] = {name: [] for name in endpoints}
        poll_times: list[float] = []
        job_started = time.monotonic()
        state = "queued"
        while time.monotonic() - job_started < MAX_BUSY_SECONDS:
            for name, endpoint in endpoints.items():
                busy[name].append(timed_get(session, endpoint))
            started = time.perf_counter()
            snapshot = session.get(job_url, params={"since": 10**9}, timeout=30).json()
            poll_times.append(time.perf_counter() - started)
            state = snapshot["state"]
            if state not in ("queued", "running"):
                break
            time.sleep(SAMPLE_PAUSE)
        job_seconds = time.monotonic() - job_started
        final = session.get(job_url, timeout=30).json()
    finally:
        session.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(base, ignore_errors=True)

    return {
        "isolation": isolation,
        "notebooks": notebooks,
        "cells_per_notebook": CELLS_PER_NOTEBOOK,
        "state": state,
        "processed": final.get("processed"),
        "job_seconds": job_seconds,
        "post_ms": post_seconds * 1000,
        "idle": {name: summarize(values) for name, values in idle.items()},
        "busy": {name: summarize(values) for name, values in busy.items()},
        "job_poll": summarize(poll_times),
    }


def render_section(results: list[dict]) -> str:
    """Return the Markdown of the server-latency section, markers included."""
    machine = (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    first = results[0]
    lines = [
        SECTION_START,
        "## Server latency during a job",
        "",
        f"Measured by `bench/bench_server_latency.py` on {time.strftime('%Y-%m-%d')} ({machine}).",
        (
            f"Each run starts a Jupyter server on 127.0.0.1 and times requests while it is idle, "
            f"then while one job reads {first['notebooks']} generated notebooks "
            f"({first['cells_per_notebook']} output cells each) with the rules extractor and "
            f"{WORKERS} workers. Requests go one at a time from one client, 20 ms apart."
        ),
        (
            "`job_isolation` is the CardCheckApp setting: `process` runs the job in a child "
            "process (the default), `thread` on a thread of the server process."
        ),
        "",
        "| job_isolation | request | phase | samples | median (ms) | p99 (ms) | max (ms) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for result in results:
        isolation = result["isolation"]
        for name in result["idle"]:
            for phase, label in (("idle", "idle"), ("busy", "during the job")):
                figures = result[phase][name]
                lines.append(
                    f"| {isolation} | {name} | {label} | {figures['samples']} "
                    f"| {figures['median_ms']:.1f} | {figures['p99_ms']:.1f} "
                    f"| {figures['max_ms']:.1f} |"
                )
        poll = result["job_poll"]
        lines.append(
            f"| {isolation} | GET /cardcheck/jobs/{{id}}?since=N | during the job "
            f"| {poll['samples']} | {poll['median_ms']:.1f} | {poll['p99_ms']:.1f} "
            f"| {poll['max_ms']:.1f} |"
        )
    lines += [
        "",
        "| job_isolation | job state | notebooks read | job time (s) | POST /cardcheck/jobs (ms) |",
    ]
    lines.append("|---|---|---:|---:|---:|")
    for result in results:
        lines.append(
            f"| {result['isolation']} | {result['state']} | {result['processed']} "
            f"| {result['job_seconds']:.1f} | {result['post_ms']:.1f} |"
        )
    lines += [
        "",
        (
            "Reading notebooks is CPU-bound Python. On a thread, the job's workers share the "
            "GIL with the server's event loop, which is what the `thread` rows show."
        ),
        (
            "With 100 to 200 samples per row, p99 is close to the maximum and varies from run "
            "to run, more so when other programs load the machine."
        ),
        SECTION_END,
    ]
    return "\n".join(lines)


def write_section(section: str, page: Path = BENCHMARKS_PAGE) -> None:
    """Replace the server-latency section of the page, or append it when missing."""
    text = page.read_text(encoding="utf-8") if page.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(SECTION_START) + r".*?" + re.escape(SECTION_END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=240, help="notebooks in the workspace")
    parser.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        action="append",
        help="job_isolation to measure; repeat for several (default: all)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the figures without editing the docs page"
    )
    arguments = parser.parse_args()

    results = [
        measure(arguments.notebooks, isolation) for isolation in arguments.isolation or ISOLATIONS
    ]
    print(json.dumps(results, indent=2))
    if not arguments.no_write:
        write_section(render_section(results))
        print(f"wrote the server-latency section of {BENCHMARKS_PAGE.relative_to(REPOSITORY)}")


if __name__ == "__main__":
    main()
