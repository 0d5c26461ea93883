"""Running jobs through the server: SSE, cancellation, queueing and event-loop health.

Slow jobs use the real engine path with the LLM extractor pointed at the fake
LLM server of tests/fakellm.py on 127.0.0.1, which delays every answer.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from fakellm import FakeLLM, answer, isolate_sdk_environment
from server_support import (
    body_of,
    fetch_error,
    get_snapshot,
    parse_sse,
    post_job,
    server_config,
    set_isolation,
    wait_for_state,
    write_notebook,
)

pytest_plugins = ["pytest_jupyter.jupyter_server"]

LLM_DELAY = 0.6  # seconds the fake LLM waits before each answer


@pytest.fixture
def fake_llm(monkeypatch, tmp_path):
    isolate_sdk_environment(monkeypatch, tmp_path)
    with FakeLLM(default=answer(delay=LLM_DELAY)) as server:
        yield server


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(
        tmp_path / "reports",
        cache_dir=str(tmp_path / "llm-cache"),
        max_concurrent_jobs=1,
        max_queued_jobs=2,
    )


@pytest.fixture
def many_notebooks(jp_root_dir):
    """A workspace of 40 small notebooks whose outputs all differ, so no LLM answer is cached."""
    folder = jp_root_dir / "many"
    for index in range(40):
        write_notebook(
            folder / f"nb_{index:02d}.ipynb",
            f"Test AUC: 0.{700 + index}\n",
            f"rows scored: {1000 + index}\n",
        )
    (folder / "card.md").write_text("Test AUC: 0.70\n", encoding="utf-8")
    return folder


def slow_job_body(fake_llm: FakeLLM, **extra) -> dict:
    return {
        "card": "many/card.md",
        "workspace": "many",
        "provider": "openai-compatible",
        "model": "fake-model",
        "base_url": fake_llm.openai_base_url,
        "workers": 4,
        **extra,
    }


def manager_of(jp_serverapp):
    return jp_serverapp.web_app.settings["cardcheck_lab"].manager


async def test_sse_stream_of_finished_job(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir / "w" / "a.ipynb", "Test AUC: 0.81\n")
    write_notebook(jp_root_dir / "w" / "b.ipynb", "Test accuracy: 0.90\n")
    created = await post_job(jp_fetch, {"card_text": "Test AUC 0.81", "workspace": "w"})
    snapshot = await wait_for_state(jp_fetch, created["id"])

    response = await jp_fetch("cardcheck", "jobs", created["id"], "events")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    messages = parse_sse(response.body.decode("utf-8"))
    ids = [event_id for event_id, _ in messages if event_id is not None]
    assert ids == list(range(1, snapshot["seq"] + 1))
    assert all(data["seq"] == event_id for event_id, data in messages if event_id is not None)
    assert messages[0][1] == {"type": "job", "state": "running", "seq": 1}
    assert {data["type"] for _, data in messages} >= {"job", "notebook", "claim", "end"}
    final_id, final = messages[-1]
    assert final_id is None
    assert final["type"] == "end"
    assert final["state"] == "done"

    resumed = await jp_fetch(
        "cardcheck", "jobs", created["id"], "events", headers={"Last-Event-ID": "3"}
    )
    resumed_ids = [event_id for event_id, _ in parse_sse(resumed.body.decode("utf-8")) if event_id]
    assert resumed_ids == list(range(4, snapshot["seq"] + 1))

    after_end = await jp_fetch(
        "cardcheck",
        "jobs",
        created["id"],
        "events",
        headers={"Last-Event-ID": str(snapshot["seq"])},
    )
    assert after_end.code == 204

    code, error = await fetch_error(
        jp_fetch("cardcheck", "jobs", created["id"], "events", headers={"Last-Event-ID": "x"})
    )
    assert code == 400
    assert "Last-Event-ID" in error["message"]


async def test_sse_streams_while_job_runs(jp_fetch, jp_serverapp, many_notebooks, fake_llm):
    created = await post_job(
        jp_fetch, slow_job_body(fake_llm), headers={"X-CardCheck-API-Key": "sk-test"}
    )
    manager = manager_of(jp_serverapp)
    states_at_chunks = []
    chunks = []

    def on_chunk(chunk: bytes) -> None:
        chunks.append(chunk)
        states_at_chunks.append(manager.get(created["id"]).state)

    response = await jp_fetch(
        "cardcheck",
        "jobs",
        created["id"],
        "events",
        streaming_callback=on_chunk,
        request_timeout=120,
    )
    assert response.code == 200
    messages = parse_sse(b"".join(chunks).decode("utf-8"))
    ids = [event_id for event_id, _ in messages if event_id is not None]
    assert ids == sorted(set(ids))
    assert ids[0] == 1
    assert messages[-1][1]["type"] == "end"
    assert messages[-1][1]["state"] == "done"
    # Events arrived in several chunks while the job was still running.
    assert states_at_chunks.count("running") >= 3
    assert fake_llm.request_count >= 40


@pytest.mark.parametrize("isolation", ["process", "thread"])
async def test_cancel_stops_remaining_notebooks(
    jp_fetch, jp_serverapp, many_notebooks, fake_llm, isolation
):
    set_isolation(jp_serverapp, isolation)
    created = await post_job(
        jp_fetch, slow_job_body(fake_llm), headers={"X-CardCheck-API-Key": "sk-test"}
    )
    while (await get_snapshot(jp_fetch, created["id"]))["processed"] < 2:
        await asyncio.sleep(0.1)

    started = time.monotonic()
    response = await jp_fetch("cardcheck", "jobs", created["id"], method="DELETE")
    assert response.code == 202
    assert body_of(response)["id"] == created["id"]

    snapshot = await wait_for_state(jp_fetch, created["id"], timeout=30)
    stopped_after = time.monotonic() - started
    assert snapshot["state"] == "cancelled"
    statuses = [item["status"] for item in snapshot["notebooks"]]
    assert statuses.count("cancelled") > 0
    assert statuses.count("done") < 40
    # Reading all 40 notebooks takes at least 40 * LLM_DELAY / 4 = 6 s. The time bound
    # below is loose against slow machines; the request count after it is the real check.
    requests_at_stop = fake_llm.request_count
    assert stopped_after < 40 * LLM_DELAY
    await asyncio.sleep(2 * LLM_DELAY)
    assert fake_llm.request_count == requests_at_stop

    report = body_of(await jp_fetch("cardcheck", "jobs", created["id"], "report"))
    assert report["state"] == "cancelled"

    again = await jp_fetch("cardcheck", "jobs", created["id"], method="DELETE")
    assert body_of(again)["state"] == "cancelled"


async def test_jobs_beyond_limit_wait_queued(jp_fetch, many_notebooks, fake_llm):
    key = {"X-CardCheck-API-Key": "sk-test"}
    first = await post_job(jp_fetch, slow_job_body(fake_llm), headers=key)
    second = await post_job(jp_fetch, {"card_text": "Test AUC 0.70", "workspace": "many"})
    third = await post_job(jp_fetch, {"card_text": "Test AUC 0.71", "workspace": "many"})

    assert (await get_snapshot(jp_fetch, second["id"]))["state"] == "queued"
    assert (await get_snapshot(jp_fetch, third["id"]))["state"] == "queued"

    code, error = await fetch_error(
        jp_fetch(
            "cardcheck",
            "jobs",
            method="POST",
            body=json.dumps({"card_text": "Test AUC 0.72", "workspace": "many"}),
        )
    )
    assert code == 429
    assert "max_queued_jobs" in error["message"]

    listing = body_of(await jp_fetch("cardcheck", "jobs"))["jobs"]
    states = {job["id"]: job["state"] for job in listing}
    assert states[second["id"]] == "queued"

    # A queued job can be cancelled before it starts.
    response = await jp_fetch("cardcheck", "jobs", third["id"], method="DELETE")
    assert body_of(response)["state"] == "cancelled"

    await jp_fetch("cardcheck", "jobs", first["id"], method="DELETE")
    assert (await wait_for_state(jp_fetch, first["id"]))["state"] == "cancelled"
    assert (await wait_for_state(jp_fetch, second["id"]))["state"] == "done"
    assert (await get_snapshot(jp_fetch, third["id"]))["state"] == "cancelled"

    events = parse_sse((await jp_fetch("cardcheck", "jobs", third["id"], "events")).body.decode())
    assert events[-1][1] == {"type": "end", "state": "cancelled", "seq": events[-1][1]["seq"]}


async def test_identical_request_reuses_active_job(jp_fetch, many_notebooks, fake_llm):
    key = {"X-CardCheck-API-Key": "sk-test"}
    first = await post_job(jp_fetch, slow_job_body(fake_llm), headers=key)
    again = await post_job(jp_fetch, slow_job_body(fake_llm), headers=key)
    assert again["id"] == first["id"]
    assert again["reused"] is True
    other = await post_job(jp_fetch, slow_job_body(fake_llm, workers=2), headers=key)
    assert other["id"] != first["id"]
    for job in (first, other):
        await jp_fetch("cardcheck", "jobs", job["id"], method="DELETE")
        await wait_for_state(jp_fetch, job["id"])


async def test_llm_request_checks(jp_fetch, many_notebooks, fake_llm, monkeypatch):
    cases = [
        (
            {"provider": "openai-compatible", "base_url": fake_llm.openai_base_url},
            "'model' is required",
        ),
        ({"provider": "openai-compatible", "model": "m"}, "'base_url' is required"),
    ]
    for extra, fragment in cases:
        body = {"card": "many/card.md", "workspace": "many", **extra}
        code, error = await fetch_error(
            jp_fetch("cardcheck", "jobs", method="POST", body=json.dumps(body))
        )
        assert code == 400
        assert fragment in error["message"]

    # The server's own key never goes to a base_url chosen by the request.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-key")
    code, error = await fetch_error(
        jp_fetch("cardcheck", "jobs", method="POST", body=json.dumps(slow_job_body(fake_llm)))
    )
    assert code == 400
    assert "X-CardCheck-API-Key" in error["message"]
    assert "sk-server-key" not in error["message"]
    assert fake_llm.request_count == 0


async def test_event_loop_answers_during_slow_job(jp_fetch, many_notebooks, fake_llm):
    """Other endpoints answer while 40 notebooks wait on a slow LLM; counters only grow."""
    created = await post_job(
        jp_fetch, slow_job_body(fake_llm), headers={"X-CardCheck-API-Key": "sk-test"}
    )

    samples = []
    while True:
        contents = await jp_fetch("api", "contents", "many")
        kernels = await jp_fetch("api", "kernels")
        snapshot = await get_snapshot(jp_fetch, created["id"])
        assert contents.code == 200
        assert kernels.code == 200
        samples.append((snapshot["state"], snapshot["processed"], snapshot["seq"]))
        if snapshot["state"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.25)

    assert samples[-1][0] == "done"
    assert samples[-1][1] == 40
    processed = [sample[1] for sample in samples]
    seqs = [sample[2] for sample in samples]
    assert processed == sorted(processed)
    assert seqs == sorted(seqs)
    # Responses arrived while the job was mid-way, not only after it ended.
    midway = {count for state, count, _ in samples if state == "running" and 0 < count < 40}
    assert len(midway) >= 3
