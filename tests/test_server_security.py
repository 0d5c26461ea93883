"""Security of the CardCheck routes: authentication, XSRF, paths, body size, API keys."""

from __future__ import annotations

import json
import logging
import os
from http.cookies import SimpleCookie

import pytest
from server_support import (
    body_of,
    fetch_error,
    parse_sse,
    post_job,
    server_config,
    set_isolation,
    wait_for_state,
    write_notebook,
)
from tornado.httpclient import HTTPClientError

pytest_plugins = ["pytest_jupyter.jupyter_server"]

SECRET_KEY = "sk-test-SECRET-0123456789"


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(tmp_path / "reports", max_request_bytes=4096, max_card_bytes=2048)


@pytest.fixture
def workspace(jp_root_dir):
    folder = jp_root_dir / "ws"
    write_notebook(folder / "eval.ipynb", "Test AUC: 0.80\n")
    (folder / "card.md").write_text("Test AUC: 0.80\n", encoding="utf-8")
    return folder


@pytest.fixture
def outside_workspace(tmp_path, jp_root_dir):
    """A folder outside the server root holding a notebook that prints AUC 0.99."""
    outside = tmp_path / "outside_ws"
    write_notebook(outside / "secret.ipynb", "AUC: 0.99\n")
    (outside / "card.md").write_text("AUC 0.99\n", encoding="utf-8")
    os.symlink(outside, jp_root_dir / "linked", target_is_directory=True)
    return outside


ALL_ROUTES = [
    ("GET", ("version",)),
    ("GET", ("jobs",)),
    ("POST", ("jobs",)),
    ("GET", ("jobs", "0" * 32)),
    ("DELETE", ("jobs", "0" * 32)),
    ("GET", ("jobs", "0" * 32, "events")),
    ("GET", ("jobs", "0" * 32, "report")),
]


async def test_requests_without_token_rejected(jp_fetch):
    for method, parts in ALL_ROUTES:
        body = json.dumps({"card_text": "AUC 0.8"}) if method == "POST" else None
        code, error = await fetch_error(
            jp_fetch(
                "cardcheck",
                *parts,
                method=method,
                body=body,
                headers={"Authorization": ""},
            )
        )
        assert code in (401, 403), (method, parts)
        assert "message" in error


async def test_wrong_token_rejected(jp_fetch):
    code, _ = await fetch_error(
        jp_fetch("cardcheck", "version", headers={"Authorization": "token wrong"})
    )
    assert code in (401, 403)


async def _login_cookies(jp_fetch) -> dict[str, str]:
    """Return the login and _xsrf cookies a browser would hold after logging in."""
    response = await jp_fetch("api", "status")
    cookies = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        cookies.load(header)
    response = await jp_fetch("login", headers={"Authorization": ""})
    for header in response.headers.get_list("Set-Cookie"):
        cookies.load(header)
    values = {name: morsel.value for name, morsel in cookies.items()}
    assert "_xsrf" in values, f"no _xsrf cookie in {sorted(values)}"
    assert any(name.startswith("username-") for name in values), sorted(values)
    return values


async def test_xsrf_required_for_cookie_auth(jp_fetch, workspace):
    cookies = await _login_cookies(jp_fetch)
    cookie_header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    body = json.dumps({"card": "ws/card.md", "workspace": "ws"})

    code, error = await fetch_error(
        jp_fetch(
            "cardcheck",
            "jobs",
            method="POST",
            body=body,
            headers={"Authorization": "", "Cookie": cookie_header},
        )
    )
    assert code == 403
    assert "_xsrf" in error["message"]

    response = await jp_fetch(
        "cardcheck",
        "jobs",
        method="POST",
        body=body,
        headers={"Authorization": "", "Cookie": cookie_header, "X-XSRFToken": cookies["_xsrf"]},
    )
    assert response.code == 202
    assert len(body_of(response)["id"]) == 32

    code, error = await fetch_error(
        jp_fetch(
            "cardcheck",
            "jobs",
            body_of(response)["id"],
            method="DELETE",
            headers={"Authorization": "", "Cookie": cookie_header},
        )
    )
    assert code == 403


async def test_token_header_needs_no_xsrf(jp_fetch, workspace):
    response = await jp_fetch(
        "cardcheck", "jobs", method="POST", body=json.dumps({"card": "ws/card.md"})
    )
    assert response.code == 202


@pytest.mark.parametrize(
    ("body", "statuses"),
    [
        ({"workspace": "../outside", "card_text": "AUC 0.8"}, {400, 403}),
        ({"workspace": "/etc", "card_text": "AUC 0.8"}, {400, 403}),
        ({"workspace": "ws/../../outside", "card_text": "AUC 0.8"}, {400, 403}),
        ({"workspace": "%2e%2e/outside", "card_text": "AUC 0.8"}, {404}),
        ({"card": "../../card.md"}, {400, 403}),
        ({"card": "/etc/passwd"}, {400, 403}),
        ({"card": "ws\\..\\..\\card.md"}, {400, 403}),
        ({"card": "ws/card.md", "notebooks": ["../x.ipynb"]}, {400, 403}),
        ({"card": "ws/card.md", "workspace": "ws\u0000"}, {400}),
    ],
)
async def test_traversal_rejected(jp_fetch, jp_root_dir, workspace, body, statuses):
    code, error = await fetch_error(
        jp_fetch("cardcheck", "jobs", method="POST", body=json.dumps(body))
    )
    assert code in statuses
    message = error["message"]
    assert str(jp_root_dir) not in message
    assert str(jp_root_dir.parent) not in message
    assert "root:" not in message  # no /etc/passwd content


async def test_encoded_literal_name_is_a_name(jp_fetch, jp_root_dir):
    folder = jp_root_dir / "%2e%2e" / "outside"
    write_notebook(folder / "nb.ipynb", "Test AUC: 0.70\n")
    created = await post_job(
        jp_fetch, {"card_text": "Test AUC: 0.70\n", "workspace": "%2e%2e/outside"}
    )
    snapshot = await wait_for_state(jp_fetch, created["id"])
    assert snapshot["workspace"] == "%2e%2e/outside"
    assert snapshot["claims"][0]["verdict"] == "verified"


async def test_encoded_url_segment_rejected(http_server_client, jp_base_url, jp_auth_header):
    for path in ["cardcheck/jobs/%2e%2e%2f%2e%2e%2fetc/report", "cardcheck/jobs/%2e%2e/report"]:
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(jp_base_url + path, headers=jp_auth_header)
        assert info.value.code == 404
        assert b"passwd" not in (info.value.response.body or b"")


async def test_symlink_leaving_root_rejected(jp_fetch, outside_workspace):
    for body in [
        {"workspace": "linked", "card_text": "AUC 0.8"},
        {"card": "linked/card.md"},
        {"card_text": "AUC 0.8", "notebooks": ["linked/secret.ipynb"]},
    ]:
        code, error = await fetch_error(
            jp_fetch("cardcheck", "jobs", method="POST", body=json.dumps(body))
        )
        assert code == 403, body
        assert "resolves outside the Jupyter server root" in error["message"]
        assert str(outside_workspace) not in error["message"]


async def _collect_job_documents(jp_fetch, job_id: str) -> str:
    """Return every document the API serves about a job, as one string."""
    parts = []
    for path in [(), ("report",), ("events",)]:
        response = await jp_fetch("cardcheck", "jobs", job_id, *path)
        parts.append(response.body.decode("utf-8"))
    response = await jp_fetch("cardcheck", "jobs", job_id, "report", params={"format": "markdown"})
    parts.append(response.body.decode("utf-8"))
    response = await jp_fetch("cardcheck", "jobs")
    parts.append(response.body.decode("utf-8"))
    return "\n".join(parts)


async def test_symlinked_notebook_never_read(jp_fetch, jp_root_dir, outside_workspace, workspace):
    created = await post_job(jp_fetch, {"card_text": "Test AUC: 0.80\nKS 0.42\n"})
    snapshot = await wait_for_state(jp_fetch, created["id"])
    assert snapshot["state"] == "done"

    skipped = [item for item in snapshot["notebooks"] if item["status"] == "skipped"]
    assert [item["path"] for item in skipped] == ["linked/"]
    assert "outside workspace" in skipped[0]["error"]

    served = await _collect_job_documents(jp_fetch, created["id"])
    assert "0.99" not in served
    assert str(outside_workspace) not in served
    assert str(jp_root_dir) not in served


async def test_server_drops_evidence_outside_root(
    jp_fetch, jp_serverapp, jp_root_dir, outside_workspace, workspace, monkeypatch
):
    """Even if the engine's discovery let a symlink through, no value from it is served."""
    from cardcheck_lab import runner

    # The patched discovery must run in this process, so the job runs on a thread.
    set_isolation(jp_serverapp, "thread")

    original = runner.discover_notebooks

    def discover_including_symlinks(folder, allow_hidden=False):
        found = original(folder, allow_hidden)
        found.notebooks = sorted([*found.notebooks, "linked/secret.ipynb"])
        found.skipped = []
        return found

    monkeypatch.setattr(runner, "discover_notebooks", discover_including_symlinks)
    created = await post_job(jp_fetch, {"card_text": "Test AUC: 0.80\nAUC 0.99\n"})
    snapshot = await wait_for_state(jp_fetch, created["id"])
    assert snapshot["state"] == "done"
    assert [item["path"] for item in snapshot["notebooks"]] == ["ws/eval.ipynb"]

    report = body_of(await jp_fetch("cardcheck", "jobs", created["id"], "report"))
    for claim in report["claims"]:
        for evidence in claim["evidence"]:
            assert evidence["notebook"] == "ws/eval.ipynb"
            assert evidence["value"] != pytest.approx(0.99)

    events = parse_sse(
        (await jp_fetch("cardcheck", "jobs", created["id"], "events")).body.decode("utf-8")
    )
    paths = {data.get("path") for _, data in events if data.get("type") == "notebook"}
    assert "linked/secret.ipynb" not in paths


async def test_hidden_paths_follow_allow_hidden(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir / ".private" / "nb.ipynb", "Test AUC: 0.80\n")
    (jp_root_dir / ".card.md").write_text("Test AUC: 0.80\n", encoding="utf-8")
    for body in [{"workspace": ".private", "card_text": "AUC 0.8"}, {"card": ".card.md"}]:
        code, error = await fetch_error(
            jp_fetch("cardcheck", "jobs", method="POST", body=json.dumps(body))
        )
        assert code == 403, body
        assert "ContentsManager.allow_hidden" in error["message"]


async def test_body_size_capped(jp_fetch, workspace):
    body = json.dumps({"card": "ws/card.md", "workspace": "ws", "model": "x" * 5000})
    code, error = await fetch_error(jp_fetch("cardcheck", "jobs", method="POST", body=body))
    assert code == 413
    assert "max_request_bytes" in error["message"]

    body = json.dumps({"card_text": "AUC 0.8 " * 300})
    code, error = await fetch_error(jp_fetch("cardcheck", "jobs", method="POST", body=body))
    assert code == 413
    assert "max_card_bytes" in error["message"]

    (workspace / "big.md").write_text("AUC 0.8\n" * 400, encoding="utf-8")
    code, error = await fetch_error(
        jp_fetch("cardcheck", "jobs", method="POST", body=json.dumps({"card": "ws/big.md"}))
    )
    assert code == 413
    assert "max_card_bytes" in error["message"]


async def test_api_key_never_returned_stored_or_logged(
    jp_fetch, jp_serverapp, workspace, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    created = await post_job(
        jp_fetch,
        {"card": "ws/card.md", "workspace": "ws"},
        headers={"X-CardCheck-API-Key": SECRET_KEY},
    )
    await wait_for_state(jp_fetch, created["id"])

    served = await _collect_job_documents(jp_fetch, created["id"])
    served += (await jp_fetch("cardcheck", "version")).body.decode("utf-8")
    assert SECRET_KEY not in served

    stored = "".join(
        path.read_text(encoding="utf-8") for path in (tmp_path / "reports").glob("*.json")
    )
    assert created["id"] in stored
    assert SECRET_KEY not in stored
    assert SECRET_KEY not in caplog.text


async def test_invalid_api_key_header_not_echoed(jp_fetch, workspace):
    code, error = await fetch_error(
        jp_fetch(
            "cardcheck",
            "jobs",
            method="POST",
            body=json.dumps({"card": "ws/card.md"}),
            headers={"X-CardCheck-API-Key": "sk-\u00e9-" + "z" * 20},
        )
    )
    assert code == 400
    assert "zzzz" not in error["message"]
    assert "X-CardCheck-API-Key" in error["message"]


async def test_version_reports_key_without_value(jp_fetch, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    response = await jp_fetch("cardcheck", "version")
    assert body_of(response)["llm_key_configured"] is False  # provider "none" uses no key
    assert SECRET_KEY not in response.body.decode("utf-8")


async def test_symlink_loop_is_client_error(jp_fetch, jp_root_dir, workspace):
    os.symlink("loop_b.md", jp_root_dir / "loop_a.md")
    os.symlink("loop_a.md", jp_root_dir / "loop_b.md")
    os.symlink("wsloop_b", jp_root_dir / "wsloop_a")
    os.symlink("wsloop_a", jp_root_dir / "wsloop_b")
    for body in [
        {"card": "loop_a.md"},
        {"workspace": "wsloop_a", "card_text": "AUC 0.8"},
        {"workspace": "ws", "card_text": "AUC 0.8", "notebooks": ["wsloop_a/x.ipynb"]},
    ]:
        code, error = await fetch_error(
            jp_fetch("cardcheck", "jobs", method="POST", body=json.dumps(body))
        )
        assert code == 400, body
        assert "cannot be resolved" in error["message"]
        assert str(jp_root_dir) not in error["message"]


async def test_non_utf8_body_is_client_error(jp_fetch, workspace):
    body = b'{"card_text": "Accuracy: 0.9 caf\xe9"}'
    code, error = await fetch_error(jp_fetch("cardcheck", "jobs", method="POST", body=body))
    assert code == 400
    assert "not UTF-8" in error["message"]
