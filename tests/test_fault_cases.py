"""Faults seen in real notebooks and reports, each rebuilt as a small workspace.

Every input is written byte for byte as such files appear in the wild, and the
expected verdict is what a person reading the same files would decide.
"""

from __future__ import annotations

import builtins
import io
import json
import locale
from pathlib import Path

import pytest
from conftest import (
    V3_NOTEBOOK,
    code_cell,
    error_output,
    execute_result,
    notebook,
    only_claim,
    run_job,
    stream,
    write_json,
    write_stream_notebook,
)

from cardcheck_lab.extract_rules import extract_rules
from cardcheck_lab.notebooks import parse_notebook, read_notebook

CLASSIFICATION_REPORT = """\
              precision    recall  f1-score   support

        good       0.88      0.95      0.91       800
   high risk       0.71      0.49      0.58       200

    accuracy                           0.86      1000
   macro avg       0.80      0.72      0.75      1000
weighted avg       0.85      0.86      0.85      1000
"""

OLD_CLASSIFICATION_REPORT = """\
             precision    recall  f1-score   support

       good       0.88      0.95      0.91       800
  high risk       0.71      0.49      0.58       200

avg / total       0.85      0.86      0.85      1000
"""

MICRO_CLASSIFICATION_REPORT = """\
              precision    recall  f1-score   support

        good       0.88      0.95      0.91       800
   high risk       0.71      0.49      0.58       200

   micro avg       0.87      0.87      0.87      1000
   macro avg       0.80      0.72      0.75      1000
weighted avg       0.85      0.86      0.85      1000
"""


def evidence_values(report: dict) -> list[float]:
    return [item["value"] for claim in report["claims"] for item in claim["evidence"]]


def statuses(report: dict) -> dict[str, tuple[str, str]]:
    return {n["path"]: (n["status"], n["error"]) for n in report["notebooks"]}


# --- output text stored as one string or as a list of lines --------------------


@pytest.fixture
def string_or_list_report(workspace: Path) -> dict:
    document = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "execution_count": 1,
                "metadata": {},
                "source": "print(summary)",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "AUC: 0.81\nKS: 0.42\n"}
                ],
            },
            {
                "cell_type": "code",
                "id": "c2",
                "execution_count": 2,
                "metadata": {},
                "source": ["gini_line"],
                "outputs": [
                    {
                        "output_type": "execute_result",
                        "execution_count": 2,
                        "metadata": {},
                        "data": {"text/plain": ["Gini: 0.6", "2\n"]},
                    }
                ],
            },
        ],
    }
    write_json(workspace / "scores.ipynb", document)
    return run_job(workspace, "# Card\n\nAUC 0.81, KS 0.42, Gini 0.62.\n")


@pytest.mark.parametrize("metric", ["roc_auc", "ks", "gini"])
def test_string_and_list_outputs_verified(string_or_list_report, metric):
    assert only_claim(string_or_list_report, metric)["verdict"] == "verified"


def test_list_output_read_as_whole_number(string_or_list_report):
    evidence = only_claim(string_or_list_report, "gini")["evidence"][0]
    assert evidence["derived_from"] is None
    assert evidence["token"] == "0.62"
    assert evidence["text"] == "Gini: 0.62"


def test_list_output_text_has_no_list_syntax(string_or_list_report):
    texts = [e["text"] for c in string_or_list_report["claims"] for e in c["evidence"]]
    assert all("['" not in text and "', '" not in text for text in texts)


def test_string_output_cites_cell(string_or_list_report):
    evidence = only_claim(string_or_list_report, "ks")["evidence"][0]
    assert evidence["cell_index"] == 0
    assert evidence["cell_id"] == "c1"
    assert evidence["text"] == "KS: 0.42"


# --- schema drift: missing outputs, duplicate ids, stray keys ------------------


def drifted_notebook(minor: int) -> dict:
    return {
        "nbformat": 4,
        "nbformat_minor": minor,
        "metadata": {},
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": "fit()"},
            {
                "cell_type": "code",
                "id": "dup",
                "execution_count": 3,
                "metadata": {},
                "source": "score(val)",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "val accuracy = 0.905\n"}
                ],
            },
            {
                "cell_type": "code",
                "id": "dup",
                "execution_count": 4,
                "metadata": {},
                "source": "score(test)",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "test accuracy = 0.912\n"}
                ],
            },
            {
                "cell_type": "markdown",
                "id": "m1",
                "metadata": {},
                "outputs": [],
                "source": "## Results",
            },
        ],
    }


@pytest.mark.parametrize("minor", [5, 4])
def test_drifted_notebook_scanned(workspace, minor):
    write_json(workspace / "drift.ipynb", drifted_notebook(minor))
    report = run_job(workspace, "# Card\n\nThe test accuracy is 0.912.\n")
    assert statuses(report)["drift.ipynb"][0] == "done"
    assert report["notebooks"][0]["evidence_count"] == 2


@pytest.mark.parametrize("minor", [5, 4])
def test_drifted_claim_cites_test_cell(workspace, minor):
    write_json(workspace / "drift.ipynb", drifted_notebook(minor))
    claim = run_job(workspace, "# Card\n\nThe test accuracy is 0.912.\n")["claims"][0]
    evidence = claim["evidence"][0]
    assert claim["verdict"] == "verified"
    assert evidence["cell_index"] == 2
    assert evidence["execution_count"] == 4
    assert evidence["cell_id"] is None


def test_duplicate_ids_never_merge():
    doc = parse_notebook(drifted_notebook(5), "drift.ipynb")
    values = {
        (item.cell_index, item.qualifiers["split"], item.value) for item in extract_rules(doc)
    }
    assert values == {(1, "val", 0.905), (2, "test", 0.912)}


def test_drift_warnings_listed():
    warnings = parse_notebook(drifted_notebook(5), "drift.ipynb").warnings
    assert "cells without an id (required since nbformat 4.5): 0" in warnings
    assert "cell id 'dup' is used by cells 1, 2; cells are referenced by index" in warnings
    assert "cell 0: code cell has no outputs field" in warnings


def test_markdown_outputs_warned():
    document = drifted_notebook(5)
    document["cells"][3]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "AUC: 0.99\n"}
    ]
    doc = parse_notebook(document, "drift.ipynb")
    assert "cell 3: markdown cell has outputs, ignored" in doc.warnings
    assert "AUC: 0.99\n" not in [output.text for output in doc.outputs]


def test_ids_in_old_minor_warned():
    warnings = parse_notebook(drifted_notebook(4), "drift.ipynb").warnings
    assert "cell ids are not part of nbformat 4.4; they are used for reference only" in warnings


def test_drift_warnings_in_report(workspace):
    write_json(workspace / "drift.ipynb", drifted_notebook(5))
    report = run_job(workspace, "# Card\n\nThe test accuracy is 0.912.\n")
    assert "cell 0: code cell has no outputs field" in report["notebooks"][0]["warnings"]


def test_drifted_file_not_rewritten(workspace):
    path = write_json(workspace / "drift.ipynb", drifted_notebook(5))
    before = path.read_bytes()
    run_job(workspace, "# Card\n\nThe test accuracy is 0.912.\n")
    assert path.read_bytes() == before


# --- nbformat 3 ----------------------------------------------------------------


@pytest.fixture
def legacy_report(workspace: Path) -> dict:
    write_json(workspace / "legacy.ipynb", V3_NOTEBOOK)
    return run_job(workspace, "# Card\n\nAUC 0.77, KS 0.35.\n")


@pytest.mark.parametrize(("metric", "cell_index"), [("roc_auc", 0), ("ks", 1)])
def test_nbformat3_claims_verified(legacy_report, metric, cell_index):
    claim = only_claim(legacy_report, metric)
    assert claim["verdict"] == "verified"
    assert claim["evidence"][0]["cell_index"] == cell_index


def test_nbformat3_noted(legacy_report):
    assert legacy_report["notebooks"][0]["warnings"] == ["nbformat 3 (converted for reading)"]


@pytest.mark.parametrize("version", [1, 2])
def test_ancient_format_clear_status(workspace, version):
    write_json(workspace / "ancient.ipynb", {"nbformat": version, "worksheets": []})
    report = run_job(workspace, "# Card\n\nAUC 0.77.\n")
    assert statuses(report)["ancient.ipynb"] == (
        "failed",
        f"unsupported notebook format version {version}",
    )
    assert report["claims"][0]["verdict"] == "no_evidence"


# --- files that are not JSON ---------------------------------------------------


@pytest.fixture
def unreadable_workspace(workspace: Path) -> dict[str, object]:
    good = notebook(code_cell(stream("Accuracy: 0.90\n")))
    write_json(workspace / "good.ipynb", good)

    (workspace / "empty.ipynb").write_bytes(b"")

    cut_source = json.dumps(notebook(code_cell(stream(["AUC: 0.81\n"]))), indent=1)
    cut = cut_source[: cut_source.index('"AUC: 0.81') + len('"AUC: 0.8')].encode("utf-8")
    assert cut.endswith(b'"text": [\n      "AUC: 0.8')
    (workspace / "cut.ipynb").write_bytes(cut)

    first = json.dumps(good, indent=1)
    (workspace / "doubled.ipynb").write_text(first + json.dumps(good, indent=1), encoding="utf-8")

    conflict_source = json.dumps(notebook(code_cell(stream(["PLACEHOLDER"]))), indent=1)
    lines = conflict_source.split("\n")
    marker = next(index for index, line in enumerate(lines) if "PLACEHOLDER" in line)
    lines[marker - 1 : marker + 2] = [
        '    "text": [',
        "<<<<<<< HEAD",
        '     "AUC: 0.81\\n"',
        "=======",
        '     "AUC: 0.79\\n"',
        ">>>>>>> retrain-2024q3",
        "    ]",
    ]
    (workspace / "conflict.ipynb").write_text("\n".join(lines), encoding="utf-8")
    return {
        "cut_size": len(cut),
        "doubled_line": first.count("\n") + 1,
        # 1-based lines of "<<<<<<<" and ">>>>>>>", which replaced the line at index ``marker``.
        "conflict_lines": (marker + 1, marker + 5),
    }


def test_unreadable_files_each_reason(workspace, unreadable_workspace):
    report = run_job(workspace, "# Card\n\nAUC 0.81.\n")
    low, high = unreadable_workspace["conflict_lines"]
    assert statuses(report) == {
        "good.ipynb": ("done", ""),
        "empty.ipynb": ("failed", "empty file"),
        "cut.ipynb": ("failed", f"JSON ends early at byte {unreadable_workspace['cut_size']}"),
        "doubled.ipynb": (
            "failed",
            f"extra data after JSON at line {unreadable_workspace['doubled_line']}",
        ),
        "conflict.ipynb": ("failed", f"unresolved git merge conflict (lines {low}\u2013{high})"),
    }


def test_unreadable_files_all_counted(workspace, unreadable_workspace):
    summary = run_job(workspace, "# Card\n\nAUC 0.81.\n")["summary"]
    assert summary["notebooks"] == 5
    assert summary["notebooks_done"] + summary["notebooks_failed"] == 5


def test_good_notebook_still_read(workspace, unreadable_workspace):
    report = run_job(workspace, "# Card\n\nAUC 0.81 and accuracy 0.90.\n")
    assert only_claim(report, "accuracy")["verdict"] == "verified"


def test_merge_conflict_decides_nothing(workspace, unreadable_workspace):
    claim = run_job(workspace, "# Card\n\nAUC 0.81.\n")["claims"][0]
    assert claim["verdict"] not in ("verified", "mismatch", "conflicting")
    assert all(item["notebook"] != "conflict.ipynb" for item in claim["evidence"])


def test_progress_reaches_total(workspace, unreadable_workspace):
    from cardcheck_lab.runner import Job

    job = Job(workspace=workspace, card_text="# Card\n\nAUC 0.81.\n")
    job.run()
    indexes = [e["index"] for e in job.events() if e["type"] == "notebook" and "index" in e]
    assert indexes == [1, 2, 3, 4, 5]
    assert job.snapshot()["processed"] == job.snapshot()["total"]


# --- ANSI colour codes ---------------------------------------------------------


ANSI_STREAM = (
    "\u001b[1mTest AUC:\u001b[0m \u001b[32m0.812\u001b[0m\n"
    "\u001b[38;5;241mKS\u001b[39m = \u001b[1m0.44\u001b[0m\n"
)
ANSI_ERROR = error_output(
    "ValueError",
    "bad shape",
    [
        "\u001b[0;31mValueError\u001b[0m    Traceback (most recent call last)",
        "Cell \u001b[0;32mIn[7], line 3\u001b[0m",
        "\u001b[0;31mValueError\u001b[0m: bad shape",
    ],
)


@pytest.fixture
def coloured_report(workspace: Path) -> dict:
    write_json(workspace / "colour.ipynb", notebook(code_cell(stream(ANSI_STREAM), ANSI_ERROR)))
    return run_job(workspace, "# Card\n\nAUC 0.812, KS 0.44.\n")


@pytest.mark.parametrize("metric", ["roc_auc", "ks"])
def test_coloured_claims_verified(coloured_report, metric):
    assert only_claim(coloured_report, metric)["verdict"] == "verified"


def test_escape_digits_never_values():
    doc = parse_notebook(notebook(code_cell(stream(ANSI_STREAM), ANSI_ERROR)), "colour.ipynb")
    values = sorted(item.value for item in extract_rules(doc))
    assert values == [0.44, 0.812]


def test_coloured_evidence_text_clean(coloured_report):
    texts = [
        only_claim(coloured_report, metric)["evidence"][0]["text"] for metric in ("roc_auc", "ks")
    ]
    assert texts == ["Test AUC: 0.812", "KS = 0.44"]


def test_error_output_summarised():
    doc = parse_notebook(notebook(code_cell(stream(ANSI_STREAM), ANSI_ERROR)), "colour.ipynb")
    errors = [output.text for output in doc.outputs if output.kind == "error"]
    assert errors == ["cell raised ValueError: bad shape"]


# --- encodings -----------------------------------------------------------------


@pytest.fixture
def encoded_workspace(workspace: Path) -> Path:
    latin = json.dumps(
        notebook(code_cell(stream("Pr\u00e9cision: 0.71\n"))), indent=1, ensure_ascii=False
    )
    (workspace / "latin1.ipynb").write_bytes(latin.encode("latin-1"))
    write_json(
        workspace / "utf8.ipynb", notebook(code_cell(stream("AUC \u2248 0.80 \u00b1 0.01\n")))
    )
    bom = json.dumps(notebook(code_cell(stream("Accuracy: 0.93\n"))), indent=1).encode("utf-8")
    (workspace / "bom.ipynb").write_bytes(b"\xef\xbb\xbf" + bom)
    return workspace


ENCODING_CARD = "# Card\n\nPrecision 0.71, AUC 0.80, accuracy 0.93.\n"


def test_latin1_file_fails_with_offset(encoded_workspace):
    offset = (encoded_workspace / "latin1.ipynb").read_bytes().index(b"\xe9")
    report = run_job(encoded_workspace, ENCODING_CARD)
    assert statuses(report)["latin1.ipynb"] == (
        "failed",
        f"not UTF-8 (byte 0xE9 at offset {offset})",
    )


def test_latin1_claim_not_mismatch(encoded_workspace):
    report = run_job(encoded_workspace, ENCODING_CARD)
    assert only_claim(report, "precision")["verdict"] == "no_evidence"


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy"])
def test_utf8_and_bom_verified(encoded_workspace, metric):
    report = run_job(encoded_workspace, ENCODING_CARD)
    assert only_claim(report, metric)["verdict"] == "verified"


def test_utf8_spread_read(encoded_workspace):
    evidence = only_claim(run_job(encoded_workspace, ENCODING_CARD), "roc_auc")["evidence"][0]
    assert evidence["text"] == "AUC \u2248 0.80 \u00b1 0.01"
    assert evidence["spread"]["value"] == pytest.approx(0.01)


def test_result_independent_of_locale(encoded_workspace, monkeypatch):
    def verdicts() -> list[tuple]:
        report = run_job(encoded_workspace, ENCODING_CARD)
        return [
            (c["metric"], c["verdict"], [e["text"] for e in c["evidence"]])
            for c in report["claims"]
        ]

    expected = verdicts()
    real_open = builtins.open

    def open_as_cp1252(file, mode="r", *args, **kwargs):
        # A text-mode open without an explicit encoding would use the Windows default.
        if "b" not in mode and kwargs.get("encoding") is None and len(args) < 2:
            kwargs["encoding"] = "cp1252"
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(locale, "getpreferredencoding", lambda do_setlocale=True: "cp1252")
    if hasattr(locale, "getencoding"):
        monkeypatch.setattr(locale, "getencoding", lambda: "cp1252")
    monkeypatch.setattr(builtins, "open", open_as_cp1252)
    monkeypatch.setattr(io, "open", open_as_cp1252)
    assert verdicts() == expected


def test_bom_file_read_directly(encoded_workspace):
    doc = read_notebook(encoded_workspace / "bom.ipynb", "bom.ipynb")
    assert [output.text for output in doc.outputs] == ["Accuracy: 0.93\n"]


# --- classification report layouts ---------------------------------------------


@pytest.fixture
def report_layouts(workspace: Path) -> Path:
    write_stream_notebook(workspace / "current.ipynb", CLASSIFICATION_REPORT)
    write_stream_notebook(workspace / "old.ipynb", OLD_CLASSIFICATION_REPORT)
    write_stream_notebook(workspace / "micro.ipynb", MICRO_CLASSIFICATION_REPORT)
    return workspace


LAYOUT_CARD = (
    "# Card\n\nAccuracy 0.86, macro F1 0.75, recall on the high-risk class 0.49, "
    "evaluated on 1,000 loans.\n"
)


@pytest.mark.parametrize("metric", ["accuracy", "f1", "recall", "n_samples"])
def test_report_layout_claims_verified(report_layouts, metric):
    report = run_job(report_layouts, LAYOUT_CARD)
    assert only_claim(report, metric)["verdict"] == "verified"


def test_report_layout_claim_qualifiers(report_layouts):
    report = run_job(report_layouts, LAYOUT_CARD)
    assert only_claim(report, "f1")["qualifiers"].get("average") == "macro"
    class_name = only_claim(report, "recall")["qualifiers"].get("class", "")
    assert class_name.replace("-", " ") == "high risk"


def test_avg_total_gives_no_accuracy(report_layouts):
    doc = read_notebook(report_layouts / "old.ipynb", "old.ipynb")
    metrics = {(item.metric, tuple(item.qualifiers.items())) for item in extract_rules(doc)}
    assert ("accuracy", ()) not in metrics
    assert ("f1", (("average", "weighted"),)) in metrics


def test_micro_avg_kept_distinct(report_layouts):
    doc = read_notebook(report_layouts / "micro.ipynb", "micro.ipynb")
    f1 = {
        item.qualifiers.get("average"): item.value
        for item in extract_rules(doc)
        if item.metric == "f1" and "average" in item.qualifiers
    }
    assert f1 == {"micro": 0.87, "macro": 0.75, "weighted": 0.85}


def test_accuracy_row_not_precision(report_layouts):
    doc = read_notebook(report_layouts / "current.ipynb", "current.ipynb")
    precision = sorted(item.value for item in extract_rules(doc) if item.metric == "precision")
    assert precision == [0.71, 0.80, 0.85, 0.88]


# --- decimal commas and thousands separators -----------------------------------


KS_TABLE = (
    '<table border="1" class="dataframe"><thead><tr><th>metric</th><th>value</th></tr></thead>'
    "<tbody><tr><td>KS</td><td>0,412</td></tr></tbody></table>"
)
LOCALE_CARD = (
    "# Card\n\nAUC 0.703, Gini 0.406, KS 0.412, 1,234,567 training rows, 12,345 test rows.\n"
)


@pytest.fixture
def locale_report(workspace: Path) -> dict:
    cells = [
        code_cell(stream("AUC: 0,703\nGini: 0,406\nTrain rows: 1,234,567\nTest rows: 12.345\n")),
        code_cell(
            execute_result(
                {"text/html": KS_TABLE, "text/plain": "  metric  value\n0     KS  0,412"}
            )
        ),
    ]
    write_json(workspace / "locale.ipynb", notebook(*cells))
    return run_job(workspace, LOCALE_CARD)


@pytest.mark.parametrize(("metric", "value"), [("roc_auc", 0.703), ("gini", 0.406), ("ks", 0.412)])
def test_decimal_comma_verified(locale_report, metric, value):
    claim = only_claim(locale_report, metric)
    assert claim["verdict"] == "verified"
    assert claim["evidence"][0]["value"] == pytest.approx(value)


def test_grouped_training_rows_verified(locale_report):
    claim = only_claim(locale_report, "n_samples", split="train")
    assert claim["verdict"] == "verified"
    assert claim["evidence"][0]["value"] == 1234567


def test_ambiguous_test_rows_unverifiable(locale_report):
    claim = only_claim(locale_report, "n_samples", split="test")
    assert claim["verdict"] == "unverifiable"
    assert "ambiguous separator" in claim["reason"]
    assert claim["evidence"][0]["token"] == "12.345"


def test_comma_never_dropped(locale_report):
    assert 703 not in evidence_values(locale_report)
    assert 406 not in evidence_values(locale_report)


def test_out_of_range_auc_not_evidence(workspace):
    write_stream_notebook(workspace / "bad.ipynb", "AUC: 703\n")
    claim = run_job(workspace, "# Card\n\nAUC 0.703.\n")["claims"][0]
    assert claim["verdict"] == "no_evidence"


# --- exponents and percent or fraction scale -----------------------------------


SCALE_CARD = (
    "# Card\n\nAccuracy 0.703; validation loss below 1e-5; learning rate 0.001; "
    "bad rate 2.1%; recall 81%.\n"
)


@pytest.fixture
def scale_report(workspace: Path) -> dict:
    text = "val_loss: 6.05e-06\nlr: 1e-3\nAccuracy: 70.3%\nbad_rate_pct: 0.021\nrecall = 8.1E-01\n"
    write_stream_notebook(workspace / "train.ipynb", text)
    return run_job(workspace, SCALE_CARD)


@pytest.mark.parametrize("metric", ["accuracy", "loss", "learning_rate", "recall"])
def test_magnitude_claims_verified(scale_report, metric):
    assert only_claim(scale_report, metric)["verdict"] == "verified"


def test_exponent_token_shown(scale_report):
    evidence = only_claim(scale_report, "loss")["evidence"][0]
    assert evidence["token"] == "6.05e-06"
    assert evidence["value"] == pytest.approx(6.05e-06, rel=1e-9)


def test_loss_bound_claim(scale_report):
    claim = only_claim(scale_report, "loss")
    assert claim["relation"] == "<"
    assert claim["value"] == pytest.approx(1e-05)


def test_pct_name_fraction_value_ambiguous(scale_report):
    claim = only_claim(scale_report, "event_rate")
    assert claim["verdict"] == "unverifiable"
    assert "scale ambiguous (percent vs fraction; matches if fraction)" in claim["reason"]
    assert claim["evidence"][0]["token"] == "0.021"


# --- spreads and confidence intervals ------------------------------------------


SPREAD_TEXT = (
    "Accuracy: 0.98 (+/- 0.03)\nAUC = 0.812 \u00b1 0.015\n"
    "KS 0.41 [95% CI 0.38\u20130.44]\nGini: 0.62 (0.58, 0.66)\n"
)
SPREAD_CARD = "# Card\n\nAUC 0.81 \u00b1 0.02 (std over 5 folds); KS 0.41 (95% CI 0.38 to 0.44); accuracy 0.98.\n"


@pytest.fixture
def spread_report(workspace: Path) -> dict:
    write_stream_notebook(workspace / "cv.ipynb", SPREAD_TEXT)
    return run_job(workspace, SPREAD_CARD)


def test_point_estimates_extracted():
    doc = parse_notebook(notebook(code_cell(stream(SPREAD_TEXT))), "cv.ipynb")
    assert [(item.metric, item.value) for item in extract_rules(doc)] == [
        ("accuracy", 0.98),
        ("roc_auc", 0.812),
        ("ks", 0.41),
        ("gini", 0.62),
    ]


def test_spreads_kept_with_unknown_meaning():
    doc = parse_notebook(notebook(code_cell(stream(SPREAD_TEXT))), "cv.ipynb")
    spreads = [
        (item.spread.value, item.spread.meaning) for item in extract_rules(doc) if item.spread
    ]
    assert spreads == [(0.03, "unknown"), (0.015, "unknown")]


def test_en_dash_interval_bounds():
    doc = parse_notebook(notebook(code_cell(stream(SPREAD_TEXT))), "cv.ipynb")
    ks = next(item for item in extract_rules(doc) if item.metric == "ks")
    assert (ks.interval.low, ks.interval.high) == pytest.approx((0.38, 0.44))
    assert ks.interval.label == "95% CI"


@pytest.mark.parametrize("metric", ["roc_auc", "ks", "accuracy"])
def test_spread_claims_verified(spread_report, metric):
    assert only_claim(spread_report, metric)["verdict"] == "verified"


def test_spread_meaning_difference_reported(spread_report):
    claim = only_claim(spread_report, "roc_auc")
    assert claim["spread"] == {"value": 0.02, "meaning": "std"}
    assert "spread differs or has a different meaning" in claim["reason"]


def test_confidence_interval_confirmed(spread_report):
    claim = only_claim(spread_report, "ks")
    assert "interval 0.38 to 0.44 matches 0.38 to 0.44" in claim["reason"]


def test_spread_values_never_metrics(spread_report):
    values = evidence_values(spread_report)
    assert 0.03 not in values
    assert 0.015 not in values
