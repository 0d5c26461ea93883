"""Helpers that build notebooks as plain JSON, so each test controls every byte of its input.

The engine reads notebooks itself rather than through nbformat, so the tests
write the JSON directly: a list or a string for multiline text, a missing
``outputs`` key, an nbformat 3 layout, or bytes that are not JSON at all.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from cardcheck_lab.model import Claim, Evidence
from cardcheck_lab.runner import Job, JobOptions


def pytest_configure(config: pytest.Config) -> None:
    """Point every cache (engine and LLM) at a folder of this test run, not ~/.cache."""
    cache_home = Path(tempfile.mkdtemp(prefix="cardcheck-test-cache-"))
    os.environ["XDG_CACHE_HOME"] = str(cache_home)


REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_WORKSPACE = REPO_ROOT / "examples" / "credit-scoring"
SHARED = REPO_ROOT.parent / "shared"


def stream(text: Any, name: str = "stdout") -> dict[str, Any]:
    """Return a stream output; ``text`` may be a string or a list of strings."""
    return {"output_type": "stream", "name": name, "text": text}


def execute_result(data: dict[str, Any], execution_count: int | None = 1) -> dict[str, Any]:
    return {
        "output_type": "execute_result",
        "execution_count": execution_count,
        "metadata": {},
        "data": data,
    }


def display_data(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {}, "data": data}


def error_output(ename: str, evalue: str, traceback: list[str]) -> dict[str, Any]:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback}


def code_cell(
    *outputs: dict[str, Any],
    cell_id: str | None = None,
    execution_count: int | None = 1,
    source: Any = "pass",
) -> dict[str, Any]:
    """Return an nbformat 4 code cell; the id is left out when ``cell_id`` is None."""
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": execution_count,
        "metadata": {},
        "source": source,
        "outputs": list(outputs),
    }
    if cell_id is not None:
        cell["id"] = cell_id
    return cell


def markdown_cell(source: Any, cell_id: str | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": "markdown", "metadata": {}, "source": source}
    if cell_id is not None:
        cell["id"] = cell_id
    return cell


def notebook(*cells: dict[str, Any], minor: int = 5) -> dict[str, Any]:
    """Return an nbformat 4 document; cells without an id get "cell-N" when ``minor`` is 5 or more."""
    numbered = []
    for index, cell in enumerate(cells):
        cell = dict(cell)
        if minor >= 5 and "id" not in cell:
            cell["id"] = f"cell-{index}"
        numbered.append(cell)
    return {"nbformat": 4, "nbformat_minor": minor, "metadata": {}, "cells": numbered}


def write_json(path: Path, document: Any) -> Path:
    """Write ``document`` as indented UTF-8 JSON, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def write_stream_notebook(path: Path, *texts: str) -> Path:
    """Write a notebook with one code cell per text, each printing that text."""
    cells = [code_cell(stream(text), execution_count=index + 1) for index, text in enumerate(texts)]
    return write_json(path, notebook(*cells))


def run_job(workspace: Path, card_text: str, workers: int = 2, **options: Any) -> dict[str, Any]:
    """Check ``card_text`` against the notebooks of ``workspace``; return the report."""
    job = Job(
        workspace=workspace,
        card_text=card_text,
        card_label="card.md",
        options=JobOptions(workers=workers, **options),
    )
    return job.run()


def claims_for(report: dict[str, Any], metric: str, **qualifiers: str) -> list[dict[str, Any]]:
    """Return the report's claims of ``metric`` whose qualifiers include ``qualifiers``."""
    return [
        claim
        for claim in report["claims"]
        if claim["metric"] == metric
        and all(claim["qualifiers"].get(k) == v for k, v in qualifiers.items())
    ]


def only_claim(report: dict[str, Any], metric: str, **qualifiers: str) -> dict[str, Any]:
    found = claims_for(report, metric, **qualifiers)
    assert len(found) == 1, (
        f"expected one {metric} claim with {qualifiers}, got {[c['text'] for c in found]}"
    )
    return found[0]


def make_claim(
    metric: str, value: float, unit: str = "fraction", decimals: int = 2, **fields: Any
) -> Claim:
    """Return a claim whose tolerance is half a unit in its last stated digit, unless given."""
    tolerance = fields.pop("tolerance", 0.5 * 10.0 ** (-decimals))
    return Claim(
        id="c1",
        text=f"{metric} {value}",
        line=1,
        metric=metric,
        value=value,
        unit=unit,
        decimals=decimals,
        tolerance=tolerance,
        **fields,
    )


def make_evidence(metric: str, value: float, unit: str = "fraction", **fields: Any) -> Evidence:
    """Return one printed value with made-up but complete provenance."""
    defaults: dict[str, Any] = {
        "notebook": "eval.ipynb",
        "cell_index": 3,
        "cell_id": "scores",
        "output_index": 0,
        "text": f"{metric}: {value}",
        "token": f"{value}",
    }
    defaults.update(fields)
    return Evidence(metric=metric, value=value, unit=unit, **defaults)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    return folder


# The v3 layout (worksheets, input, prompt_number, pyout), as nbformat/v3/nbbase.py names it.
V3_NOTEBOOK = {
    "nbformat": 3,
    "nbformat_minor": 0,
    "metadata": {"name": "legacy_scorecard"},
    "worksheets": [
        {
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "language": "python",
                    "collapsed": False,
                    "metadata": {},
                    "prompt_number": 4,
                    "input": ["print('Test AUC: 0.77')"],
                    "outputs": [
                        {"output_type": "stream", "stream": "stdout", "text": ["Test AUC: 0.77\n"]}
                    ],
                },
                {
                    "cell_type": "code",
                    "language": "python",
                    "collapsed": False,
                    "metadata": {},
                    "prompt_number": 5,
                    "input": ["ks_text"],
                    "outputs": [
                        {
                            "output_type": "pyout",
                            "prompt_number": 5,
                            "metadata": {},
                            "text": ["'KS = 0.35'"],
                        }
                    ],
                },
            ],
        }
    ],
}
