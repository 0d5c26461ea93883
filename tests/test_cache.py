"""The notebook cache, the lean reader and the worker processes give the results a plain read gives."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import orjson
import pytest
from conftest import (
    EXAMPLE_WORKSPACE,
    REPO_ROOT,
    code_cell,
    display_data,
    markdown_cell,
    notebook,
    stream,
    write_json,
    write_stream_notebook,
)

from cardcheck_lab import cache, runner, scan
from cardcheck_lab.model import Evidence, Interval, NotebookResult, Spread
from cardcheck_lab.notebooks import NotebookError, read_notebook
from cardcheck_lab.runner import Job, JobOptions

sys.path.insert(0, str(REPO_ROOT / "bench"))
import generate_workspace

CARD = "# Card\n\nThe test ROC-AUC is 0.81 and the test accuracy is 0.87.\n"


def run(workspace: Path, card_text: str = CARD, **options) -> dict:
    job = Job(
        workspace=workspace,
        card_text=card_text,
        card_label="card.md",
        options=JobOptions(**options),
    )
    return job.run()


def comparable(report: dict) -> tuple:
    """The report without timings, which differ from run to run."""
    notebooks = [{k: v for k, v in n.items() if k != "seconds"} for n in report["notebooks"]]
    return report["claims"], notebooks, report["summary"], report["message"]


def png_output(size: int) -> dict:
    payload = base64.b64encode(os.urandom(size)).decode("ascii") + "\n"
    return display_data({"image/png": payload, "text/plain": ["<Figure size 640x480 with 1 Axes>"]})


@pytest.fixture
def count_reads(monkeypatch):
    """Count the notebooks read by the lean reader (the cached path's only reader)."""
    calls: list[str] = []
    real = scan._read_doc

    def counted(path, relative, stamps):
        calls.append(relative)
        return real(path, relative, stamps)

    monkeypatch.setattr(scan, "_read_doc", counted)
    return calls


# --- the lean reader -------------------------------------------------------------


def strip(data: bytes, size: int | None = None) -> bytes:
    chunks = [data] if size is None else [data[i : i + size] for i in range(0, len(data), size)]
    return bytes(scan.strip_binary(chunks))


def test_strip_drops_base64_payloads():
    document = {"data": {"image/png": "iVBORw0KGgo=\n", "text/plain": ["<Figure>"]}, "x": 1}
    stripped = orjson.loads(strip(json.dumps(document).encode()))
    assert stripped == {"data": {"image/png": "", "text/plain": ["<Figure>"]}, "x": 1}


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 130, 4096])
def test_strip_is_the_same_for_every_chunk_size(size):
    doc = notebook(
        code_cell(png_output(3000), stream("AUC: 0.80\n"), png_output(10)),
        code_cell(display_data({"application/pdf": base64.b64encode(b"%PDF" * 50).decode()})),
        code_cell(source='x = {"image/png": "AAAA"}  # quoted in code', execution_count=2),
    )
    data = json.dumps(doc, indent=1).encode()
    assert strip(data, size) == strip(data)
    assert (
        orjson.loads(strip(data, size))["cells"][2]["source"]
        == 'x = {"image/png": "AAAA"}  # quoted in code'
    )


def test_strip_keeps_what_is_not_base64():
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>AUC 0.80</text></svg>'
    escaped_backslash = (
        "AAAA\\\\nBBBB"  # Escaped backslashes before n, which make no newline escape.
    )
    data = json.dumps({"a": {"image/svg+xml": svg}, "b": {"image/png": escaped_backslash}}).encode()
    assert orjson.loads(strip(data)) == orjson.loads(data)


def test_strip_keeps_an_escaped_key():
    data = json.dumps({"text": 'print("\\"image/png\\": \\"AAAA\\"")'}).encode()
    assert strip(data) == data


def test_strip_allows_space_around_the_colon():
    data = b'{"image/jpeg" :\n  "/9j/4AAQ\\nSkZJRg=="}'
    assert orjson.loads(strip(data)) == {"image/jpeg": ""}


def test_strip_keeps_a_payload_cut_short():
    data = b'{"cells": [{"data": {"image/png": "iVBORw0KGgoAAAANS'
    assert strip(data, 5) == data


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def outcome_of(read, *args):
    try:
        return read(*args)
    except NotebookError as error:
        return f"NotebookError: {error}"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b'{"cells": [{"outputs": [',
        b'{"cells": [{"data": {"image/png": "iVBORw0KGgoAAAANS',
        b"\xef\xbb\xbf" + json.dumps(notebook(code_cell(stream("AUC: 0.80\n")))).encode(),
        json.dumps(notebook(code_cell(stream("AUC: 0.80\n")))).encode().replace(b"AUC", b"\xe9UC"),
        b"<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> branch\n",
        b"[1, 2]",
        json.dumps(
            {
                "nbformat": 3,
                "nbformat_minor": 0,
                "worksheets": [
                    {
                        "cells": [
                            {
                                "cell_type": "code",
                                "outputs": [
                                    {"output_type": "pyout", "text": ["AUC 0.80"], "png": "iVBO"}
                                ],
                            }
                        ]
                    }
                ],
            }
        ).encode(),
    ],
    ids=["empty", "blank", "cut", "cut-in-image", "bom", "latin1", "conflict", "list", "nbformat3"],
)
def test_lean_read_fails_and_succeeds_like_read_notebook(tmp_path, data):
    path = write_bytes(tmp_path / "nb.ipynb", data)
    expected = outcome_of(read_notebook, path, "nb.ipynb")
    assert outcome_of(lambda p, r: scan.read_doc(p, r)[0], path, "nb.ipynb") == expected


def test_lean_read_of_generated_notebooks(tmp_path):
    generated = generate_workspace.generate_workspace(tmp_path / "ws", notebooks=12, total_mb=3)
    for path in generated.notebooks:
        relative = str(path.relative_to(generated.root))
        doc, stamp = scan.read_doc(path, relative)
        assert doc == read_notebook(path, relative)
        assert stamp.size == path.stat().st_size


def test_lean_read_never_holds_the_plots(tmp_path):
    doc = notebook(
        *[code_cell(png_output(1_500_000), stream(f"AUC: 0.{80 + i}\n")) for i in range(16)]
    )
    path = write_json(tmp_path / "plots.ipynb", doc)
    size = path.stat().st_size
    assert size > 30_000_000
    tracemalloc.start()
    try:
        lean, _ = scan.read_doc(path, "plots.ipynb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size / 2
    assert lean == read_notebook(path, "plots.ipynb")


# --- encoding ----------------------------------------------------------------------


def test_result_encoding_round_trips():
    item = Evidence(
        notebook="a.ipynb",
        cell_index=1,
        cell_id=None,
        output_index=0,
        metric="roc_auc",
        value=0.81,
        unit="fraction",
        text="AUC 0.81 ± 0.02 [0.77, 0.85]",
        token="0.81",
        qualifiers={"split": "test"},
        spread=Spread(0.02, "std"),
        interval=Interval(0.77, 0.85, "95% CI"),
        execution_count=3,
        derived_from=[{"formula": "f", "value": 1.5}],
    )
    result = NotebookResult("a.ipynb", "done", warnings=["w"], evidence=[item], seconds=1.25)
    payload = cache.encode_result_checked(result)
    assert payload is not None
    assert cache.decode_result("a.ipynb", payload, 1.25) == result


def test_encoding_rejects_nan_value():
    item = Evidence(
        notebook="a.ipynb",
        cell_index=1,
        cell_id=None,
        output_index=0,
        metric="mae",
        value=float("nan"),
        unit="value",
        text="MAE nan",
    )
    assert cache.encode_result_checked(NotebookResult("a.ipynb", "done", evidence=[item])) is None


# --- the cache in a job ------------------------------------------------------------


@pytest.fixture
def generated(tmp_path):
    """A small workspace of realistic notebooks and the card written for them."""
    return generate_workspace.generate_workspace(tmp_path / "ws", notebooks=16, total_mb=2)


def test_verdicts_identical_with_and_without_cache(generated, tmp_path):
    card = generated.card.read_text(encoding="utf-8")
    plain = run(generated.root, card, use_cache=False)
    first = run(generated.root, card, cache_dir=str(tmp_path / "cache"))
    second = run(generated.root, card, cache_dir=str(tmp_path / "cache"))
    assert comparable(first) == comparable(plain)
    assert comparable(second) == comparable(plain)
    assert {c["verdict"] for c in plain["claims"]} == {"verified", "mismatch"}


def test_example_identical_with_and_without_cache(tmp_path):
    card = (EXAMPLE_WORKSPACE / "MODEL_CARD.md").read_text(encoding="utf-8")
    plain = run(EXAMPLE_WORKSPACE, card, use_cache=False)
    for _ in range(2):
        assert comparable(
            run(EXAMPLE_WORKSPACE, card, cache_dir=str(tmp_path / "cache"))
        ) == comparable(plain)


def test_unchanged_notebooks_are_not_read_again(generated, tmp_path, count_reads, monkeypatch):
    card = generated.card.read_text(encoding="utf-8")
    first = run(generated.root, card, cache_dir=str(tmp_path / "cache"))
    assert len(count_reads) == 16
    monkeypatch.setattr(runner, "compare", lambda *args: pytest.fail("verdicts not reused"))
    second = run(generated.root, card, cache_dir=str(tmp_path / "cache"))
    assert len(count_reads) == 16
    assert comparable(second) == comparable(first)


def test_one_changed_notebook_is_read_again(workspace, tmp_path, count_reads):
    for index in range(4):
        write_stream_notebook(workspace / f"nb_{index}.ipynb", f"Test ROC-AUC: 0.{70 + index}\n")
    before = run(workspace, cache_dir=str(tmp_path / "cache"))
    write_stream_notebook(workspace / "nb_2.ipynb", "Test ROC-AUC: 0.81\n")
    count_reads.clear()
    report = run(workspace, cache_dir=str(tmp_path / "cache"))
    assert count_reads == ["nb_2.ipynb"]
    assert (before["claims"][0]["verdict"], report["claims"][0]["verdict"]) == (
        "mismatch",
        "conflicting",
    )
    assert comparable(report) == comparable(run(workspace, use_cache=False))


def test_cache_rehashes_recently_written_file(workspace, tmp_path, count_reads):
    path = write_stream_notebook(workspace / "nb.ipynb", "Test ROC-AUC: 0.70\n")
    run(workspace, cache_dir=str(tmp_path / "cache"))
    status = path.stat()
    write_stream_notebook(path, "Test ROC-AUC: 0.81\n")  # same length
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert path.stat().st_size == status.st_size
    report = run(workspace, cache_dir=str(tmp_path / "cache"))
    assert report["claims"][0]["verdict"] == "verified"


def test_touched_but_unchanged_notebook_comes_from_the_cache(workspace, tmp_path, count_reads):
    path = write_stream_notebook(workspace / "nb.ipynb", "Test ROC-AUC: 0.81\n")
    run(workspace, cache_dir=str(tmp_path / "cache"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    count_reads.clear()
    run(workspace, cache_dir=str(tmp_path / "cache"))
    assert count_reads == []


def test_engine_change_invalidates(workspace, tmp_path, count_reads, monkeypatch):
    write_stream_notebook(workspace / "nb.ipynb", "Test ROC-AUC: 0.81\n")
    run(workspace, cache_dir=str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_engine_digest", "another-engine")
    count_reads.clear()
    run(workspace, cache_dir=str(tmp_path / "cache"))
    assert count_reads == ["nb.ipynb"]


def test_engine_fingerprint_covers_engine_sources():
    cache._engine_digest = None
    assert cache.engine_fingerprint() == cache.engine_fingerprint()
    assert len(cache.engine_fingerprint()) == 32


def test_replaced_engine_function_is_not_cached(workspace, tmp_path, monkeypatch):
    write_stream_notebook(workspace / "nb.ipynb", "Test ROC-AUC: 0.81\n")
    monkeypatch.setattr(runner, "extract_rules", lambda doc: [])
    assert (
        run(workspace, cache_dir=str(tmp_path / "cache"))["claims"][0]["verdict"] == "no_evidence"
    )
    assert not (tmp_path / "cache").exists()
    monkeypatch.undo()
    assert run(workspace, cache_dir=str(tmp_path / "cache"))["claims"][0]["verdict"] == "verified"


def test_failed_notebook_is_cached_with_its_reason(workspace, tmp_path, count_reads):
    (workspace / "broken.ipynb").write_bytes(b'{"cells": [')
    write_stream_notebook(workspace / "nb.ipynb", "Test ROC-AUC: 0.81\n")
    first = run(workspace, cache_dir=str(tmp_path / "cache"))
    count_reads.clear()
    second = run(workspace, cache_dir=str(tmp_path / "cache"))
    assert count_reads == []
    assert comparable(second) == comparable(first)
    assert first["notebooks"][0]["error"] == "JSON ends early at byte 11"


def test_no_cache_writes_nothing(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_stream_notebook(workspace / "nb.ipynb", "Test ROC-AUC: 0.81\n")
    run(workspace, use_cache=False)
    assert not (tmp_path / "xdg").exists()
    run(workspace)
    assert (tmp_path / "xdg" / "cardcheck" / cache.CACHE_FILE).is_file()


def test_unusable_cache_folder_does_not_fail_the_job(workspace, tmp_path):
    write_stream_notebook(workspace / "nb.ipynb", "Test ROC-AUC: 0.81\n")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    report = run(workspace, cache_dir=str(blocker))
    assert report["state"] == "done"
    assert report["claims"][0]["verdict"] == "verified"


def test_damaged_cache_file_is_replaced(workspace, tmp_path):
    write_stream_notebook(workspace / "nb.ipynb", "Test ROC-AUC: 0.81\n")
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / cache.CACHE_FILE).write_bytes(b"this is not a database" * 100)
    assert run(workspace, cache_dir=str(folder))["claims"][0]["verdict"] == "verified"
    with sqlite3.connect(folder / cache.CACHE_FILE) as connection:
        assert connection.execute("SELECT COUNT(*) FROM notebooks").fetchone()[0] == 1


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.default_cache_dir() == tmp_path / "cardcheck"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.default_cache_dir() == Path.home() / ".cache" / "cardcheck"


def test_cli_cache_options(tmp_path):
    script = Path(sys.executable).parent / "cardcheck"
    card = EXAMPLE_WORKSPACE / "MODEL_CARD.md"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}

    def cardcheck(*args):
        return subprocess.run(
            [str(script), "verify", str(card), "--quiet", "--format", "json", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )

    chosen = tmp_path / "chosen"
    with_dir = cardcheck("--cache-dir", str(chosen))
    assert (chosen / cache.CACHE_FILE).is_file()
    without = cardcheck("--no-cache")
    assert not (tmp_path / "xdg").exists()
    assert json.loads(with_dir.stdout)["claims"] == json.loads(without.stdout)["claims"]
    both = cardcheck("--no-cache", "--cache-dir", str(chosen))
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


# --- worker processes ----------------------------------------------------------------


@pytest.fixture
def forced_processes(monkeypatch):
    """Use worker processes for any workspace, and record which notebooks ran in one."""
    monkeypatch.setattr(scan, "PROCESS_MIN_BYTES", 0)
    in_process: list[str] = []
    real = scan.WorkerPool.run

    def recording(self, workspace, relative, cancel):
        outcome = real(self, workspace, relative, cancel)
        if outcome is not None:
            in_process.append(relative)
        return outcome

    monkeypatch.setattr(scan.WorkerPool, "run", recording)
    return in_process


def test_worker_processes_give_the_same_report(generated, forced_processes, monkeypatch):
    card = generated.card.read_text(encoding="utf-8")
    in_processes = run(generated.root, card, use_cache=False)
    assert len(forced_processes) == 16
    forced_processes.clear()
    monkeypatch.setattr(scan, "process_count", lambda paths, workspace: 0)
    on_threads = run(generated.root, card, use_cache=False)
    assert forced_processes == []
    assert comparable(in_processes) == comparable(on_threads)


def test_process_count_is_cpus_or_notebooks(tmp_path, monkeypatch):
    for index in range(3):
        (tmp_path / f"nb{index}.ipynb").write_bytes(b" " * 2048)
    paths = [f"nb{index}.ipynb" for index in range(3)]
    monkeypatch.setattr(scan, "PROCESS_MIN_BYTES", 4096)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert scan.process_count(paths, tmp_path) == 2
    assert scan.process_count(paths[:1], tmp_path) == 0  # One notebook stays on its thread.
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert scan.process_count(paths, tmp_path) == 3
    monkeypatch.setattr(scan, "PROCESS_MIN_BYTES", 10**9)
    assert scan.process_count(paths, tmp_path) == 0  # Too few bytes to read.


def test_events_with_processes_and_cache(generated, tmp_path, forced_processes):
    card = generated.card.read_text(encoding="utf-8")
    for _ in range(2):  # The first run reads in processes, the second from the cache.
        job = Job(
            workspace=generated.root,
            card_text=card,
            options=JobOptions(workers=3, cache_dir=str(tmp_path / "cache")),
        )
        job.run()
        events = [e for e in job.events() if e["type"] == "notebook"]
        running = [e["path"] for e in events if e["status"] == "running"]
        final = [e for e in events if "index" in e]
        assert sorted(running) == sorted(job.order)
        assert sorted(e["path"] for e in final) == sorted(job.order)
        assert [e["index"] for e in final] == list(range(1, 17))
        assert {e["total"] for e in final} == {16}


def test_cancel_with_processes(generated, forced_processes):
    card = generated.card.read_text(encoding="utf-8")
    job = Job(
        workspace=generated.root, card_text=card, options=JobOptions(workers=2, use_cache=False)
    )
    job.subscribe(lambda event: job.cancel() if "index" in event else None)
    finished = threading.Event()
    report: dict = {}

    def target():
        report.update(job.run())
        finished.set()

    threading.Thread(target=target, daemon=True).start()
    assert finished.wait(60)
    assert report["state"] == "cancelled"
    assert {n["status"] for n in report["notebooks"]} <= {"done", "cancelled"}
    assert report["summary"]["notebooks_cancelled"] >= 1


def test_many_outputs_notebook_is_read_in_a_process(workspace, forced_processes):
    cells = [markdown_cell("## Test set")] + [
        code_cell(
            stream(f"epoch {i} - loss: 0.{i:04d} - accuracy: 0.8{i % 10}\n"), png_output(2000)
        )
        for i in range(200)
    ]
    write_json(workspace / "a.ipynb", notebook(*cells))
    write_stream_notebook(workspace / "b.ipynb", "Test ROC-AUC: 0.81\n")
    report = run(workspace, use_cache=False)
    assert sorted(forced_processes) == ["a.ipynb", "b.ipynb"]
    assert report["summary"]["evidence"] > 200
