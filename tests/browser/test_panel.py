"""End-to-end tests of the "Model card check" panel in JupyterLab and headless Chromium.

Run with ``pytest -m browser tests/browser``. Each module starts its own
`jupyter lab` on 127.0.0.1 with a token, on a temporary copy of
``examples/credit-scoring``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .lab_support import REPO_ROOT, LabServer

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

SCREENSHOT = REPO_ROOT / "docs" / "panel.png"
# Milliseconds allowed for a whole job on the example workspace.
JOB_TIMEOUT = 120_000
FINAL_NOTEBOOK_STATUSES = {"done", "failed", "skipped", "cancelled"}
NOT_ENABLED_MESSAGE = (
    "CardCheck server extension is not enabled; run `jupyter server extension list`"
)
# Accessible name of a claim's link to the card, such as "Open the model card at line 78: ...".
CLAIM_BUTTON = re.compile(r"^Open the model card at line (\d+): ")
# Accessible name of an evidence link, such as "Open 2_train.ipynb at cell 5 (0.7034)".
EVIDENCE_BUTTON = re.compile(r"^Open .+\.ipynb at cell \d+ ")
EVIDENCE_LABEL = re.compile(
    r"^Open (?P<notebook>.+\.ipynb) at cell (?P<cell>\d+) \((?P<value>.*)\)$"
)


def open_lab(page: Page, lab: LabServer, path: str = "lab") -> None:
    """Load JupyterLab with a reset layout and wait for the shell and the panel's tab."""
    page.goto(lab.lab_url(path) + "&reset")
    page.locator("#jp-main-dock-panel").wait_for()
    page.get_by_role("tab", name="Model card check").wait_for()


def show_sidebar_tab(page: Page, name: str | re.Pattern[str]) -> None:
    """Select a left sidebar tab unless it is selected, because a second click collapses the sidebar."""
    tab = page.get_by_role("tab", name=name)
    tab.wait_for()
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")


def open_panel(page: Page) -> Locator:
    """Show the panel in the left sidebar and return its locator."""
    show_sidebar_tab(page, "Model card check")
    panel = page.locator("#cardcheck-lab-panel")
    panel.wait_for(state="visible")
    return panel


def wait_for_job_end(panel: Locator) -> str:
    """Wait until the job reaches a final state and return the state."""
    status = panel.get_by_role("status").filter(has_text="notebooks checked")
    status.wait_for()
    panel.page.wait_for_function(
        """() => {
            const node = document.querySelector('#cardcheck-lab-panel .jp-CardCheck-jobState');
            return node && ['done', 'failed', 'cancelled', 'interrupted']
                .includes(node.getAttribute('data-state'));
        }""",
        timeout=JOB_TIMEOUT,
    )
    return str(status.get_attribute("data-state"))


def widen_sidebar(page: Page, width: int) -> None:
    """Drag the handle between the left sidebar and the main area to `width` pixels."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    if box is None:
        return
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(width, y, steps=5)
    page.mouse.up()


def notebook_rows(panel: Locator) -> dict[str, str]:
    """Return {notebook path: status} of the panel's notebook rows."""
    rows = panel.get_by_role("list", name="Notebooks").get_by_role("listitem")
    statuses = {}
    for index in range(rows.count()):
        row = rows.nth(index)
        path = row.locator(".jp-CardCheck-notebookPath").inner_text()
        statuses[path] = str(row.get_attribute("data-status"))
    return statuses


def active_cell(page: Page) -> dict[str, object]:
    """Return the index, highlight state and text of the active cell of the visible notebook."""
    return page.evaluate(
        """() => {
            const panel = Array.from(document.querySelectorAll('.jp-NotebookPanel'))
                .find(node => !node.classList.contains('lm-mod-hidden'));
            if (!panel) { return null; }
            const cells = Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell'));
            const active = panel.querySelector('.jp-Notebook .jp-Cell.jp-mod-active');
            if (!active) { return null; }
            const listed = active.getAttribute('data-windowed-list-index');
            return {
                index: listed === null ? cells.indexOf(active) : Number(listed),
                highlighted: active.classList.contains('jp-CardCheck-highlight'),
                text: active.innerText
            };
        }"""
    )


def test_verify_card_shows_results_and_opens_evidence(page: Page, lab: LabServer) -> None:
    open_lab(page, lab)
    panel = open_panel(page)

    # The card at the root of the workspace is detected through the contents API.
    card = panel.get_by_role("region", name="Model card")
    expect(card).to_contain_text("MODEL_CARD.md")
    assert "(detected)" in card.inner_text()
    assert "none (rule-based extraction only)" in panel.inner_text()

    panel.get_by_role("button", name="Verify model card").click()
    state = wait_for_job_end(panel)
    assert state == "done", panel.inner_text()

    statuses = notebook_rows(panel)
    expected = sorted(path.name for path in lab.root.glob("*.ipynb"))
    assert sorted(statuses) == expected
    assert set(statuses.values()) <= FINAL_NOTEBOOK_STATUSES, statuses
    assert statuses["broken.ipynb"] == "failed"
    broken_row = panel.get_by_role("listitem", name="broken.ipynb: failed")
    assert broken_row.get_by_role("alert").inner_text().strip() != ""
    progress = panel.get_by_role("progressbar", name="Notebooks checked")
    assert progress.get_attribute("aria-valuenow") == progress.get_attribute("aria-valuemax")

    # Mismatches come first and show both numbers.
    claims = (
        panel.get_by_role("list", name="Claims")
        .get_by_role("listitem")
        .filter(has=page.locator(".jp-CardCheck-claimHeader"))
    )
    verdicts = [claims.nth(i).get_attribute("data-verdict") for i in range(claims.count())]
    assert verdicts, "no claims listed"
    assert "mismatch" in verdicts, verdicts
    order = ["mismatch", "conflicting", "unverifiable", "no_evidence", "verified"]
    assert [order.index(v) for v in verdicts] == sorted(order.index(v) for v in verdicts)

    mismatches = panel.get_by_role("listitem", name=re.compile(r"^Mismatch: "))
    assert mismatches.count() == verdicts.count("mismatch")
    for index in range(mismatches.count()):
        values = mismatches.nth(index).locator(".jp-CardCheck-values").inner_text()
        assert re.search(r"claimed \S+", values), values
        assert re.search(r"found \S+", values), values

    widen_sidebar(page, 420)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SCREENSHOT))

    # The evidence link opens the notebook with the cell active and highlighted.
    evidence = mismatches.first.get_by_role("button", name=EVIDENCE_BUTTON).first
    match = EVIDENCE_LABEL.match(str(evidence.get_attribute("aria-label")))
    assert match is not None
    notebook, cell_index, value = match["notebook"], int(match["cell"]), match["value"]
    evidence.click()
    page.get_by_role("tab", name=re.compile(re.escape(Path(notebook).name))).wait_for()
    page.wait_for_function(
        "() => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CardCheck-highlight')"
    )
    cell = active_cell(page)
    assert cell is not None
    assert cell["index"] == cell_index
    assert cell["highlighted"] is True
    assert value in str(cell["text"])

    # The claim text opens the card in the editor at the claim's line.
    claim_link = mismatches.first.get_by_role("button", name=CLAIM_BUTTON)
    line = int(CLAIM_BUTTON.match(str(claim_link.get_attribute("aria-label"))).group(1))
    claim_link.click()
    page.get_by_role("tab", name=re.compile(r"MODEL_CARD\.md")).wait_for()
    expect(page.locator("#jp-main-statusbar")).to_contain_text(f"Ln {line}, Col 1")


def test_notebook_context_menu_restricts_job(page: Page, lab: LabServer) -> None:
    open_lab(page, lab, "lab/tree/2_train.ipynb")
    page.get_by_role("tab", name=re.compile(r"2_train\.ipynb")).wait_for()
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    notebook.locator(".jp-Notebook .jp-Cell").first.wait_for()
    notebook.locator(".jp-Spinner").wait_for(state="detached")
    notebook.locator(".jp-Notebook .jp-Cell").first.click(button="right")
    page.get_by_role("menuitem", name="Check this notebook against the model card").click()

    panel = open_panel(page)
    assert wait_for_job_end(panel) == "done", panel.inner_text()
    assert notebook_rows(panel) == {"2_train.ipynb": "done"}
    assert "Restricted to 2_train.ipynb" in panel.inner_text()


def test_file_browser_entry_verifies_markdown(page: Page, lab: LabServer) -> None:
    open_lab(page, lab)
    show_sidebar_tab(page, re.compile(r"^File Browser"))
    item = page.locator('.jp-DirListing-item[data-file-type="markdown"]', has_text="MODEL_CARD.md")
    item.click(button="right")
    page.get_by_role("menuitem", name="Verify this model card").click()
    panel = open_panel(page)
    assert wait_for_job_end(panel) == "done", panel.inner_text()
    assert "(chosen)" in panel.get_by_role("region", name="Model card").inner_text()


def test_disabled_server_extension_shows_fix(
    page: Page, lab_without_server_extension: LabServer
) -> None:
    lab = lab_without_server_extension
    open_lab(page, lab)
    panel = open_panel(page)
    alert = panel.get_by_role("alert").filter(has_text=NOT_ENABLED_MESSAGE)
    alert.wait_for()

    # Starting a job shows the same error instead of a progress indicator.
    panel.get_by_role("button", name="Verify model card").click()
    alert.first.wait_for()
    assert panel.get_by_role("progressbar").count() == 0
    assert panel.get_by_role("button", name="Verify model card").is_enabled()
