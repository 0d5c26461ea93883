"""Durability: job records survive a restart of the extension; cut-off jobs become interrupted.

A restart here stops the extension (``stop_extension``, as the server does at
shutdown) and starts a new job manager on the same reports folder.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import pytest
from fakellm import FakeLLM, answer, isolate_sdk_environment
from server_support import (
    ServerProcess,
    body_of,
    fetch_error,
    get_snapshot,
    job_processes_of,
    parse_sse,
    post_job,
    server_config,
    set_isolation,
    wait_for_state,
    write_notebook,
)

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def reports_dir(tmp_path):
    return tmp_path / "reports"


@pytest.fixture
def jp_server_config(tmp_path, reports_dir):
    return server_config(reports_dir, cache_dir=str(tmp_path / "llm-cache"))


@pytest.fixture
def workspace(jp_root_dir):
    folder = jp_root_dir / "ws"
    for index in range(12):
        write_notebook(folder / f"nb_{index:02d}.ipynb", f"Test AUC: 0.{800 + index}\n")
    (folder / "card.md").write_text("Test AUC: 0.80\n", encoding="utf-8")
    return folder


@pytest.fixture
def fake_llm(monkeypatch, tmp_path):
    isolate_sdk_environment(monkeypatch, tmp_path)
    with FakeLLM(default=answer(delay=0.5)) as server:
        yield server


def slow_body(fake_llm: FakeLLM) -> dict:
    return {
        "card": "ws/card.md",
        "workspace": "ws",
        "provider": "openai-compatible",
        "model": "fake-model",
        "base_url": fake_llm.openai_base_url,
        "workers": 2,
    }


async def restart_extension(jp_serverapp) -> None:
    """Stop the extension as at server shutdown, then start a fresh job manager."""
    extension = jp_serverapp.web_app.settings["cardcheck_lab"]
    await extension.stop_extension()
    extension.manager = extension.create_manager()
    extension.manager.start()


async def wait_processed(jp_fetch, job_id: str, count: int) -> None:
    while (await get_snapshot(jp_fetch, job_id))["processed"] < count:
        await asyncio.sleep(0.1)


async def test_finished_report_listed_after_restart(jp_fetch, jp_serverapp, workspace):
    created = await post_job(jp_fetch, {"card": "ws/card.md", "workspace": "ws"})
    before = await wait_for_state(jp_fetch, created["id"])
    report_before = body_of(await jp_fetch("cardcheck", "jobs", created["id"], "report"))

    await restart_extension(jp_serverapp)

    listing = body_of(await jp_fetch("cardcheck", "jobs"))["jobs"]
    assert [job["id"] for job in listing] == [created["id"]]
    assert listing[0]["state"] == "done"
    assert listing[0]["summary"] == before["summary"]

    after = body_of(await jp_fetch("cardcheck", "jobs", created["id"]))
    assert after["state"] == "done"
    assert after["seq"] == before["seq"]
    assert after["claims"] == before["claims"]
    assert len(after["notebooks"]) == 12

    unchanged = body_of(
        await jp_fetch("cardcheck", "jobs", created["id"], params={"since": before["seq"]})
    )
    assert unchanged["claims"] == []

    report_after = body_of(await jp_fetch("cardcheck", "jobs", created["id"], "report"))
    assert report_after == report_before

    events = parse_sse(
        (await jp_fetch("cardcheck", "jobs", created["id"], "events")).body.decode("utf-8")
    )
    assert [data["type"] for _, data in events] == ["job", "end"]
    assert events[0][1]["state"] == "done"

    code, error = await fetch_error(jp_fetch("cardcheck", "jobs", created["id"], method="DELETE"))
    assert code == 409
    assert "already ended" in error["message"]


@pytest.mark.parametrize("isolation", ["process", "thread"])
async def test_shutdown_marks_running_job_interrupted(
    jp_fetch, jp_serverapp, workspace, fake_llm, reports_dir, isolation
):
    set_isolation(jp_serverapp, isolation)
    created = await post_job(
        jp_fetch, slow_body(fake_llm), headers={"X-CardCheck-API-Key": "sk-test"}
    )
    await wait_processed(jp_fetch, created["id"], 2)

    await restart_extension(jp_serverapp)

    record = json.loads((reports_dir / f"{created['id']}.json").read_text(encoding="utf-8"))
    assert record["state"] == "interrupted"

    snapshot = body_of(await jp_fetch("cardcheck", "jobs", created["id"]))
    assert snapshot["state"] == "interrupted"
    assert "stopped before this job finished" in snapshot["error"]
    done = [item["path"] for item in snapshot["notebooks"] if item["status"] == "done"]
    assert 2 <= len(done) < 12
    still_open = [
        item["path"] for item in snapshot["notebooks"] if item["status"] in ("queued", "running")
    ]
    assert still_open == []

    report = body_of(await jp_fetch("cardcheck", "jobs", created["id"], "report"))
    assert report["state"] == "interrupted"
    assert {item["path"] for item in report["notebooks"] if item["status"] == "done"} == set(done)

    listing = body_of(await jp_fetch("cardcheck", "jobs"))["jobs"]
    assert listing[0]["state"] == "interrupted"


async def test_record_left_running_by_crash_becomes_interrupted(
    jp_fetch, jp_serverapp, workspace, fake_llm, reports_dir, tmp_path
):
    created = await post_job(
        jp_fetch, slow_body(fake_llm), headers={"X-CardCheck-API-Key": "sk-test"}
    )
    record_path = reports_dir / f"{created['id']}.json"
    await wait_processed(jp_fetch, created["id"], 3)

    # Wait for a checkpoint that lists finished notebooks, then keep a copy of it
    # as the file a killed server would have left behind.
    while True:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record["state"] == "running" and (record["processed"] or 0) >= 2:
            break
        await asyncio.sleep(0.1)
    crash_copy = tmp_path / "crash-copy.json"
    shutil.copyfile(record_path, crash_copy)

    extension = jp_serverapp.web_app.settings["cardcheck_lab"]
    await extension.stop_extension()
    shutil.copyfile(crash_copy, record_path)
    extension.manager = extension.create_manager()
    extension.manager.start()

    snapshot = body_of(await jp_fetch("cardcheck", "jobs", created["id"]))
    assert snapshot["state"] == "interrupted"
    assert snapshot["processed"] >= 2
    done = [item for item in snapshot["notebooks"] if item["status"] == "done"]
    assert len(done) >= 2
    still_open = [item for item in snapshot["notebooks"] if item["status"] in ("queued", "running")]
    assert still_open == []

    code, error = await fetch_error(jp_fetch("cardcheck", "jobs", created["id"], "report"))
    assert code == 409
    assert "without a report" in error["message"]

    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert record["state"] == "interrupted"


async def test_unreadable_record_skipped(jp_fetch, jp_serverapp, workspace, reports_dir):
    created = await post_job(jp_fetch, {"card": "ws/card.md", "workspace": "ws"})
    await wait_for_state(jp_fetch, created["id"])
    (reports_dir / ("f" * 32 + ".json")).write_text("{cut off", encoding="utf-8")
    (reports_dir / ".leftover.json.tmp").write_text("{}", encoding="utf-8")

    await restart_extension(jp_serverapp)

    listing = body_of(await jp_fetch("cardcheck", "jobs"))["jobs"]
    assert [job["id"] for job in listing] == [created["id"]]
    assert not (reports_dir / ".leftover.json.tmp").exists()
    code, _ = await fetch_error(jp_fetch("cardcheck", "jobs", "f" * 32))
    assert code == 404


async def test_requests_during_shutdown_get_503(jp_fetch, jp_serverapp, workspace):
    extension = jp_serverapp.web_app.settings["cardcheck_lab"]
    await extension.stop_extension()
    code, error = await fetch_error(
        jp_fetch("cardcheck", "jobs", method="POST", body=json.dumps({"card": "ws/card.md"}))
    )
    assert code == 503
    assert "stopping" in error["message"]


async def test_sse_stream_ends_at_shutdown(jp_fetch, jp_serverapp, workspace, fake_llm):
    created = await post_job(
        jp_fetch, slow_body(fake_llm), headers={"X-CardCheck-API-Key": "sk-test"}
    )
    stream = asyncio.ensure_future(
        jp_fetch("cardcheck", "jobs", created["id"], "events", request_timeout=60)
    )
    await wait_processed(jp_fetch, created["id"], 1)
    assert not stream.done()

    extension = jp_serverapp.web_app.settings["cardcheck_lab"]
    await extension.stop_extension()

    response = await asyncio.wait_for(stream, timeout=30)
    messages = parse_sse(response.body.decode("utf-8"))
    assert messages[-1][1]["type"] == "end"
    assert messages[-1][1]["state"] in {"running", "interrupted"}


async def test_old_jobs_leave_memory_but_stay_readable(jp_fetch, jp_serverapp, workspace):
    manager = jp_serverapp.web_app.settings["cardcheck_lab"].manager
    manager.max_jobs_in_memory = 1
    first = await post_job(jp_fetch, {"card": "ws/card.md", "workspace": "ws"})
    first_snapshot = await wait_for_state(jp_fetch, first["id"])
    second = await post_job(jp_fetch, {"card_text": "Test AUC 0.81", "workspace": "ws"})
    await wait_for_state(jp_fetch, second["id"])

    assert manager.get(first["id"]) is None
    assert manager.get(second["id"]) is not None
    snapshot = body_of(await jp_fetch("cardcheck", "jobs", first["id"]))
    assert snapshot["state"] == "done"
    assert snapshot["claims"] == first_snapshot["claims"]
    listing = body_of(await jp_fetch("cardcheck", "jobs"))["jobs"]
    assert [job["id"] for job in listing] == [second["id"], first["id"]]


async def test_oldest_records_pruned_at_startup(jp_fetch, jp_serverapp, workspace, reports_dir):
    created = []
    for value in ("0.80", "0.81", "0.82"):
        job = await post_job(jp_fetch, {"card_text": f"Test AUC {value}", "workspace": "ws"})
        await wait_for_state(jp_fetch, job["id"])
        created.append(job["id"])

    extension = jp_serverapp.web_app.settings["cardcheck_lab"]
    await extension.stop_extension()
    extension.max_saved_reports = 2
    extension.manager = extension.create_manager()
    extension.manager.start()

    listing = body_of(await jp_fetch("cardcheck", "jobs"))["jobs"]
    assert [job["id"] for job in listing] == [created[2], created[1]]
    assert not (reports_dir / f"{created[0]}.json").exists()


def test_killed_server_job_interrupted_after_restart(tmp_path, monkeypatch):
    """Two server processes on one reports folder: SIGKILL the first mid-job, start the second."""
    isolate_sdk_environment(monkeypatch, tmp_path)
    root = tmp_path / "root"
    for index in range(12):
        write_notebook(root / "ws" / f"nb_{index:02d}.ipynb", f"Test AUC: 0.{800 + index}\n")
    (root / "ws" / "card.md").write_text("Test AUC: 0.80\n", encoding="utf-8")
    reports = tmp_path / "reports"

    with FakeLLM(default=answer(delay=0.5)) as fake:
        first = ServerProcess(
            tmp_path / "first", root, reports, "--CardCheckApp.checkpoint_interval=0.2"
        ).start()
        try:
            response = first.request(
                "POST",
                "cardcheck/jobs",
                json=slow_body(fake),
                headers={"X-CardCheck-API-Key": "sk-test"},
            )
            assert response.status_code == 202
            job_id = response.json()["id"]
            deadline = time.monotonic() + 60
            while first.request("GET", f"cardcheck/jobs/{job_id}").json()["processed"] < 2:
                assert time.monotonic() < deadline, "the job made no progress"
                time.sleep(0.1)
            time.sleep(1.0)  # past several checkpoints of the record
            assert job_processes_of(str(tmp_path)), "the job does not run in its own process"
        finally:
            first.kill()

        # The job's process reads end of input on its stdin and stops by itself.
        deadline = time.monotonic() + 20
        while job_processes_of(str(tmp_path)):
            assert time.monotonic() < deadline, "the job process outlived the killed server"
            time.sleep(0.2)

        second = ServerProcess(tmp_path / "second", root, reports).start()
        try:
            listing = second.request("GET", "cardcheck/jobs").json()["jobs"]
            assert [job["id"] for job in listing] == [job_id]
            assert listing[0]["state"] == "interrupted"

            snapshot = second.request("GET", f"cardcheck/jobs/{job_id}").json()
            assert snapshot["state"] == "interrupted"
            done = [item for item in snapshot["notebooks"] if item["status"] == "done"]
            assert len(done) >= 2

            report = second.request("GET", f"cardcheck/jobs/{job_id}/report")
            assert report.status_code == 409
            assert "without a report" in report.json()["message"]
        finally:
            second.stop()
