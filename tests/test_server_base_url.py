"""The extension under a JupyterHub-style base URL, and its enable-on-install config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from server_support import (
    body_of,
    parse_sse,
    post_job,
    server_config,
    wait_for_state,
    write_notebook,
)
from tornado.httpclient import HTTPClientError

pytest_plugins = ["pytest_jupyter.jupyter_server"]

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.fixture
def jp_base_url():
    return "/user/alice/"


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(tmp_path / "reports")


async def test_routes_under_user_prefix(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir / "w" / "eval.ipynb", "Test AUC: 0.81\n")
    response = await jp_fetch("cardcheck", "version")
    assert "/user/alice/cardcheck/version?" in response.effective_url

    response = await jp_fetch(
        "cardcheck",
        "jobs",
        method="POST",
        body=json.dumps({"card_text": "Test AUC 0.81", "workspace": "w"}),
    )
    created = body_of(response)
    assert response.headers["Location"] == f"/user/alice/cardcheck/jobs/{created['id']}"

    snapshot = await wait_for_state(jp_fetch, created["id"])
    assert snapshot["claims"][0]["verdict"] == "verified"
    events = parse_sse(
        (await jp_fetch("cardcheck", "jobs", created["id"], "events")).body.decode("utf-8")
    )
    assert events[-1][1]["state"] == "done"


async def test_routes_absent_without_prefix(http_server_client, jp_auth_header):
    with pytest.raises(HTTPClientError) as info:
        await http_server_client.fetch("/cardcheck/version", headers=jp_auth_header)
    assert info.value.code == 404


def test_config_file_enables_extension():
    config = json.loads(
        (REPOSITORY / "jupyter-config" / "server-config" / "cardcheck_lab.json").read_text()
    )
    assert config == {"ServerApp": {"jpserver_extensions": {"cardcheck_lab": True}}}

    import cardcheck_lab
    from cardcheck_lab.app import CardCheckApp

    points = cardcheck_lab._jupyter_server_extension_points()
    assert [point["app"] for point in points] == [CardCheckApp]
    assert CardCheckApp.name == "cardcheck_lab"


async def test_post_job_helper_under_prefix(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir / "eval.ipynb", "Test AUC: 0.81\n")
    created = await post_job(jp_fetch, {"card_text": "Test AUC 0.81"})
    snapshot = await wait_for_state(jp_fetch, created["id"])
    assert snapshot["workspace"] == "."
