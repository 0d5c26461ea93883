"""Runner: the thread pool, failure isolation, events, cancellation and read-only access."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from conftest import EXAMPLE_WORKSPACE, run_job, write_stream_notebook

from cardcheck_lab import runner
from cardcheck_lab.runner import Job, JobOptions

CARD = "# Card\n\nThe test ROC-AUC is 0.81.\n"


def make_workspace(root: Path, count: int) -> list[str]:
    names = [f"nb_{index:02d}.ipynb" for index in range(count)]
    for index, name in enumerate(names):
        write_stream_notebook(root / name, f"Test ROC-AUC: 0.{80 + index}\n")
    return names


@pytest.fixture
def slow_reads(monkeypatch):
    """Make every notebook read take 50 ms and record how many run at once."""
    lock = threading.Lock()
    state = {"active": 0, "peak": 0, "threads": set()}
    real_read = runner.read_notebook

    def slow_read(path, relative):
        with lock:
            state["active"] += 1
            state["peak"] = max(state["peak"], state["active"])
            state["threads"].add(threading.current_thread().name)
        try:
            time.sleep(0.05)
            return real_read(path, relative)
        finally:
            with lock:
                state["active"] -= 1

    monkeypatch.setattr(runner, "read_notebook", slow_read)
    return state


def test_pool_processes_every_notebook(workspace, slow_reads):
    names = make_workspace(workspace, 12)
    report = run_job(workspace, CARD, workers=4)
    assert [n["path"] for n in report["notebooks"]] == names
    assert {n["status"] for n in report["notebooks"]} == {"done"}


def test_pool_uses_workers_in_parallel(workspace, slow_reads):
    make_workspace(workspace, 12)
    run_job(workspace, CARD, workers=4)
    assert slow_reads["peak"] <= 4
    assert slow_reads["peak"] >= 2
    assert len(slow_reads["threads"]) <= 4


def test_single_worker_reads_serially(workspace, slow_reads):
    make_workspace(workspace, 4)
    run_job(workspace, CARD, workers=1)
    assert slow_reads["peak"] == 1


def test_broken_notebook_fails_alone(workspace):
    make_workspace(workspace, 3)
    broken = workspace / "broken.ipynb"
    broken.write_bytes(b'{"cells": [{"outputs": [')
    report = run_job(workspace, CARD, workers=2)
    statuses = {n["path"]: (n["status"], n["error"]) for n in report["notebooks"]}
    assert statuses["broken.ipynb"] == (
        "failed",
        f"JSON ends early at byte {broken.stat().st_size}",
    )
    assert [s for path, (s, _) in statuses.items() if path != "broken.ipynb"] == [
        "done",
        "done",
        "done",
    ]


def test_broken_notebook_keeps_verdicts(workspace):
    make_workspace(workspace, 2)
    (workspace / "broken.ipynb").write_bytes(b"")
    report = run_job(workspace, CARD)
    assert report["state"] == "done"
    assert report["claims"][0]["verdict"] == "verified"


def test_unexpected_error_fails_one_notebook(workspace, monkeypatch):
    make_workspace(workspace, 3)
    real_extract = runner.extract_rules

    def flaky_extract(doc):
        if doc.path == "nb_01.ipynb":
            raise RuntimeError("extractor bug")
        return real_extract(doc)

    monkeypatch.setattr(runner, "extract_rules", flaky_extract)
    report = run_job(workspace, CARD)
    statuses = {n["path"]: (n["status"], n["error"]) for n in report["notebooks"]}
    assert statuses["nb_01.ipynb"] == ("failed", "internal error: RuntimeError: extractor bug")
    assert statuses["nb_00.ipynb"][0] == "done"
    assert statuses["nb_02.ipynb"][0] == "done"


def test_events_seq_increasing(workspace):
    make_workspace(workspace, 6)
    seen = []
    job = Job(workspace=workspace, card_text=CARD, options=JobOptions(workers=3))
    job.subscribe(lambda event: seen.append(event["seq"]))
    job.run()
    assert seen == list(range(1, len(seen) + 1))
    assert [event["seq"] for event in job.events()] == seen


def test_events_cover_each_notebook(workspace):
    names = make_workspace(workspace, 4)
    job = Job(workspace=workspace, card_text=CARD, options=JobOptions(workers=2))
    job.run()
    finished = [e for e in job.events() if e["type"] == "notebook" and "index" in e]
    assert sorted(e["path"] for e in finished) == names
    assert [e["index"] for e in finished] == [1, 2, 3, 4]
    assert {e["total"] for e in finished} == {4}


def test_events_end_with_job_state(workspace):
    make_workspace(workspace, 2)
    job = Job(workspace=workspace, card_text=CARD)
    job.run()
    last = job.events()[-1]
    assert last["type"] == "job"
    assert last["state"] == "done"


def test_events_since(workspace):
    make_workspace(workspace, 2)
    job = Job(workspace=workspace, card_text=CARD)
    job.run()
    assert [e["seq"] for e in job.events(since=3)] == list(range(4, job.seq + 1))


def test_cancel_from_subscriber(workspace, slow_reads):
    names = make_workspace(workspace, 8)
    job = Job(workspace=workspace, card_text=CARD, options=JobOptions(workers=1))
    started_before_cancel: set[str] = set()
    cancelled = threading.Event()

    def listener(event):
        if event["type"] != "notebook" or cancelled.is_set():
            return
        if event["status"] == "running":
            started_before_cancel.add(event["path"])
        if "index" in event:
            # Cancel the job before setting the local flag: a notebook whose "running" event
            # comes after the flag then finds the job cancelled before it reads anything.
            job.cancel()
            cancelled.set()

    job.subscribe(listener)
    report = job.run()

    statuses = {n["path"]: n["status"] for n in report["notebooks"]}
    assert report["state"] == "cancelled"
    assert statuses[names[0]] == "done"
    never_started = [path for path in names if path not in started_before_cancel]
    assert never_started
    assert {statuses[path] for path in never_started} == {"cancelled"}


def test_cancel_counts_every_notebook(workspace, slow_reads):
    make_workspace(workspace, 6)
    job = Job(workspace=workspace, card_text=CARD, options=JobOptions(workers=1))
    job.subscribe(lambda event: job.cancel() if "index" in event else None)
    report = job.run()
    assert len(report["notebooks"]) == 6
    assert {n["status"] for n in report["notebooks"]} <= {"done", "cancelled"}
    assert report["summary"]["notebooks_cancelled"] >= 4


def test_final_message_counts(workspace):
    make_workspace(workspace, 3)
    (workspace / "broken.ipynb").write_bytes(b"not json")
    report = run_job(workspace, CARD)
    evidence = sum(n["evidence_count"] for n in report["notebooks"])
    assert evidence == 3
    assert report["message"] == "Extracted 3 metrics from 4 notebooks (1 failed)"


def test_final_message_on_example():
    report = run_job(
        EXAMPLE_WORKSPACE, (EXAMPLE_WORKSPACE / "MODEL_CARD.md").read_text(encoding="utf-8")
    )
    evidence = sum(n["evidence_count"] for n in report["notebooks"])
    assert report["message"] == f"Extracted {evidence} metrics from 5 notebooks (1 failed)"


def test_notebooks_never_modified():
    files = sorted(EXAMPLE_WORKSPACE.glob("*.ipynb"))
    before = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in files}
    run_job(
        EXAMPLE_WORKSPACE,
        (EXAMPLE_WORKSPACE / "MODEL_CARD.md").read_text(encoding="utf-8"),
        workers=5,
    )
    after = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in files}
    assert after == before


def test_workspace_gains_no_files(workspace):
    make_workspace(workspace, 2)
    before = sorted(os.listdir(workspace))
    run_job(workspace, CARD)
    assert sorted(os.listdir(workspace)) == before


def test_missing_workspace_fails_job(tmp_path):
    report = run_job(tmp_path / "absent", CARD)
    assert report["state"] == "failed"
    assert report["error"] == f"workspace folder not found: {tmp_path / 'absent'}"


def test_card_without_claims_fails_job(workspace):
    make_workspace(workspace, 1)
    report = run_job(workspace, "# Card\n\nVersion 2, trained in 2023.\n")
    assert report["state"] == "failed"
    assert report["error"].startswith("no metric claims found in card.md")


def test_selected_notebooks_only(workspace):
    make_workspace(workspace, 3)
    report = run_job(workspace, CARD, notebooks=["nb_02.ipynb"])
    assert [n["path"] for n in report["notebooks"]] == ["nb_02.ipynb"]


def test_unknown_selected_notebook_rejected(workspace):
    make_workspace(workspace, 1)
    report = run_job(workspace, CARD, notebooks=["missing.ipynb"])
    assert report["state"] == "failed"
    assert report["error"] == "notebook not found in the workspace: missing.ipynb"


def test_symlink_outside_listed_skipped(tmp_path):
    root = tmp_path / "ws"
    make_workspace(root, 1)
    write_stream_notebook(tmp_path / "outside_ws" / "secret.ipynb", "Test ROC-AUC: 0.99\n")
    os.symlink(tmp_path / "outside_ws", root / "linked")
    report = run_job(root, CARD)
    skipped = [n for n in report["notebooks"] if n["status"] == "skipped"]
    assert [(n["path"], n["error"]) for n in skipped] == [
        ("linked/", "outside workspace (symlink)")
    ]
    values = [e["value"] for c in report["claims"] for e in c["evidence"]]
    assert 0.99 not in values
