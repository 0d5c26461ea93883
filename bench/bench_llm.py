"""Benchmark the LLM extractor's concurrency and cache through the job runner.

A fake LLM server on 127.0.0.1 answers every request after a fixed latency L.
The benchmark runs one verification job over N generated notebooks three times,
side by side in one process:

1. W workers, empty cache: compared with the ideal ceil(N / W) * L.
2. One worker, empty cache: the speed-up of run 1 over it.
3. W workers again on the unchanged notebooks: served from the cache, with no requests.

It prints a Markdown section and writes it into docs/benchmarks.md between
``<!-- llm:start -->`` and ``<!-- llm:end -->``, leaving the rest of the file alone.

    .venv/bin/python bench/bench_llm.py            # N=50, W=20, L=1 s; about a minute
    .venv/bin/python bench/bench_llm.py --no-write --notebooks 10 --single-notebooks 10
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakellm import FakeLLM, answer, isolate_process_environment

from cardcheck_lab.llm import LLMSettings
from cardcheck_lab.runner import Job, JobOptions

START_MARKER = "<!-- llm:start -->"
END_MARKER = "<!-- llm:end -->"
BENCHMARKS_FILE = ROOT / "docs" / "benchmarks.md"


@dataclass
class RunResult:
    label: str
    notebooks: int
    workers: int
    seconds: float
    requests: int
    max_in_flight: int
    llm_notes: int


def write_workspace(folder: Path, count: int) -> Path:
    """Write ``count`` notebooks, each printing one accuracy, and a card claiming the first one."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        notebook = {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "id": "evaluate",
                    "execution_count": 1,
                    "metadata": {},
                    "source": ["print(f'Test accuracy: {accuracy:.3f}')"],
                    "outputs": [
                        {
                            "output_type": "stream",
                            "name": "stdout",
                            "text": [
                                f"notebook {index:03d}\n",
                                f"Test accuracy: 0.{900 + index % 100:03d}\n",
                            ],
                        }
                    ],
                }
            ],
        }
        (folder / f"nb{index:03d}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    (folder / "MODEL_CARD.md").write_text(
        "# Model card\n\nThe model reaches a test accuracy of 0.900.\n", encoding="utf-8"
    )
    return folder


def run_job(
    label: str, workspace: Path, fake: FakeLLM, workers: int, cache_path: Path
) -> RunResult:
    settings = LLMSettings(
        provider="openai-compatible",
        model="fake-model",
        base_url=fake.openai_base_url,
        api_key="sk-bench-not-a-real-key",
        timeout=30.0,
        max_retries=0,
        cache_path=cache_path,
    )
    options = JobOptions(
        workers=workers,
        provider=settings.provider,
        model=settings.model,
        base_url=settings.base_url,
        llm=settings,
    )
    job = Job(workspace=workspace, card_path=workspace / "MODEL_CARD.md", options=options)
    fake.clear()
    started = time.perf_counter()
    report = job.run()
    seconds = time.perf_counter() - started
    if report["state"] != "done":
        raise SystemExit(f"benchmark job {label} ended as {report['state']}: {report.get('error')}")

    notes = [note for result in job.results.values() for note in result.notes]
    llm_notes = [note for note in notes if note.startswith("LLM")]
    return RunResult(
        label,
        len(job.results),
        workers,
        seconds,
        fake.request_count,
        fake.max_in_flight,
        len(llm_notes),
    )


def render(
    args: argparse.Namespace,
    warm_up: RunResult,
    parallel: RunResult,
    single: RunResult,
    cached: RunResult,
) -> str:
    ideal = math.ceil(parallel.notebooks / parallel.workers) * args.latency
    over_ideal = (parallel.seconds / ideal - 1) * 100
    single_per_notebook = single.seconds / single.notebooks
    speed_up = (single_per_notebook * parallel.notebooks) / parallel.seconds
    scaled = (
        " (scaled to N from its own per-notebook time)"
        if single.notebooks != parallel.notebooks
        else ""
    )
    lines = [
        "## LLM extraction: concurrency and cache",
        "",
        (
            f"Measured {date.today().isoformat()} with `bench/bench_llm.py` on {platform.platform()}, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs. A fake OpenAI-compatible "
            f"server on 127.0.0.1 replies to every request after L = {args.latency:g} s. Each job "
            "reads N generated notebooks through `cardcheck_lab.runner.Job` with the `openai` SDK, "
            "so the time includes reading notebooks, the rule extractor and the comparison."
        ),
        "",
        "| run | N | workers | wall time (s) | requests | max requests in flight | LLM notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in (warm_up, parallel, single, cached):
        lines.append(
            f"| {result.label} | {result.notebooks} | {result.workers} | {result.seconds:.2f} | "
            f"{result.requests} | {result.max_in_flight} | {result.llm_notes} |"
        )
    lines += [
        "",
        (
            f"- {parallel.workers} workers against the ideal ceil(N/W)·L = {ideal:.2f} s: "
            f"{parallel.seconds:.2f} s, {over_ideal:+.1f}% (target: within +10%)."
        ),
        f"- Speed-up over one worker: {speed_up:.1f}x{scaled} (target: at least 15x).",
        (
            f"- Second run on unchanged notebooks: {cached.seconds:.2f} s with {cached.requests} "
            "requests (target: under 0.5 s, no requests)."
        ),
        (
            f"- The first job in the process ({warm_up.notebooks} notebooks, one wave, ideal "
            f"{args.latency:.2f} s) took {warm_up.seconds:.2f} s. It also pays one-time imports of "
            "the SDK and cardcheck modules, so it is kept out of the comparisons above."
        ),
        "",
    ]
    return "\n".join(lines)


def write_section(section: str) -> None:
    block = f"{START_MARKER}\n{section}\n{END_MARKER}"
    if BENCHMARKS_FILE.exists():
        text = BENCHMARKS_FILE.read_text(encoding="utf-8")
    else:
        text = "# Benchmarks\n"
    start = text.find(START_MARKER)
    end = text.find(END_MARKER)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END_MARKER) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    BENCHMARKS_FILE.parent.mkdir(parents=True, exist_ok=True)
    BENCHMARKS_FILE.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--notebooks", type=int, default=50, help="N, notebooks per job (default 50)"
    )
    parser.add_argument(
        "--workers", type=int, default=20, help="W, job workers for the parallel runs (default 20)"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=1.0,
        help="L, seconds the fake server takes per reply (default 1)",
    )
    parser.add_argument(
        "--single-notebooks",
        type=int,
        default=None,
        help="notebooks for the one-worker run (default N; fewer makes it shorter and scales the speed-up)",
    )
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="print the section without writing docs/benchmarks.md",
    )
    args = parser.parse_args(argv)
    single_count = args.single_notebooks or args.notebooks

    isolate_process_environment()
    with (
        tempfile.TemporaryDirectory(prefix="cardcheck-bench-llm-") as temporary,
        FakeLLM(default=answer(delay=args.latency)) as fake,
    ):
        folder = Path(temporary)
        workspace = write_workspace(folder / "workspace", args.notebooks)
        single_workspace = workspace
        if single_count != args.notebooks:
            single_workspace = write_workspace(folder / "single", single_count)

        # The first job in a process also imports the SDK's resource modules and builds its TLS
        # context. It is timed apart, so the runs below compare steady states.
        warm_up = run_job(
            f"{args.workers} workers, first job",
            write_workspace(folder / "warm-up", args.workers),
            fake,
            args.workers,
            folder / "warm-up.sqlite",
        )
        print(f"warm-up: {warm_up}", file=sys.stderr)
        parallel = run_job(
            f"{args.workers} workers", workspace, fake, args.workers, folder / "parallel.sqlite"
        )
        print(f"parallel: {parallel}", file=sys.stderr)
        single = run_job("1 worker", single_workspace, fake, 1, folder / "single.sqlite")
        print(f"single: {single}", file=sys.stderr)
        cached = run_job(
            f"{args.workers} workers, cached",
            workspace,
            fake,
            args.workers,
            folder / "parallel.sqlite",
        )
        print(f"cached: {cached}", file=sys.stderr)

    section = render(args, warm_up, parallel, single, cached)
    print(section)
    if not args.no_write:
        write_section(section)
        print(f"wrote the LLM section of {BENCHMARKS_FILE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
