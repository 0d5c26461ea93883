"""The LLM extractor inside a verification job: merged evidence, notes, and no verdict changed by an LLM failure."""

from __future__ import annotations

import json

import pytest
from fakellm import FakeLLM, answer, isolate_sdk_environment, server_error

from cardcheck_lab.llm import LLMSettings
from cardcheck_lab.runner import Job, JobOptions

KEY = "sk-test-SECRET123"
CARD = "# Model card\n\nOn the test set the model reaches an accuracy of 0.912 and a ROC-AUC of 0.83.\n"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    isolate_sdk_environment(monkeypatch, tmp_path)


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


def write_notebook(path, outputs: list[str]) -> None:
    cells = [
        {
            "cell_type": "code",
            "id": f"cell-{index}",
            "execution_count": index + 1,
            "metadata": {},
            "source": ["evaluate()"],
            "outputs": [{"output_type": "stream", "name": "stdout", "text": text}],
        }
        for index, text in enumerate(outputs)
    ]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    path.write_text(json.dumps(notebook), encoding="utf-8")


@pytest.fixture
def workspace(tmp_path):
    folder = tmp_path / "workspace"
    folder.mkdir()
    (folder / "MODEL_CARD.md").write_text(CARD, encoding="utf-8")
    write_notebook(folder / "evaluate.ipynb", ["Test accuracy: 0.912\n", "Overall AUC: 0.81\n"])
    return folder


def run(workspace, settings: LLMSettings | None):
    options = JobOptions(workers=2, llm=settings)
    job = Job(workspace=workspace, card_path=workspace / "MODEL_CARD.md", options=options)
    report = job.run()
    return job, report


def settings_for(fake: FakeLLM, tmp_path, **overrides) -> LLMSettings:
    values = {
        "provider": "openai-compatible",
        "model": "fake-model",
        "base_url": fake.openai_base_url,
        "api_key": KEY,
        "timeout": 10.0,
        "max_retries": 0,
        "cache_path": tmp_path / "llm.sqlite",
    }
    values.update(overrides)
    return LLMSettings(**values)


def verdicts(report) -> dict[str, str]:
    return {claim["metric"]: claim["verdict"] for claim in report["claims"]}


def test_llm_failure_keeps_rule_verdicts(fake, tmp_path, workspace):
    _, rules_only = run(workspace, None)
    fake.default = server_error()
    job, report = run(workspace, settings_for(fake, tmp_path))

    assert report["state"] == "done"
    assert verdicts(report) == verdicts(rules_only)
    assert job.results["evaluate.ipynb"].status == "done"
    assert job.results["evaluate.ipynb"].notes == [
        "LLM extraction not available: server error (500) after 1 attempt"
    ]


def test_llm_duplicates_of_rules_dropped(fake, tmp_path, workspace):
    _, rules_only = run(workspace, None)
    job, report = run(workspace, settings_for(fake, tmp_path))

    assert fake.request_count == 1
    assert verdicts(report) == verdicts(rules_only)
    evidence = job.results["evaluate.ipynb"].evidence
    keys = [(item.cell_index, item.metric, item.value) for item in evidence]
    assert len(keys) == len(set(keys))
    # The fake reports the same two values the rules read, so every LLM item is a duplicate.
    assert {item.extractor for item in evidence} == {"rules"}


def test_rejected_values_noted(fake, tmp_path, workspace):
    fake.script(
        answer(
            [{"name": "roc_auc", "value": 0.83, "cell": 1, "quote": "Overall AUC: 0.83"}],
            only_quoted=False,
        )
    )
    job, report = run(workspace, settings_for(fake, tmp_path))

    # The hallucinated 0.83 would have verified the card's claim; it is dropped instead.
    assert verdicts(report)["roc_auc"] != "verified"
    assert (
        "LLM values rejected as not found in the cited output: 1"
        in job.results["evaluate.ipynb"].notes
    )
    assert all(item.value != 0.83 for item in job.results["evaluate.ipynb"].evidence)


def test_report_omits_key(fake, tmp_path, workspace):
    _, report = run(workspace, settings_for(fake, tmp_path))
    assert KEY not in json.dumps(report)
