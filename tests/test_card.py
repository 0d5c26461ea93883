"""Claims parser: model-index front matter, Markdown tables and prose."""

from __future__ import annotations

import pytest

from cardcheck_lab.card import parse_card, tolerance_for

FRONT_MATTER_CARD = """\
---
language: en
model-index:
  - name: churn-model
    results:
      - task:
          type: tabular-classification
        dataset:
          name: Telco churn
          type: telco
          split: validation
        metrics:
          - type: accuracy
            value: 0.912
            name: Validation accuracy
          - type: f1
            value: 0.64
            name: F1 (macro)
---

# Churn model
"""

TABLES_CARD = """\
# Churn model

| Metric   | Train | Test  |
|----------|-------|-------|
| ROC-AUC  | 0.91  | 0.84  |
| Accuracy | 88.1% | 85.3% |

| Split | ROC-AUC | Recall |
|-------|---------|--------|
| Train | 0.93    | 0.70   |
| Test  | 0.83    | 0.66   |

| Model               | ROC-AUC | F1   |
|---------------------|---------|------|
| Random forest       | 0.82    | 0.61 |
| Logistic regression | 0.79    | 0.55 |

### Test set

| Metric | Value |
|--------|-------|
| KS     | ~0.45 |
| Recall | > 60% |
"""


def one_claim(text: str):
    claims = parse_card(text)
    assert len(claims) == 1, (
        f"expected one claim in {text!r}, got {[(c.metric, c.value) for c in claims]}"
    )
    return claims[0]


def claim_at(claims, line: int, metric: str):
    found = [c for c in claims if c.line == line and c.metric == metric]
    assert len(found) == 1, f"expected one {metric} claim on line {line}, got {found}"
    return found[0]


# --- model-index front matter --------------------------------------------------


def test_model_index_claim_lines():
    claims = parse_card(FRONT_MATTER_CARD)
    assert [(c.line, c.metric) for c in claims] == [(14, "accuracy"), (17, "f1")]


def test_model_index_values():
    claims = parse_card(FRONT_MATTER_CARD)
    assert claims[0].value == pytest.approx(0.912)
    assert claims[0].unit == "fraction"
    assert claims[0].source == "model-index"


def test_model_index_dataset_and_split():
    accuracy = parse_card(FRONT_MATTER_CARD)[0]
    assert accuracy.qualifiers["dataset"] == "Telco churn"
    assert accuracy.qualifiers["split"] == "val"


def test_model_index_average_from_name():
    f1 = parse_card(FRONT_MATTER_CARD)[1]
    assert f1.qualifiers["average"] == "macro"


def test_model_index_lines_with_crlf():
    claims = parse_card(FRONT_MATTER_CARD.replace("\n", "\r\n"))
    assert [c.line for c in claims] == [14, 17]


def test_body_lines_after_front_matter():
    card = FRONT_MATTER_CARD + "\nThe test ROC-AUC is 0.88.\n"
    roc = [c for c in parse_card(card) if c.metric == "roc_auc"]
    assert [c.line for c in roc] == [23]


# --- Markdown tables -----------------------------------------------------------


def test_table_metric_rows_split_columns():
    claims = parse_card(TABLES_CARD)
    train = [c for c in claims if c.line == 5 and c.qualifiers.get("split") == "train"]
    test = [c for c in claims if c.line == 5 and c.qualifiers.get("split") == "test"]
    assert [c.value for c in train] == pytest.approx([0.91])
    assert [c.value for c in test] == pytest.approx([0.84])


def test_table_percent_cells():
    claims = [c for c in parse_card(TABLES_CARD) if c.line == 6]
    assert [(c.value, c.unit, c.qualifiers["split"]) for c in claims] == [
        (88.1, "percent", "train"),
        (85.3, "percent", "test"),
    ]


def test_table_split_rows_metric_columns():
    claims = [c for c in parse_card(TABLES_CARD) if c.line == 10]
    assert sorted((c.metric, c.value) for c in claims) == [("recall", 0.70), ("roc_auc", 0.93)]
    assert {c.qualifiers.get("split") for c in claims} == {"train"}


def test_table_model_column():
    claims = [c for c in parse_card(TABLES_CARD) if c.line == 15]
    assert sorted((c.metric, c.value) for c in claims) == [("f1", 0.61), ("roc_auc", 0.82)]
    assert {c.qualifiers.get("model") for c in claims} == {"random_forest"}


def test_table_claim_source_and_text():
    claim = claim_at(parse_card(TABLES_CARD), 16, "f1")
    assert claim.source == "table"
    assert claim.qualifiers["model"] == "logistic_regression"
    assert "0.55" in claim.text


def test_table_split_from_heading():
    claim = claim_at(parse_card(TABLES_CARD), 22, "ks")
    assert claim.qualifiers.get("split") == "test"


def test_table_hedge_sign():
    claim = claim_at(parse_card(TABLES_CARD), 22, "ks")
    assert claim.hedge == "~"
    assert claim.tolerance == pytest.approx(0.01)


def test_table_bound_sign():
    claim = claim_at(parse_card(TABLES_CARD), 23, "recall")
    assert claim.relation == ">"
    assert claim.value == 60
    assert claim.unit == "percent"


def test_table_of_non_metrics_ignored():
    card = "| Zone | Probability |\n|---|---|\n| Safe | < 20% |\n| Watch | 20-60% |\n"
    assert parse_card(card) == []


# --- prose ---------------------------------------------------------------------


def test_prose_hedged_ks():
    claim = one_claim("The model reaches a KS of approximately 0.3 on the test set.")
    assert claim.metric == "ks"
    assert claim.value == pytest.approx(0.3)
    assert claim.hedge == "approximately"
    assert claim.qualifiers.get("split") == "test"


def test_prose_roc_auc_around():
    claim = one_claim("ROC-AUC around 0.7.")
    assert claim.metric == "roc_auc"
    assert claim.hedge == "around"
    assert claim.tolerance == pytest.approx(0.1)


def test_prose_unhedged_tolerance():
    claim = one_claim("The ROC-AUC is 0.7.")
    assert claim.hedge == ""
    assert claim.tolerance == pytest.approx(0.05)


def test_prose_accuracy_percent():
    claim = one_claim("The model has an accuracy of 91.2%.")
    assert claim.metric == "accuracy"
    assert claim.value == pytest.approx(91.2)
    assert claim.unit == "percent"
    assert claim.tolerance == pytest.approx(0.05)


def test_prose_over_bound():
    claim = one_claim("Test recall is over 80%.")
    assert claim.relation == ">"
    assert claim.value == 80
    assert claim.tolerance == 0


def test_prose_training_rows():
    claim = one_claim("The model was fit on 1,234,567 training rows.")
    assert claim.metric == "n_samples"
    assert claim.value == 1234567
    assert claim.unit == "count"
    assert claim.qualifiers.get("split") == "train"


def test_prose_spread_kept():
    claim = one_claim("The AUC is 0.81 \u00b1 0.02 on the test set.")
    assert claim.value == pytest.approx(0.81)
    assert claim.spread is not None
    assert claim.spread.value == pytest.approx(0.02)


def test_prose_spread_at_sentence_end():
    claim = one_claim("Cross-validated AUC is 0.81 \u00b1 0.02.")
    assert claim.spread is not None
    assert claim.spread.value == pytest.approx(0.02)


def test_prose_interval_kept():
    claim = one_claim("KS 0.41 (95% CI 0.38 to 0.44) on the test set.")
    assert claim.interval is not None
    assert (claim.interval.low, claim.interval.high) == pytest.approx((0.38, 0.44))


@pytest.mark.parametrize(
    ("text", "hedge"),
    [
        ("AUC ~0.70 on the holdout set.", "~"),
        ("AUC of about 0.70.", "about"),
        ("AUC roughly 0.70.", "roughly"),
    ],
)
def test_prose_hedge_words(text, hedge):
    claim = one_claim(text)
    assert claim.hedge == hedge
    assert claim.tolerance == pytest.approx(0.01)


def test_prose_split_from_sentence():
    claims = parse_card(
        "On the validation split the random forest has an F1 of 0.77, "
        "against an F1 of 0.70 for the logistic regression."
    )
    assert [(c.value, c.qualifiers.get("split")) for c in claims] == [(0.77, "val"), (0.70, "val")]


def test_prose_model_per_clause():
    claims = parse_card(
        "On the validation split the random forest has an F1 of 0.77, "
        "against an F1 of 0.70 for the logistic regression."
    )
    assert [c.qualifiers.get("model") for c in claims] == ["random_forest", "logistic_regression"]


def test_prose_class_and_average():
    claims = parse_card("The macro-average F1 is 0.69 and recall on the high risk class is 0.61.")
    assert [(c.metric, c.qualifiers) for c in claims] == [
        ("f1", {"average": "macro"}),
        ("recall", {"class": "high risk"}),
    ]


def test_heading_sets_split():
    claim = one_claim("## Test set\n\nThe accuracy is 0.91.\n")
    assert claim.qualifiers.get("split") == "test"
    assert claim.line == 3


def test_training_data_heading_sets_no_split():
    claim = one_claim("## Training data\n\nThe accuracy is 0.91.\n")
    assert "split" not in claim.qualifiers


def test_sentence_split_beats_heading():
    claim = one_claim("## Test set\n\nOn the validation split the accuracy is 0.91.\n")
    assert claim.qualifiers.get("split") == "val"


def test_line_of_wrapped_paragraph():
    claims = parse_card(
        "# Card\n\nThe model is a forest.\nIts test accuracy is\n0.91 on held-out loans.\n"
    )
    assert [c.line for c in claims] == [5]


# --- what is not a claim -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Version 2 of the model replaces the 2023 scorecard.",
        "The model uses 10 features and 100 trees of depth 3.",
        "We compared 5 models with 3 folds each.",
        "Released on 2024-05-01 under the MIT license.",
    ],
)
def test_non_metric_numbers_ignored(text):
    assert parse_card(text) == []


def test_fenced_code_ignored():
    card = "# Card\n\n```python\naccuracy = 0.99\nprint('AUC: 0.95')\n```\n"
    assert parse_card(card) == []


def test_indented_code_ignored():
    assert parse_card("# Card\n\n    accuracy: 0.99\n") == []


def test_inline_html_ignored():
    assert parse_card('<img alt="accuracy 0.99" src="x.png">\n') == []


# --- tolerance -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "decimals", "hedge", "unit", "expected"),
    [
        (0.7, 1, "", "fraction", 0.05),
        (0.7, 1, "around", "fraction", 0.1),
        (0.7712, 4, "", "fraction", 0.00005),
        (91.2, 1, "", "percent", 0.05),
        (7000, 0, "about", "count", 500),
    ],
)
def test_tolerance_from_precision(value, decimals, hedge, unit, expected):
    assert tolerance_for(value, decimals, hedge, unit, "=") == pytest.approx(expected)


def test_tolerance_zero_for_bounds():
    assert tolerance_for(80, 0, "", "percent", ">") == 0
