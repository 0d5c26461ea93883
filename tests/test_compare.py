"""Comparator: each verdict, its reason, units, qualifiers and derived values."""

from __future__ import annotations

import pytest
from conftest import make_claim, make_evidence

from cardcheck_lab.card import parse_card
from cardcheck_lab.compare import compare, derive_evidence, summarize


def decide_one(claim, evidence):
    verdicts = compare([claim], evidence)
    assert len(verdicts) == 1
    return verdicts[0]


def card_claim(text: str):
    claims = parse_card(text)
    assert len(claims) == 1, f"expected one claim in {text!r}, got {claims}"
    return claims[0]


# --- each verdict --------------------------------------------------------------


def test_verified_within_precision():
    verdict = decide_one(
        make_claim("roc_auc", 0.81), [make_evidence("roc_auc", 0.812, token="0.812")]
    )
    assert verdict.verdict == "verified"


def test_verified_reason_names_numbers_and_place():
    verdict = decide_one(
        make_claim("roc_auc", 0.81), [make_evidence("roc_auc", 0.812, token="0.812")]
    )
    assert "0.81" in verdict.reason
    assert "0.812" in verdict.reason
    assert "eval.ipynb cell 3" in verdict.reason


def test_verified_evidence_attached():
    evidence = make_evidence("roc_auc", 0.812)
    verdict = decide_one(make_claim("roc_auc", 0.81), [evidence])
    assert verdict.evidence == [evidence]


def test_mismatch_outside_precision():
    verdict = decide_one(
        make_claim("roc_auc", 0.87), [make_evidence("roc_auc", 0.7712, token="0.7712")]
    )
    assert verdict.verdict == "mismatch"


def test_mismatch_reason_names_numbers_and_place():
    verdict = decide_one(
        make_claim("roc_auc", 0.87), [make_evidence("roc_auc", 0.7712, token="0.7712")]
    )
    assert "0.87" in verdict.reason
    assert "0.7712" in verdict.reason
    assert "eval.ipynb cell 3" in verdict.reason


def test_mismatch_cites_closest_value():
    evidence = [
        make_evidence("roc_auc", 0.60, token="0.60", cell_index=1),
        make_evidence("roc_auc", 0.7712, token="0.7712", cell_index=5),
    ]
    verdict = decide_one(make_claim("roc_auc", 0.87), evidence)
    assert verdict.evidence[0].value == pytest.approx(0.7712)
    assert "eval.ipynb cell 5" in verdict.reason


def test_conflicting_between_notebooks():
    evidence = [
        make_evidence("roc_auc", 0.81, notebook="a.ipynb", label="Test AUC", token="0.81"),
        make_evidence("roc_auc", 0.79, notebook="b.ipynb", label="Test AUC", token="0.79"),
    ]
    verdict = decide_one(make_claim("roc_auc", 0.81), evidence)
    assert verdict.verdict == "conflicting"
    assert "a.ipynb cell 3" in verdict.reason
    assert "0.79 in b.ipynb cell 3" in verdict.reason


def test_other_models_not_conflicting():
    evidence = [
        make_evidence(
            "accuracy",
            0.97,
            notebook="a.ipynb",
            label="accuracy",
            qualifiers={"model": "random_forest"},
        ),
        make_evidence(
            "accuracy",
            0.80,
            notebook="b.ipynb",
            label="accuracy",
            qualifiers={"model": "logistic_regression"},
        ),
    ]
    verdict = decide_one(make_claim("accuracy", 0.97), evidence)
    assert verdict.verdict == "verified"


def test_unverifiable_truncated_table():
    evidence = [make_evidence("roc_auc", 0.81, ambiguity="truncated table")]
    verdict = decide_one(make_claim("roc_auc", 0.81), evidence)
    assert verdict.verdict == "unverifiable"
    assert "truncated table" in verdict.reason


def test_unverifiable_ambiguous_separator():
    evidence = [
        make_evidence(
            "n_samples", 12345, unit="count", token="12.345", ambiguity="ambiguous separator"
        )
    ]
    verdict = decide_one(make_claim("n_samples", 12345, unit="count", decimals=0), evidence)
    assert verdict.verdict == "unverifiable"
    assert "ambiguous separator" in verdict.reason
    assert "12.345 in eval.ipynb cell 3" in verdict.reason


def test_unverifiable_scale():
    evidence = [
        make_evidence(
            "event_rate", 0.021, token="0.021", ambiguity="scale ambiguous (percent vs fraction)"
        )
    ]
    verdict = decide_one(make_claim("event_rate", 2.1, unit="percent", decimals=1), evidence)
    assert verdict.verdict == "unverifiable"
    assert "scale ambiguous (percent vs fraction; matches if fraction)" in verdict.reason


def test_no_evidence_names_metric_and_scope():
    verdict = decide_one(
        make_claim("ece", 0.02, qualifiers={"split": "test"}), [make_evidence("roc_auc", 0.8)]
    )
    assert verdict.verdict == "no_evidence"
    assert verdict.reason == "no readable output reports ece for split test"
    assert verdict.evidence == []


def test_summary_counts_each_verdict():
    claims = [make_claim("roc_auc", 0.81), make_claim("ks", 0.4), make_claim("ece", 0.02)]
    verdicts = compare(claims, [make_evidence("roc_auc", 0.81), make_evidence("ks", 0.3)])
    counts = summarize(verdicts)
    assert counts == {
        "mismatch": 1,
        "conflicting": 0,
        "unverifiable": 0,
        "no_evidence": 1,
        "verified": 1,
    }


# --- units and tolerance -------------------------------------------------------


def test_percent_claim_fraction_evidence():
    verdict = decide_one(
        card_claim("The accuracy is 78.2%."), [make_evidence("accuracy", 0.7817, token="0.7817")]
    )
    assert verdict.verdict == "verified"


def test_fraction_claim_percent_evidence():
    evidence = [make_evidence("accuracy", 70.3, unit="percent", token="70.3%")]
    verdict = decide_one(card_claim("The accuracy is 0.703."), evidence)
    assert verdict.verdict == "verified"


def test_percent_mismatch_by_scale_not_silent():
    evidence = [make_evidence("accuracy", 0.703, token="0.703")]
    verdict = decide_one(card_claim("The accuracy is 7.03%."), evidence)
    assert verdict.verdict == "mismatch"


def test_unhedged_tolerance_rejects():
    verdict = decide_one(
        card_claim("The ROC-AUC is 0.7."), [make_evidence("roc_auc", 0.77, token="0.77")]
    )
    assert verdict.verdict == "mismatch"


def test_hedge_widens_tolerance():
    verdict = decide_one(
        card_claim("The ROC-AUC is around 0.7."), [make_evidence("roc_auc", 0.77, token="0.77")]
    )
    assert verdict.verdict == "verified"


def test_hedge_tolerance_still_bounded():
    verdict = decide_one(
        card_claim("The ROC-AUC is around 0.7."), [make_evidence("roc_auc", 0.81, token="0.81")]
    )
    assert verdict.verdict == "mismatch"


def test_rounded_evidence_slack():
    verdict = decide_one(
        card_claim("The accuracy is 94.4%."), [make_evidence("accuracy", 0.94, token="0.94")]
    )
    assert verdict.verdict == "verified"


@pytest.mark.parametrize(
    ("found", "verdict"), [(0.6126, "verified"), (0.45, "mismatch"), (0.50, "mismatch")]
)
def test_bound_claim(found, verdict):
    claim = card_claim("Test recall is over 50%.")
    evidence = [make_evidence("recall", found, qualifiers={"split": "test"})]
    assert decide_one(claim, evidence).verdict == verdict


def test_below_bound_with_exponent():
    claim = card_claim("The validation loss is below 1e-5.")
    evidence = [
        make_evidence("loss", 6.05e-06, unit="value", token="6.05e-06", qualifiers={"split": "val"})
    ]
    assert decide_one(claim, evidence).verdict == "verified"


# --- qualifiers ----------------------------------------------------------------


def test_test_claim_ignores_train_number():
    evidence = [make_evidence("accuracy", 0.91, qualifiers={"split": "train"})]
    verdict = decide_one(make_claim("accuracy", 0.91, qualifiers={"split": "test"}), evidence)
    assert verdict.verdict == "no_evidence"


def test_test_claim_judged_on_test_number():
    evidence = [
        make_evidence("accuracy", 0.91, qualifiers={"split": "train"}),
        make_evidence("accuracy", 0.85, qualifiers={"split": "test"}),
    ]
    verdict = decide_one(make_claim("accuracy", 0.91, qualifiers={"split": "test"}), evidence)
    assert verdict.verdict == "mismatch"
    assert [item.qualifiers["split"] for item in verdict.evidence] == ["test"]


def test_model_claim_ignores_other_model():
    evidence = [make_evidence("roc_auc", 0.62, qualifiers={"model": "logistic_regression"})]
    verdict = decide_one(
        make_claim("roc_auc", 0.62, qualifiers={"model": "random_forest"}), evidence
    )
    assert verdict.verdict == "no_evidence"


def test_class_claim_ignores_other_class():
    evidence = [make_evidence("recall", 0.61, qualifiers={"class": "good"})]
    verdict = decide_one(make_claim("recall", 0.61, qualifiers={"class": "high risk"}), evidence)
    assert verdict.verdict == "no_evidence"


def test_class_names_compared_loosely():
    evidence = [make_evidence("recall", 0.61, qualifiers={"class": "high_risk"})]
    verdict = decide_one(make_claim("recall", 0.61, qualifiers={"class": "High risk"}), evidence)
    assert verdict.verdict == "verified"


def test_overall_value_preferred_to_per_class():
    evidence = [
        make_evidence("f1", 0.53, qualifiers={}),
        make_evidence("f1", 0.86, qualifiers={"class": "good"}),
    ]
    verdict = decide_one(make_claim("f1", 0.86), evidence)
    assert verdict.verdict == "mismatch"


def test_macro_claim_ignores_weighted():
    evidence = [make_evidence("f1", 0.69, qualifiers={"average": "weighted"})]
    verdict = decide_one(make_claim("f1", 0.69, qualifiers={"average": "macro"}), evidence)
    assert verdict.verdict == "no_evidence"


# --- derived values ------------------------------------------------------------


def test_gini_derived_from_auc():
    evidence = [make_evidence("roc_auc", 0.78, token="0.7800", qualifiers={"split": "val"})]
    verdict = decide_one(make_claim("gini", 0.56, qualifiers={"split": "val"}), evidence)
    assert verdict.verdict == "verified"
    assert verdict.evidence[0].derived_from
    assert verdict.evidence[0].derived_from[0]["formula"] == "gini = 2 * roc_auc - 1"


def test_gini_derived_source_recorded():
    source = make_evidence("roc_auc", 0.78, text="Validation ROC-AUC: 0.7800", cell_index=8)
    verdict = decide_one(make_claim("gini", 0.56), [source])
    origin = verdict.evidence[0].derived_from[0]
    assert origin["text"] == "Validation ROC-AUC: 0.7800"
    assert origin["cell_index"] == 8
    assert origin["value"] == pytest.approx(0.78)


def test_derived_reason_marked():
    verdict = decide_one(make_claim("gini", 0.56), [make_evidence("roc_auc", 0.78)])
    assert "derived" in verdict.reason


def test_auc_derived_from_gini():
    verdict = decide_one(make_claim("roc_auc", 0.78), [make_evidence("gini", 0.56)])
    assert verdict.verdict == "verified"
    assert verdict.evidence[0].derived_from[0]["formula"] == "roc_auc = (gini + 1) / 2"


def test_derived_gini_mismatch_cites_formula():
    verdict = decide_one(make_claim("gini", 0.70), [make_evidence("roc_auc", 0.78)])
    assert verdict.verdict == "mismatch"
    assert "gini = 2 * roc_auc - 1" in verdict.reason


def test_f1_derived_from_precision_and_recall():
    evidence = [make_evidence("precision", 0.5), make_evidence("recall", 0.75)]
    verdict = decide_one(make_claim("f1", 0.6), evidence)
    assert verdict.verdict == "verified"
    assert [source["metric"] for source in verdict.evidence[0].derived_from] == [
        "precision",
        "recall",
    ]


def test_f1_not_derived_across_cells():
    evidence = [
        make_evidence("precision", 0.5, cell_index=1),
        make_evidence("recall", 0.75, cell_index=2),
    ]
    assert [item for item in derive_evidence(evidence) if item.metric == "f1"] == []


def test_printed_value_beats_derived():
    evidence = [make_evidence("roc_auc", 0.78), make_evidence("gini", 0.50, token="0.50")]
    verdict = decide_one(make_claim("gini", 0.56), evidence)
    assert verdict.verdict == "mismatch"
    assert verdict.evidence[0].derived_from is None


def test_ambiguous_value_not_derived():
    evidence = [make_evidence("roc_auc", 0.78, ambiguity="truncated table")]
    assert derive_evidence(evidence) == []


# --- spreads and intervals -----------------------------------------------------


def test_spread_meaning_difference_noted():
    claim = card_claim("The AUC is 0.81 \u00b1 0.02 (std over 5 folds).")
    evidence = make_evidence("roc_auc", 0.812, token="0.812")
    evidence.spread = type(claim.spread)(0.015, "unknown")
    verdict = decide_one(claim, [evidence])
    assert verdict.verdict == "verified"
    assert "spread differs or has a different meaning" in verdict.reason


def test_interval_match_noted():
    claim = card_claim("KS 0.41 (95% CI 0.38 to 0.44).")
    evidence = make_evidence("ks", 0.41, token="0.41")
    evidence.interval = type(claim.interval)(0.38, 0.44, "95% CI")
    verdict = decide_one(claim, [evidence])
    assert verdict.verdict == "verified"
    assert "interval 0.38 to 0.44 matches 0.38 to 0.44" in verdict.reason


def test_class_claim_ignores_average():
    evidence = [make_evidence("precision", 0.56, qualifiers={"average": "macro"})]
    verdict = decide_one(make_claim("precision", 0.13, qualifiers={"class": "fraud"}), evidence)
    assert verdict.verdict == "no_evidence"


def test_average_claim_ignores_class():
    evidence = [make_evidence("f1", 0.53, qualifiers={"class": "high risk"})]
    verdict = decide_one(make_claim("f1", 0.69, qualifiers={"average": "macro"}), evidence)
    assert verdict.verdict == "no_evidence"


def test_macro_claim_ignores_binary_value():
    claim = make_claim("f1", 0.69, qualifiers={"average": "macro"})
    binary = make_evidence("f1", 0.5305, qualifiers={"split": "test"})
    assert decide_one(claim, [binary]).verdict == "no_evidence"


def test_macro_claim_takes_macro_row():
    claim = make_claim("f1", 0.69, qualifiers={"average": "macro"})
    evidence = [
        make_evidence("f1", 0.5305, qualifiers={"split": "test"}),
        make_evidence("f1", 0.69, qualifiers={"average": "macro"}),
    ]
    assert decide_one(claim, evidence).verdict == "verified"


def test_total_count_ignores_split_counts():
    claim = make_claim("n_samples", 10_000, unit="count", decimals=0)
    split_rows = make_evidence("n_samples", 5_600, unit="count", qualifiers={"split": "train"})
    assert decide_one(claim, [split_rows]).verdict == "no_evidence"
