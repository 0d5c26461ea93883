"""Fixtures of the browser tests: JupyterLab servers and headless Chromium.

Every test in this folder is marked ``browser``, so ``-m browser`` selects them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LabServer,
    check_server_extension,
    start_lab,
    stop_lab,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    browser_dir = Path(__file__).resolve().parent
    for item in items:
        if browser_dir in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


# Module scope, not session: the sync Playwright API keeps an asyncio event loop
# running on the main thread while it is open, which breaks the pytest-jupyter
# server fixtures of the tests collected after this folder.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}; install it with apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab with the CardCheck server extension enabled."""
    server = start_lab(tmp_path_factory.mktemp("lab"))
    status = check_server_extension(server)
    if status != 200:
        stop_lab(server)
        pytest.fail(
            f"GET cardcheck/version returned {status}: the server extension did not load.\n"
            f"{server.log_tail()}"
        )
    yield server
    stop_lab(server)


@pytest.fixture(scope="module")
def lab_without_server_extension(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab with the labextension installed but the server extension disabled."""
    server = start_lab(
        tmp_path_factory.mktemp("lab-disabled"),
        "--ServerApp.jpserver_extensions=cardcheck_lab=False",
    )
    yield server
    stop_lab(server)


@pytest.fixture()
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
