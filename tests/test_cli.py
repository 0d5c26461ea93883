"""The cardcheck command end to end on the example workspace, run as a separate process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLE_WORKSPACE, REPO_ROOT

from cardcheck_lab.report import report_schema

CARD = EXAMPLE_WORKSPACE / "MODEL_CARD.md"
NOTEBOOKS = ["1_data_prep.ipynb", "2_train.ipynb", "3_pd_modeling.ipynb", "4_report.ipynb"]

# What a careful reader of MODEL_CARD.md and the notebooks decides for each claim:
# (line, metric, qualifiers the claim must carry, expected verdict).
EXPECTED = [
    (17, "roc_auc", {"split": "test"}, "verified"),
    (20, "accuracy", {"split": "test"}, "verified"),
    (23, "f1", {"split": "test"}, "verified"),
    (54, "n_samples", {}, "verified"),
    (57, "n_samples", {"split": "train"}, "verified"),
    (57, "n_samples", {"split": "test"}, "verified"),
    (59, "event_rate", {"split": "train"}, "verified"),
    (67, "accuracy", {"split": "cv", "model": "gradient_boosting"}, "verified"),
    (68, "gini", {"split": "val", "model": "gradient_boosting"}, "verified"),
    (69, "gini", {"split": "val", "model": "logistic_regression"}, "verified"),
    (78, "roc_auc", {"split": "train"}, "verified"),
    (78, "roc_auc", {"split": "test"}, "mismatch"),
    (79, "accuracy", {"split": "train"}, "verified"),
    (79, "accuracy", {"split": "test"}, "verified"),
    (80, "precision", {"split": "train"}, "verified"),
    (80, "precision", {"split": "test"}, "verified"),
    (81, "recall", {"split": "train"}, "verified"),
    (81, "recall", {"split": "test"}, "verified"),
    (82, "f1", {"split": "train"}, "verified"),
    (82, "f1", {"split": "test"}, "verified"),
    (84, "roc_auc", {"split": "test"}, "verified"),
    (85, "accuracy", {"split": "test"}, "verified"),
    (86, "roc_auc", {"split": "test", "model": "logistic_regression"}, "verified"),
    (87, "gini", {}, "verified"),
    (88, "ks", {}, "verified"),
    (89, "log_loss", {}, "verified"),
    (91, "recall", {}, "verified"),
    (93, "recall", {"class": "high risk"}, "verified"),
    (94, "f1", {"average": "macro"}, "verified"),
    (97, "ece", {}, "no_evidence"),
]


def cardcheck(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cardcheck_lab.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def json_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    output = tmp_path_factory.mktemp("cli") / "report.json"
    result = cardcheck(
        "verify",
        str(CARD),
        "--repo",
        str(EXAMPLE_WORKSPACE),
        "--format",
        "json",
        "--output",
        str(output),
    )
    return result, json.loads(output.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def report(json_run) -> dict:
    return json_run[1]


def claim(report: dict, line: int, metric: str, qualifiers: dict) -> dict:
    found = [
        c
        for c in report["claims"]
        if c["line"] == line
        and c["metric"] == metric
        and all(c["qualifiers"].get(k) == v for k, v in qualifiers.items())
    ]
    assert len(found) == 1, f"expected one {metric} claim {qualifiers} on line {line}, got {found}"
    return found[0]


# --- exit status and progress --------------------------------------------------


def test_exit_one_for_mismatch(json_run):
    assert json_run[0].returncode == 1


def test_progress_line_per_notebook(json_run):
    lines = json_run[0].stderr.splitlines()
    processed = [re.fullmatch(r"\[(\d)/5\] Processed (\S+)", line) for line in lines]
    assert sorted(m.group(2) for m in processed if m) == NOTEBOOKS


def test_progress_failed_line(json_run):
    size = (EXAMPLE_WORKSPACE / "broken.ipynb").stat().st_size
    failed = [line for line in json_run[0].stderr.splitlines() if "Failed" in line]
    assert len(failed) == 1
    assert re.fullmatch(
        rf"\[\d/5\] Failed broken\.ipynb: JSON ends early at byte {size}", failed[0]
    )


def test_progress_counts_to_total(json_run):
    counters = re.findall(r"^\[(\d)/5\]", json_run[0].stderr, re.MULTILINE)
    assert sorted(counters) == ["1", "2", "3", "4", "5"]


def test_final_message_printed(json_run, report):
    assert report["message"] in json_run[0].stderr.splitlines()
    assert re.fullmatch(r"Extracted \d+ metrics from 5 notebooks \(1 failed\)", report["message"])


def test_json_written_only_to_file(json_run):
    assert json_run[0].stdout == ""


# --- the JSON report -----------------------------------------------------------


def test_json_matches_schema(report):
    jsonschema.validate(report, report_schema())


def test_every_claim_expected(report):
    found = sorted((c["line"], c["metric"]) for c in report["claims"])
    assert found == sorted((line, metric) for line, metric, _, _ in EXPECTED)


@pytest.mark.parametrize(("line", "metric", "qualifiers", "verdict"), EXPECTED)
def test_claim_verdict(report, line, metric, qualifiers, verdict):
    assert claim(report, line, metric, qualifiers)["verdict"] == verdict


def test_summary_counts(report):
    assert report["summary"]["mismatch"] == 1
    assert report["summary"]["no_evidence"] == 1
    assert report["summary"]["verified"] == 28


def test_notebook_statuses(report):
    statuses = {n["path"]: n["status"] for n in report["notebooks"]}
    assert statuses == {**{name: "done" for name in NOTEBOOKS}, "broken.ipynb": "failed"}


def test_mismatch_cites_test_auc(report):
    item = claim(report, 78, "roc_auc", {"split": "test"})
    assert item["value"] == pytest.approx(0.87)
    assert item["evidence"][0]["notebook"] == "3_pd_modeling.ipynb"
    assert item["evidence"][0]["value"] == pytest.approx(0.7712, abs=5e-5)
    assert "0.87" in item["reason"]
    assert re.search(r"0\.771(2|169) in 3_pd_modeling\.ipynb cell \d+", item["reason"])


def test_gini_derived_from_validation_auc(report):
    item = claim(report, 68, "gini", {"split": "val", "model": "gradient_boosting"})
    source = item["evidence"][0]["derived_from"][0]
    assert source["notebook"] == "2_train.ipynb"
    assert source["cell_index"] == 8
    assert source["text"] == "Validation ROC-AUC (gradient_boosting): 0.7800"


def test_baseline_gini_derived(report):
    item = claim(report, 69, "gini", {"split": "val", "model": "logistic_regression"})
    assert item["value"] == pytest.approx(0.30)
    source = item["evidence"][0]["derived_from"][0]
    assert source["value"] == pytest.approx(0.6507)
    assert source["text"] == "Validation ROC-AUC (logistic_regression): 0.6507"


def test_log_loss_from_coloured_line(report):
    evidence = claim(report, 89, "log_loss", {})["evidence"][0]
    assert evidence["notebook"] == "4_report.ipynb"
    assert evidence["cell_index"] == 8
    assert evidence["text"] == "Test log loss: 0.4126"


def test_class_recall_from_report(report):
    evidence = claim(report, 93, "recall", {"class": "high risk"})["evidence"][0]
    assert evidence["notebook"] == "4_report.ipynb"
    assert evidence["cell_index"] == 4
    assert evidence["value"] == pytest.approx(0.61)


def test_card_lines_hedged_claims(report):
    assert claim(report, 87, "gini", {})["tolerance"] == pytest.approx(0.1)
    assert claim(report, 88, "ks", {})["tolerance"] == pytest.approx(0.1)
    assert claim(report, 91, "recall", {})["relation"] == ">"


def test_failed_notebook_reported(report):
    broken = next(n for n in report["notebooks"] if n["path"] == "broken.ipynb")
    size = (EXAMPLE_WORKSPACE / "broken.ipynb").stat().st_size
    assert broken["error"] == f"JSON ends early at byte {size}"


# --- bad input -----------------------------------------------------------------


def test_missing_card_exit_two(tmp_path):
    result = cardcheck("verify", str(tmp_path / "absent.md"))
    assert result.returncode == 2
    assert f"error: model card not found: {tmp_path / 'absent.md'}" in result.stderr


def test_missing_workspace_exit_two(tmp_path):
    result = cardcheck("verify", str(CARD), "--repo", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert f"error: workspace folder not found: {tmp_path / 'absent'}" in result.stderr


def test_card_without_claims_exit_two(tmp_path):
    card = tmp_path / "card.md"
    card.write_text(
        "# Model\n\nVersion 2 of the model, trained in 2023 on 10 features.\n", encoding="utf-8"
    )
    result = cardcheck("verify", str(card), "--repo", str(EXAMPLE_WORKSPACE))
    assert result.returncode == 2
    assert (
        f"error: no metric claims found in {card}: the card states no number next to a metric name"
        in result.stderr
    )


def test_bad_workers_exit_two():
    result = cardcheck("verify", str(CARD), "--workers", "0")
    assert result.returncode == 2
    assert "--workers must be at least 1" in result.stderr


def test_no_mismatch_exit_zero(tmp_path):
    card = tmp_path / "card.md"
    card.write_text("# Model\n\nThe test ROC-AUC is 0.7712.\n", encoding="utf-8")
    result = cardcheck("verify", str(card), "--repo", str(EXAMPLE_WORKSPACE), "--quiet")
    assert result.returncode == 0


def test_repo_defaults_to_card_folder():
    result = cardcheck("verify", str(CARD), "--quiet", "--format", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["workspace"] == str(EXAMPLE_WORKSPACE)


# --- output files --------------------------------------------------------------


def test_output_markdown_file(tmp_path):
    output = tmp_path / "report.md"
    result = cardcheck(
        "verify", str(CARD), "--format", "markdown", "--output", str(output), "--quiet"
    )
    assert result.returncode == 1
    text = output.read_text(encoding="utf-8")
    assert text.startswith(f"# Model card check: {CARD}")
    assert "| mismatch | 78 | roc_auc (split=test) |" in text


def test_output_text_file(tmp_path):
    output = tmp_path / "report.txt"
    result = cardcheck("verify", str(CARD), "--output", str(output), "--quiet")
    assert result.returncode == 1
    text = output.read_text(encoding="utf-8")
    assert (
        "30 claims: 1 mismatch, 0 conflicting, 0 unverifiable, 1 no evidence, 28 verified" in text
    )
    assert "failed: broken.ipynb: JSON ends early at byte" in text


def test_quiet_prints_no_progress(tmp_path):
    result = cardcheck("verify", str(CARD), "--quiet", "--output", str(tmp_path / "r.txt"))
    assert "Processed" not in result.stderr


def test_console_script_installed():
    script = Path(sys.executable).parent / "cardcheck"
    result = subprocess.run(
        [str(script), "verify", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert "--format" in result.stdout


def test_output_folder_is_bad_input(tmp_path):
    run = cardcheck("verify", str(CARD), "--quiet", "--output", str(tmp_path))
    assert run.returncode == 2
    assert "cannot write the report" in run.stderr
    assert "Traceback" not in run.stderr


def test_notebook_as_card_rejected():
    run = cardcheck("verify", str(EXAMPLE_WORKSPACE / "2_train.ipynb"))
    assert run.returncode == 2
    assert "is a notebook" in run.stderr


def test_nothing_read_is_bad_input():
    run = cardcheck("verify", str(CARD), "--quiet", "--notebook", "broken.ipynb")
    assert run.returncode == 2
    assert "no notebook could be read" in run.stderr


def test_notebook_path_from_current_folder():
    run = cardcheck(
        "verify",
        str(CARD),
        "--quiet",
        "--format",
        "json",
        "--notebook",
        "examples/credit-scoring/4_report.ipynb",
    )
    notebooks = [entry["path"] for entry in json.loads(run.stdout)["notebooks"]]
    assert notebooks == ["4_report.ipynb"]
