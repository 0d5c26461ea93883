"""Grounding of LLM-reported values in the cited cell's printed numbers, and merging with rule evidence."""

from __future__ import annotations

import pytest
from fakellm import make_doc

from cardcheck_lab.llm import merge_evidence
from cardcheck_lab.llm.grounding import ground_metric, normalize_qualifiers, value_matches
from cardcheck_lab.llm.prompt import build_plan
from cardcheck_lab.llm.reply import ReportedMetric
from cardcheck_lab.model import Evidence
from cardcheck_lab.numbers import find_numbers


def token(text: str):
    (found,) = find_numbers(text)
    return found


@pytest.mark.parametrize(
    ("value", "printed", "expected"),
    [
        (0.81, "0.81", True),
        (0.703, "70.3%", True),
        (70.3, "70.3%", True),
        (70.3, "0.703", True),
        (0.81, "0.8123", True),  # rounded as printed
        (0.8, "0.8123", False),  # one significant digit is too loose to count as rounding
        (0.8124, "0.8123", False),
        (0.812, "0.81", False),  # more digits than were printed
        (0.82, "0.81", False),
        (1234, "1,234", True),
        (1.234, "1,234", True),  # the decimal-comma reading of an ambiguous separator
        (6.05e-06, "6.05e-06", True),
        (-0.12, "-0.12", True),
        (0.12, "-0.12", False),
    ],
)
def test_value_matches(value, printed, expected):
    assert value_matches(value, token(printed)) is expected


def blocks_of(doc):
    return [block for chunk in build_plan(doc, [], 24000).chunks for block in chunk.blocks]


def test_grounded_value_carries_printed_token():
    doc = make_doc(
        "nb.ipynb", [(2, "Train accuracy: 0.95"), (3, "Test accuracy: 0.912\nOverall AUC: 0.81")]
    )
    reported = ReportedMetric("AUC", 0.81, 3, "Overall AUC: 0.81", {"split": "test"})
    evidence = ground_metric(reported, blocks_of(doc), "nb.ipynb")

    assert evidence is not None
    assert evidence.extractor == "llm"
    assert evidence.metric == "roc_auc"
    assert evidence.value == 0.81
    assert evidence.unit == "fraction"
    assert evidence.token == "0.81"
    assert evidence.text == "Overall AUC: 0.81"
    assert evidence.cell_index == 3
    assert evidence.cell_id == "cell-3"
    assert evidence.output_index == 0
    assert evidence.execution_count == 4
    assert evidence.qualifiers == {"split": "test"}


def test_percent_token_grounded_from_fraction():
    doc = make_doc("nb.ipynb", [(1, "Accuracy: 70.3%")])
    evidence = ground_metric(ReportedMetric("accuracy", 0.703, 1), blocks_of(doc), "nb.ipynb")
    assert evidence is not None
    assert evidence.value == 70.3
    assert evidence.unit == "percent"
    assert evidence.token == "70.3%"


def test_value_from_other_cell_rejected():
    doc = make_doc("nb.ipynb", [(2, "Train accuracy: 0.97"), (3, "Test accuracy: 0.91")])
    reported = ReportedMetric("accuracy", 0.97, 3, "Test accuracy: 0.97")
    assert ground_metric(reported, blocks_of(doc), "nb.ipynb") is None


def test_hallucinated_value_rejected():
    doc = make_doc("nb.ipynb", [(3, "Test accuracy: 0.91")])
    assert ground_metric(ReportedMetric("accuracy", 0.97, 3), blocks_of(doc), "nb.ipynb") is None


def test_cell_not_sent_rejected():
    doc = make_doc("nb.ipynb", [(3, "Test accuracy: 0.91")])
    assert ground_metric(ReportedMetric("accuracy", 0.91, 7), blocks_of(doc), "nb.ipynb") is None


def test_quoted_line_preferred():
    doc = make_doc("nb.ipynb", [(3, "Val AUC: 0.81\nTest AUC: 0.81")])
    reported = ReportedMetric("roc_auc", 0.81, 3, "Test AUC: 0.81")
    evidence = ground_metric(reported, blocks_of(doc), "nb.ipynb")
    assert evidence is not None
    assert evidence.text == "Test AUC: 0.81"


def test_cut_marker_numbers_not_grounded():
    line = "values: " + " ".join("0.5" for _ in range(5000))
    doc = make_doc("nb.ipynb", [(1, line)])
    blocks = blocks_of_small(doc)
    marker_text = blocks[0].lines[0]
    assert "characters of this line were cut" in marker_text
    removed = int(marker_text.split("[... ")[1].split(" characters")[0].replace(",", ""))
    assert ground_metric(ReportedMetric("count", float(removed), 1), blocks, "nb.ipynb") is None


def blocks_of_small(doc):
    return [block for chunk in build_plan(doc, [], 6000).chunks for block in chunk.blocks]


def test_spread_read_from_grounded_line():
    doc = make_doc("nb.ipynb", [(4, "CV AUC: 0.812 ± 0.015")])
    evidence = ground_metric(ReportedMetric("roc_auc", 0.812, 4), blocks_of(doc), "nb.ipynb")
    assert evidence is not None
    assert evidence.spread is not None
    assert evidence.spread.value == 0.015


def test_unknown_metric_name_kept_as_slug():
    doc = make_doc("nb.ipynb", [(1, "Lift at 10%: 3.2")])
    evidence = ground_metric(ReportedMetric("Lift at 10%", 3.2, 1), blocks_of(doc), "nb.ipynb")
    assert evidence is not None
    assert evidence.metric == "lift_at_10"


def test_qualifiers_normalized():
    qualifiers = normalize_qualifiers(
        {
            "split": "Validation",
            "model": "Gradient Boosting",
            "average": "Macro avg",
            "class": "Default",
            "dataset": " OOT 2023 ",
        }
    )
    assert qualifiers == {
        "split": "val",
        "model": "gradient_boosting",
        "average": "macro",
        "class": "default",
        "dataset": "oot 2023",
    }


def evidence(
    metric: str, value: float, unit: str, cell: int = 3, extractor: str = "rules"
) -> Evidence:
    return Evidence(
        notebook="nb.ipynb",
        cell_index=cell,
        cell_id=None,
        output_index=0,
        metric=metric,
        value=value,
        unit=unit,
        text="",
        extractor=extractor,
    )


def test_merge_drops_llm_duplicates_only():
    rules = [evidence("accuracy", 0.91, "fraction"), evidence("roc_auc", 81.0, "percent")]
    llm = [
        evidence("accuracy", 0.91, "fraction", extractor="llm"),  # same cell, metric and value
        evidence("roc_auc", 0.81, "fraction", extractor="llm"),  # same value on the fraction scale
        evidence("accuracy", 0.91, "fraction", cell=4, extractor="llm"),  # another cell
        evidence("f1", 0.77, "fraction", extractor="llm"),  # another metric
    ]
    merged = merge_evidence(rules, llm)
    assert merged[:2] == rules
    assert [(item.metric, item.cell_index) for item in merged[2:]] == [("accuracy", 4), ("f1", 3)]
