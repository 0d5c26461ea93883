"""Rule extractors: name-value lines, pandas tables, classification reports, provenance."""

from __future__ import annotations

import pytest
from conftest import code_cell, display_data, execute_result, markdown_cell, notebook, stream

from cardcheck_lab.extract_rules import extract_rules
from cardcheck_lab.notebooks import parse_notebook

REPORT = """\
              precision    recall  f1-score   support

        good       0.88      0.95      0.91       800
   high risk       0.71      0.49      0.58       200

    accuracy                           0.86      1000
   macro avg       0.80      0.72      0.75      1000
weighted avg       0.85      0.86      0.85      1000
"""

OLD_REPORT = """\
             precision    recall  f1-score   support

       good       0.88      0.95      0.91       800
  high risk       0.71      0.49      0.58       200

avg / total       0.85      0.86      0.85      1000
"""

MICRO_REPORT = """\
              precision    recall  f1-score   support

        good       0.88      0.95      0.91       800
   high risk       0.71      0.49      0.58       200

   micro avg       0.87      0.87      0.87      1000
   macro avg       0.80      0.72      0.75      1000
weighted avg       0.85      0.86      0.85      1000
"""

NUMERIC_CLASS_REPORT = """\
              precision    recall  f1-score   support

           0       0.99      0.95      0.97    202133
           1       0.13      0.53      0.21      2878

    accuracy                           0.94    205011
   macro avg       0.56      0.74      0.59    205011
weighted avg       0.98      0.94      0.96    205011
"""

SPLIT_ROWS_TEXT = """\
       roc_auc  accuracy
train   0.8457    0.8194
test    0.7712    0.7817"""

MODEL_COLUMNS_TEXT = """\
           logistic_regression  gradient_boosting
roc_auc                 0.6202             0.7712
accuracy                0.7147             0.7817"""

SPLIT_ROWS_HTML = (
    "<table><thead><tr><th></th><th>roc_auc</th><th>accuracy</th></tr></thead><tbody>"
    "<tr><th>train</th><td>0.8457</td><td>0.8194</td></tr>"
    "<tr><th>test</th><td>0.7712</td><td>0.7817</td></tr></tbody></table>"
)

MODEL_COLUMNS_HTML = (
    "<table><thead><tr><th></th><th>logistic_regression</th><th>gradient_boosting</th></tr></thead><tbody>"
    "<tr><th>roc_auc</th><td>0.6202</td><td>0.7712</td></tr>"
    "<tr><th>accuracy</th><td>0.7147</td><td>0.7817</td></tr></tbody></table>"
)


def extract(*outputs, heading: str | None = None, path: str = "nb.ipynb", cell_id: str = "scores"):
    cells = [markdown_cell(f"## {heading}")] if heading else []
    cells.append(code_cell(*outputs, cell_id=cell_id, execution_count=7))
    return extract_rules(parse_notebook(notebook(*cells), path))


def values(evidence, metric: str, **qualifiers: str) -> list[float]:
    """Return the values of ``metric`` whose qualifiers are exactly ``qualifiers``."""
    return [
        item.value for item in evidence if item.metric == metric and item.qualifiers == qualifiers
    ]


def only(evidence, metric: str, **qualifiers: str):
    found = [item for item in evidence if item.metric == metric and item.qualifiers == qualifiers]
    assert len(found) == 1, (
        f"expected one {metric} {qualifiers}, got {[(e.value, e.qualifiers) for e in found]}"
    )
    return found[0]


# --- name and value lines ------------------------------------------------------


def test_colon_line():
    item = only(extract(stream("Test ROC-AUC: 0.8123\n")), "roc_auc", split="test")
    assert item.value == pytest.approx(0.8123)
    assert item.label == "Test ROC-AUC"


def test_equals_line():
    assert values(extract(stream("accuracy = 0.91\n")), "accuracy") == [pytest.approx(0.91)]


def test_percent_value():
    item = only(extract(stream("F1 score: 53.05%\n")), "f1")
    assert item.value == pytest.approx(53.05)
    assert item.unit == "percent"
    assert item.token == "53.05%"


def test_exponent_values():
    evidence = extract(stream("val_loss: 6.05e-06\nlr: 1e-3\nrecall = 8.1E-01\n"))
    assert values(evidence, "loss", split="val") == [pytest.approx(6.05e-06, rel=1e-9)]
    assert values(evidence, "learning_rate") == [pytest.approx(0.001)]
    assert values(evidence, "recall") == [pytest.approx(0.81)]


def test_exponent_token_kept():
    item = only(extract(stream("val_loss: 6.05e-06\n")), "loss", split="val")
    assert item.token == "6.05e-06"


def test_spread_kept_apart():
    evidence = extract(stream("Accuracy: 0.98 (+/- 0.03)\nAUC = 0.812 \u00b1 0.015\n"))
    assert [(e.metric, e.value) for e in evidence] == [("accuracy", 0.98), ("roc_auc", 0.812)]
    assert evidence[0].spread.value == pytest.approx(0.03)
    assert evidence[1].spread.value == pytest.approx(0.015)


def test_interval_kept_apart():
    item = only(extract(stream("KS 0.41 [95% CI 0.38\u20130.44]\n")), "ks")
    assert item.value == pytest.approx(0.41)
    assert (item.interval.low, item.interval.high) == pytest.approx((0.38, 0.44))


def test_decimal_commas():
    evidence = extract(stream("AUC: 0,703\nGini: 0,406\n"))
    assert values(evidence, "roc_auc") == [pytest.approx(0.703)]
    assert values(evidence, "gini") == [pytest.approx(0.406)]


def test_grouped_count():
    item = only(extract(stream("Train rows: 1,234,567\n")), "n_samples", split="train")
    assert item.value == 1234567
    assert item.ambiguity == ""


def test_dot_grouped_count_ambiguous():
    item = only(extract(stream("Test rows: 12.345\n")), "n_samples", split="test")
    assert item.ambiguity == "ambiguous separator"


def test_bounded_metric_out_of_range_dropped():
    assert extract(stream("AUC: 703\n")) == []


def test_split_from_line_before():
    evidence = extract(stream("Validation set\nAUC: 0.80\n\nTraining set\nAUC: 0.95\n"))
    assert values(evidence, "roc_auc", split="val") == [pytest.approx(0.80)]
    assert values(evidence, "roc_auc", split="train") == [pytest.approx(0.95)]


def test_split_and_model_from_heading():
    item = only(
        extract(stream("AUC: 0.8\n"), heading="Validation (random forest)"),
        "roc_auc",
        split="val",
        model="random_forest",
    )
    assert item.value == pytest.approx(0.8)


def test_condition_not_a_value():
    evidence = extract(stream("Threshold at ~5% FPR: 0.7663\nTPR at this threshold: 0.5278\n"))
    assert sorted((e.metric, e.value) for e in evidence) == [
        ("recall", 0.5278),
        ("threshold", 0.7663),
    ]


def test_error_output_not_mined():
    error = {
        "output_type": "error",
        "ename": "ValueError",
        "evalue": "AUC 0.99 too high",
        "traceback": ["AUC: 0.99"],
    }
    assert extract(error) == []


# --- pandas tables -------------------------------------------------------------


def test_text_table_split_rows():
    evidence = extract(execute_result({"text/plain": SPLIT_ROWS_TEXT}))
    assert values(evidence, "roc_auc", split="train") == [pytest.approx(0.8457)]
    assert values(evidence, "roc_auc", split="test") == [pytest.approx(0.7712)]
    assert values(evidence, "accuracy", split="test") == [pytest.approx(0.7817)]


def test_text_table_model_columns():
    evidence = extract(execute_result({"text/plain": MODEL_COLUMNS_TEXT}))
    assert values(evidence, "roc_auc", model="logistic_regression") == [pytest.approx(0.6202)]
    assert values(evidence, "roc_auc", model="gradient_boosting") == [pytest.approx(0.7712)]
    assert values(evidence, "accuracy", model="gradient_boosting") == [pytest.approx(0.7817)]


def test_text_table_count():
    assert len(extract(execute_result({"text/plain": SPLIT_ROWS_TEXT}))) == 4


def test_text_table_provenance_text():
    item = only(extract(execute_result({"text/plain": SPLIT_ROWS_TEXT})), "roc_auc", split="test")
    assert item.text == "       roc_auc  accuracy\ntest    0.7712    0.7817"


def test_text_table_truncated_marked():
    table = (
        "    roc_auc\n0      0.81\n1      0.79\n..      ...\n98     0.70\n\n[99 rows x 1 columns]"
    )
    evidence = [
        item for item in extract(execute_result({"text/plain": table})) if item.metric == "roc_auc"
    ]
    assert [item.value for item in evidence] == pytest.approx([0.81, 0.79, 0.70])
    assert {item.ambiguity for item in evidence} == {"truncated table"}


def test_html_table_split_rows():
    evidence = extract(execute_result({"text/html": SPLIT_ROWS_HTML}))
    assert values(evidence, "roc_auc", split="train") == [pytest.approx(0.8457)]
    assert values(evidence, "accuracy", split="test") == [pytest.approx(0.7817)]
    assert len(evidence) == 4


def test_html_table_model_columns():
    evidence = extract(execute_result({"text/html": MODEL_COLUMNS_HTML}))
    assert values(evidence, "roc_auc", model="logistic_regression") == [pytest.approx(0.6202)]
    assert values(evidence, "accuracy", model="gradient_boosting") == [pytest.approx(0.7817)]
    assert len(evidence) == 4


def test_html_table_decimal_comma():
    html = "<table><tr><th>metric</th><th>value</th></tr><tr><td>KS</td><td>0,412</td></tr></table>"
    assert values(extract(display_data({"text/html": html})), "ks") == [pytest.approx(0.412)]


def test_html_and_text_table_not_doubled():
    result = execute_result({"text/html": SPLIT_ROWS_HTML, "text/plain": SPLIT_ROWS_TEXT})
    evidence = extract(result)
    assert values(evidence, "roc_auc", split="test") == [pytest.approx(0.7712)]
    assert len(evidence) == 4


# --- classification reports ----------------------------------------------------


def test_report_accuracy_row():
    evidence = extract(stream(REPORT))
    assert values(evidence, "accuracy") == [pytest.approx(0.86)]


def test_report_accuracy_row_blank_columns_not_filled():
    evidence = extract(stream(REPORT))
    accuracy_line = [e for e in evidence if e.text.startswith("accuracy")]
    assert sorted(e.metric for e in accuracy_line) == ["accuracy", "n_samples"]


def test_report_class_with_space():
    evidence = extract(stream(REPORT))
    assert values(evidence, "recall", **{"class": "high risk"}) == [pytest.approx(0.49)]
    assert values(evidence, "precision", **{"class": "high risk"}) == [pytest.approx(0.71)]


def test_report_averages():
    evidence = extract(stream(REPORT))
    assert values(evidence, "f1", average="macro") == [pytest.approx(0.75)]
    assert values(evidence, "f1", average="weighted") == [pytest.approx(0.85)]


def test_report_total_support():
    evidence = extract(stream(REPORT))
    assert values(evidence, "n_samples") == [1000]
    assert values(evidence, "n_samples", **{"class": "good"}) == [800]


def test_report_avg_total_layout():
    evidence = extract(stream(OLD_REPORT))
    assert values(evidence, "f1", average="weighted") == [pytest.approx(0.85)]
    assert values(evidence, "recall", **{"class": "high risk"}) == [pytest.approx(0.49)]


def test_report_avg_total_has_no_accuracy():
    evidence = extract(stream(OLD_REPORT))
    assert [e for e in evidence if e.metric == "accuracy"] == []


def test_report_micro_avg_distinct():
    evidence = extract(stream(MICRO_REPORT))
    assert values(evidence, "f1", average="micro") == [pytest.approx(0.87)]
    assert values(evidence, "f1", average="macro") == [pytest.approx(0.75)]


def test_report_numeric_class_names():
    evidence = extract(stream(NUMERIC_CLASS_REPORT))
    assert values(evidence, "precision", **{"class": "1"}) == [pytest.approx(0.13)]
    assert values(evidence, "recall", **{"class": "0"}) == [pytest.approx(0.95)]
    assert values(evidence, "n_samples", **{"class": "1"}) == [2878]


def test_report_numeric_class_label_not_a_value():
    evidence = extract(stream(NUMERIC_CLASS_REPORT))
    assert [e for e in evidence if e.metric == "precision" and e.value in (0.0, 1.0)] == []


def test_report_between_other_lines():
    text = "Model: random forest\nAUC: 0.90\n" + REPORT + "\nKS: 0.40\n"
    evidence = extract(stream(text))
    assert values(evidence, "roc_auc", model="random_forest") == [pytest.approx(0.90)]
    assert values(evidence, "ks", model="random_forest") == [pytest.approx(0.40)]
    assert values(evidence, "accuracy", model="random_forest") == [pytest.approx(0.86)]


def test_report_model_from_title_line():
    text = "XGBoost Classification Report\nThreshold at ~5% FPR: 0.7663\n\n" + NUMERIC_CLASS_REPORT
    evidence = extract(stream(text))
    assert values(evidence, "f1", model="xgboost", **{"class": "1"}) == [pytest.approx(0.21)]


def test_report_keeps_model_and_split():
    text = "Model: Random Forest\nCV accuracy: 0.97\nClassification Report on Test Set:\n" + REPORT
    evidence = extract(stream(text))
    assert values(evidence, "accuracy", split="test", model="random_forest") == [
        pytest.approx(0.86)
    ]


def test_reports_of_several_models():
    text = "Model: Logistic Regression\n" + OLD_REPORT + "\n\nModel: Random Forest\n" + REPORT
    evidence = extract(stream(text))
    assert values(evidence, "f1", model="logistic_regression", average="weighted") == [
        pytest.approx(0.85)
    ]
    assert values(evidence, "accuracy", model="random_forest") == [pytest.approx(0.86)]
    assert values(evidence, "accuracy", model="logistic_regression") == []


# --- provenance ----------------------------------------------------------------


def test_provenance_fields():
    cells = [
        markdown_cell("# Scores"),
        code_cell(
            stream("Setup done\n"), stream("Test AUC: 0.812\n"), cell_id="auc", execution_count=9
        ),
    ]
    item = extract_rules(parse_notebook(notebook(*cells), "reports/eval.ipynb"))[0]
    assert item.notebook == "reports/eval.ipynb"
    assert item.cell_index == 1
    assert item.cell_id == "auc"
    assert item.output_index == 1
    assert item.execution_count == 9


def test_provenance_exact_text():
    item = extract(stream("\x1b[1mTest AUC:\x1b[0m \x1b[32m0.812\x1b[0m\n"))[0]
    assert item.text == "Test AUC: 0.812"
    assert item.token == "0.812"


def test_provenance_extractor_is_rules():
    item = extract(stream("AUC: 0.8\n"))[0]
    assert item.extractor == "rules"
    assert item.derived_from is None


def test_training_log_keeps_last_epoch():
    log = "".join(
        f"Epoch {epoch}/3\n100/100 [====] - 2s - loss: {0.5 - epoch / 10:.4f}"
        f" - val_accuracy: {0.7 + epoch / 100:.4f}\n"
        for epoch in (1, 2, 3)
    )
    evidence = extract(stream(log))
    assert values(evidence, "accuracy", split="val") == [pytest.approx(0.73)]
    assert values(evidence, "loss") == [pytest.approx(0.2)]


def test_repeated_shape_under_other_model_kept():
    text = (
        "Logistic regression\nCV accuracy: 0.801 (+/- 0.002)\n"
        "Gradient boosting\nCV accuracy: 0.828 (+/- 0.018)\n"
    )
    evidence = extract(stream(text))
    assert values(evidence, "accuracy", model="logistic_regression", split="cv") == [
        pytest.approx(0.801)
    ]
    assert values(evidence, "accuracy", model="gradient_boosting", split="cv") == [
        pytest.approx(0.828)
    ]
