"""Every report the engine builds validates against the published JSON Schema."""

from __future__ import annotations

import copy
import json
import os

import jsonschema
import pytest
from conftest import EXAMPLE_WORKSPACE, run_job, write_stream_notebook

from cardcheck_lab.report import REPORT_VERSION, render_markdown, report_schema
from cardcheck_lab.runner import Job, JobOptions

EXAMPLE_CARD = (EXAMPLE_WORKSPACE / "MODEL_CARD.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def schema() -> dict:
    return report_schema()


@pytest.fixture(scope="module")
def example_report() -> dict:
    return run_job(EXAMPLE_WORKSPACE, EXAMPLE_CARD, workers=3)


def test_schema_is_valid(schema):
    jsonschema.Draft202012Validator.check_schema(schema)


def test_example_report_valid(schema, example_report):
    jsonschema.validate(example_report, schema)


def test_example_report_round_trips_json(schema, example_report):
    jsonschema.validate(json.loads(json.dumps(example_report)), schema)


def test_report_version(example_report):
    assert example_report["version"] == REPORT_VERSION


def test_report_has_derived_evidence(example_report):
    derived = [e for c in example_report["claims"] for e in c["evidence"] if e["derived_from"]]
    assert derived


def test_failed_job_report_valid(schema, workspace):
    report = run_job(workspace, "# Card\n\nNo numbers here.\n")
    assert report["state"] == "failed"
    jsonschema.validate(report, schema)


def test_cancelled_job_report_valid(schema, workspace):
    for index in range(4):
        write_stream_notebook(workspace / f"nb{index}.ipynb", "Test AUC: 0.81\n")
    job = Job(workspace=workspace, card_text="The test AUC is 0.81.", options=JobOptions(workers=1))
    job.cancel()
    report = job.run()
    assert report["state"] == "cancelled"
    jsonschema.validate(report, schema)


def test_skipped_and_unverifiable_report_valid(schema, tmp_path):
    root = tmp_path / "ws"
    write_stream_notebook(root / "rows.ipynb", "Test rows: 12.345\n")
    write_stream_notebook(tmp_path / "outside" / "x.ipynb", "AUC: 0.9\n")
    os.symlink(tmp_path / "outside", root / "linked")
    report = run_job(root, "The model was evaluated on 12,345 test rows.")
    assert {n["status"] for n in report["notebooks"]} == {"done", "skipped"}
    assert report["claims"][0]["verdict"] == "unverifiable"
    jsonschema.validate(report, schema)


def test_api_key_never_in_report(schema, workspace):
    write_stream_notebook(workspace / "nb.ipynb", "AUC: 0.81\n")
    options = JobOptions(workers=1, api_key="sk-secret-value")
    report = Job(workspace=workspace, card_text="AUC 0.81", options=options).run()
    assert "sk-secret-value" not in json.dumps(report)
    jsonschema.validate(report, schema)


def test_schema_rejects_api_key(schema, example_report):
    report = copy.deepcopy(example_report)
    report["options"]["api_key"] = "sk-secret-value"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, schema)


def test_schema_rejects_unknown_verdict(schema, example_report):
    report = copy.deepcopy(example_report)
    report["claims"][0]["verdict"] = "probably"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, schema)


def test_schema_rejects_missing_provenance(schema, example_report):
    report = copy.deepcopy(example_report)
    del report["claims"][0]["evidence"][0]["cell_index"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, schema)


def test_markdown_lists_every_claim(example_report):
    text = render_markdown(example_report)
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| ")
        and line.split("|")[1].strip()
        in ("verified", "mismatch", "conflicting", "unverifiable", "no_evidence")
    ]
    assert len(rows) == len(example_report["claims"])


def test_markdown_mismatch_first(example_report):
    text = render_markdown(example_report)
    first_row = next(
        line for line in text.splitlines() if line.startswith("| ") and "| line |" not in line
    )
    assert first_row.startswith("| mismatch | 78 |")
