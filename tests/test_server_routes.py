"""Routes of the CardCheck server extension: success and error paths of each verb."""

from __future__ import annotations

import json
import shutil

import pytest
from server_support import (
    EXAMPLE_WORKSPACE,
    body_of,
    fetch_error,
    post_job,
    server_config,
    set_isolation,
    wait_for_state,
    write_notebook,
)

pytest_plugins = ["pytest_jupyter.jupyter_server"]

CARD = "Test AUC: 0.81\n\nTest accuracy is 0.90.\n"


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(tmp_path / "reports", workers=3, max_workers=8)


@pytest.fixture
def workspace(jp_root_dir):
    folder = jp_root_dir / "project"
    write_notebook(folder / "eval.ipynb", "Test AUC: 0.81\n", "Test accuracy: 0.85\n")
    (folder / "card.md").write_text(CARD, encoding="utf-8")
    return folder


async def test_version_reports_defaults(jp_fetch, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    response = await jp_fetch("cardcheck", "version")
    data = body_of(response)
    assert response.code == 200
    assert data["provider"] == "none"
    assert data["workers"] == 3
    assert data["llm_key_configured"] is False
    assert isinstance(data["version"], str) and data["version"]
    assert set(data) >= {
        "version",
        "provider",
        "model",
        "base_url",
        "llm_key_configured",
        "workers",
    }


async def test_post_job_returns_202_with_location(jp_fetch, jp_base_url, workspace):
    response = await jp_fetch(
        "cardcheck",
        "jobs",
        method="POST",
        body=json.dumps({"card": "project/card.md", "workspace": "project"}),
    )
    data = body_of(response)
    assert response.code == 202
    assert len(data["id"]) == 32
    assert data["state"] in {"queued", "running", "done"}
    assert isinstance(data["seq"], int)
    assert response.headers["Location"] == f"{jp_base_url}cardcheck/jobs/{data['id']}"

    snapshot = await wait_for_state(jp_fetch, data["id"])
    assert snapshot["state"] == "done"
    assert snapshot["card"] == "project/card.md"
    assert snapshot["workspace"] == "project"
    assert snapshot["options"]["workers"] == 3


@pytest.mark.parametrize("isolation", ["process", "thread"])
async def test_full_job_on_example_workspace(jp_fetch, jp_serverapp, jp_root_dir, isolation):
    set_isolation(jp_serverapp, isolation)
    shutil.copytree(EXAMPLE_WORKSPACE, jp_root_dir / "credit-scoring")
    created = await post_job(
        jp_fetch, {"card": "credit-scoring/MODEL_CARD.md", "workspace": "credit-scoring"}
    )
    snapshot = await wait_for_state(jp_fetch, created["id"])
    assert snapshot["state"] == "done"
    notebook_count = len(list(EXAMPLE_WORKSPACE.glob("*.ipynb")))
    assert snapshot["total"] == notebook_count
    assert snapshot["processed"] == notebook_count

    statuses = {item["path"]: item["status"] for item in snapshot["notebooks"]}
    assert statuses["broken.ipynb"] == "failed"
    assert statuses["3_pd_modeling.ipynb"] == "done"

    claims = snapshot["claims"]
    summary = snapshot["summary"]
    verdict_names = ("verified", "mismatch", "conflicting", "unverifiable", "no_evidence")
    assert sum(summary[name] for name in verdict_names) == len(claims)

    def verdicts_for(metric, value, split="test"):
        return {
            claim["verdict"]
            for claim in claims
            if claim["metric"] == metric
            and abs(claim["value"] - value) < 1e-9
            and claim["qualifiers"].get("split") == split
        }

    # The card's table states a test ROC-AUC of 0.87; the notebooks print 0.7712.
    assert verdicts_for("roc_auc", 0.87) == {"mismatch"}
    assert verdicts_for("roc_auc", 0.7712) == {"verified"}
    assert verdicts_for("accuracy", 0.7817) == {"verified"}
    evidence_notebooks = {item["notebook"] for claim in claims for item in claim["evidence"]}
    assert "broken.ipynb" not in evidence_notebooks


async def test_post_job_rejects_bad_fields(jp_fetch, workspace):
    cases = [
        ({}, 400, "'card'"),
        ({"card": "project/card.md", "card_text": "AUC 0.8"}, 400, "not both"),
        ({"card": ""}, 400, "non-empty path"),
        ({"card_text": "   "}, 400, "non-empty string"),
        ({"card": "project/card.md", "workers": 0}, 400, "between 1 and 8"),
        ({"card": "project/card.md", "workers": 9}, 400, "between 1 and 8"),
        ({"card": "project/card.md", "workers": "4"}, 400, "integer"),
        ({"card": "project/card.md", "workers": True}, 400, "integer"),
        ({"card": "project/card.md", "provider": "bard"}, 400, "'provider' must be one of"),
        ({"card": "project/card.md", "notebooks": []}, 400, "is empty"),
        ({"card": "project/card.md", "notebooks": "eval.ipynb"}, 400, "list"),
        ({"card": "project/card.md", "base_url": "ftp://x"}, 400, "http or https"),
        ({"card": "project/card.md", "workspce": "project"}, 400, "Unknown field"),
        ({"card": "project/missing.md"}, 404, "does not exist"),
        ({"card": "project"}, 400, "not a file"),
        ({"card": "project/card.md", "workspace": "project/card.md"}, 400, "not a folder"),
        ({"card": "project/card.md", "workspace": "nowhere"}, 404, "does not exist"),
        (
            {"card": "project/card.md", "workspace": "project", "notebooks": ["project/card.md"]},
            400,
            "not an .ipynb",
        ),
    ]
    for body, status, fragment in cases:
        code, error = await fetch_error(
            jp_fetch("cardcheck", "jobs", method="POST", body=json.dumps(body))
        )
        assert code == status, (body, error)
        assert fragment in error["message"], (body, error)


async def test_post_job_rejects_non_object_bodies(jp_fetch):
    for raw, fragment in [("", "empty"), ("[1, 2]", "JSON object"), ("{not json", "Invalid JSON")]:
        code, error = await fetch_error(
            jp_fetch("cardcheck", "jobs", method="POST", body=raw, allow_nonstandard_methods=True)
        )
        assert code == 400, raw
        assert fragment in error["message"], (raw, error)


async def test_notebook_outside_workspace_rejected(jp_fetch, workspace, jp_root_dir):
    write_notebook(jp_root_dir / "other" / "x.ipynb", "AUC: 0.5\n")
    code, error = await fetch_error(
        jp_fetch(
            "cardcheck",
            "jobs",
            method="POST",
            body=json.dumps(
                {"card": "project/card.md", "workspace": "project", "notebooks": ["other/x.ipynb"]}
            ),
        )
    )
    assert code == 400
    assert "not inside the workspace 'project'" in error["message"]


async def test_selected_notebooks_only(jp_fetch, workspace):
    write_notebook(workspace / "extra.ipynb", "Test AUC: 0.60\n")
    created = await post_job(
        jp_fetch,
        {"card": "project/card.md", "workspace": "project", "notebooks": ["project/eval.ipynb"]},
    )
    snapshot = await wait_for_state(jp_fetch, created["id"])
    assert [item["path"] for item in snapshot["notebooks"]] == ["eval.ipynb"]
    assert snapshot["options"]["notebooks"] == ["eval.ipynb"]


async def test_card_text_job_and_verdicts(jp_fetch, workspace):
    created = await post_job(jp_fetch, {"card_text": CARD, "workspace": "project"})
    snapshot = await wait_for_state(jp_fetch, created["id"])
    assert snapshot["card"] == "(card text)"
    verdicts = {claim["metric"]: claim["verdict"] for claim in snapshot["claims"]}
    assert verdicts["roc_auc"] == "verified"
    assert verdicts["accuracy"] == "mismatch"


async def test_card_without_claims_fails_with_message(jp_fetch, workspace):
    created = await post_job(jp_fetch, {"card_text": "No numbers here.", "workspace": "project"})
    snapshot = await wait_for_state(jp_fetch, created["id"])
    assert snapshot["state"] == "failed"
    assert "no metric claims" in snapshot["error"]

    response = await jp_fetch("cardcheck", "jobs", created["id"], "report")
    report = body_of(response)
    assert report["state"] == "failed"
    assert "no metric claims" in report["error"]
    assert report["claims"] == []


async def test_since_returns_only_changes(jp_fetch, workspace):
    created = await post_job(jp_fetch, {"card": "project/card.md", "workspace": "project"})
    full = await wait_for_state(jp_fetch, created["id"])
    assert full["notebooks"]
    assert full["claims"]

    response = await jp_fetch("cardcheck", "jobs", created["id"], params={"since": full["seq"]})
    unchanged = body_of(response)
    assert unchanged["seq"] == full["seq"]
    assert unchanged["notebooks"] == []
    assert unchanged["claims"] == []
    assert unchanged["state"] == "done"
    assert unchanged["summary"] == full["summary"]

    response = await jp_fetch("cardcheck", "jobs", created["id"], params={"since": 1})
    partial = body_of(response)
    assert len(partial["notebooks"]) == len(full["notebooks"])


async def test_since_rejects_bad_values(jp_fetch, workspace):
    created = await post_job(jp_fetch, {"card": "project/card.md", "workspace": "project"})
    for value in ("-1", "abc"):
        code, error = await fetch_error(
            jp_fetch("cardcheck", "jobs", created["id"], params={"since": value})
        )
        assert code == 400
        assert "'since'" in error["message"]


async def test_unknown_job_is_404(jp_fetch):
    for parts in [
        ("jobs", "0" * 32),
        ("jobs", "not-an-id"),
        ("jobs", "0" * 32, "report"),
        ("jobs", "0" * 32, "events"),
    ]:
        code, error = await fetch_error(jp_fetch("cardcheck", *parts))
        assert code == 404, parts
        assert "No CardCheck job has the id" in error["message"]

    code, error = await fetch_error(jp_fetch("cardcheck", "jobs", "0" * 32, method="DELETE"))
    assert code == 404


async def test_report_json_and_markdown(jp_fetch, workspace):
    created = await post_job(jp_fetch, {"card": "project/card.md", "workspace": "project"})
    await wait_for_state(jp_fetch, created["id"])

    response = await jp_fetch("cardcheck", "jobs", created["id"], "report")
    report = body_of(response)
    assert report["workspace"] == "project"
    assert report["card"] == "project/card.md"
    assert {claim["verdict"] for claim in report["claims"]} == {"verified", "mismatch"}

    response = await jp_fetch(
        "cardcheck", "jobs", created["id"], "report", params={"format": "markdown"}
    )
    text = response.body.decode("utf-8")
    assert response.headers["Content-Type"].startswith("text/markdown")
    assert "mismatch" in text
    assert str(workspace) not in text

    code, error = await fetch_error(
        jp_fetch("cardcheck", "jobs", created["id"], "report", params={"format": "pdf"})
    )
    assert code == 400
    assert "'json' or 'markdown'" in error["message"]


async def test_list_jobs_newest_first(jp_fetch, workspace):
    first = await post_job(jp_fetch, {"card": "project/card.md", "workspace": "project"})
    await wait_for_state(jp_fetch, first["id"])
    second = await post_job(jp_fetch, {"card_text": CARD, "workspace": "project"})
    await wait_for_state(jp_fetch, second["id"])

    response = await jp_fetch("cardcheck", "jobs")
    jobs = body_of(response)["jobs"]
    assert [job["id"] for job in jobs[:2]] == [second["id"], first["id"]]
    assert jobs[0]["state"] == "done"
    assert jobs[0]["summary"]["claims"] == 2

    response = await jp_fetch("cardcheck", "jobs", params={"limit": "1"})
    assert len(body_of(response)["jobs"]) == 1

    code, error = await fetch_error(jp_fetch("cardcheck", "jobs", params={"limit": "0"}))
    assert code == 400
    assert "'limit'" in error["message"]


async def test_delete_finished_job_is_409(jp_fetch, workspace):
    created = await post_job(jp_fetch, {"card": "project/card.md", "workspace": "project"})
    await wait_for_state(jp_fetch, created["id"])
    code, error = await fetch_error(jp_fetch("cardcheck", "jobs", created["id"], method="DELETE"))
    assert code == 409
    assert "already ended in state done" in error["message"]


async def test_cache_dir_reaches_engine(jp_fetch, jp_serverapp, workspace, tmp_path):
    set_isolation(jp_serverapp, "thread")
    created = await post_job(jp_fetch, {"card": "project/card.md", "workspace": "project"})
    await wait_for_state(jp_fetch, created["id"])
    job = jp_serverapp.web_app.settings["cardcheck_lab"].manager.get(created["id"]).job
    if not hasattr(job.options, "cache_dir"):
        pytest.skip("this engine version has no notebook cache option")
    assert job.options.cache_dir == str(tmp_path / "cache")
