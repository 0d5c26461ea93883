"""Regenerate the credit-scoring example workspace.

Writes the four notebooks' cells with nbformat, executes each one with nbclient
in this folder and saves it with its outputs, then writes ``broken.ipynb``, a
notebook whose JSON is cut off part-way through on purpose.

The data comes from ``sklearn.datasets.make_classification`` inside each
notebook, and every random step uses ``random_state=42``, so a re-run on the
same package versions prints the same numbers. MODEL_CARD.md quotes those
numbers: check it after a re-run on other versions of scikit-learn or numpy.

Run with the project's virtual environment, which has the ``python3`` kernel:

    .venv/bin/python examples/credit-scoring/generate.py

Needs nbformat, nbclient, ipykernel, scikit-learn, pandas and matplotlib.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

EXAMPLE_DIR = Path(__file__).resolve().parent
KERNEL_NAME = "python3"
KERNELSPEC = {
    "name": KERNEL_NAME,
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
}

# Each notebook rebuilds the same synthetic loan book, so no data file is written.
# The features play the part of standardized (z-scored) applicant attributes.
# flip_y=0.15 and class_sep=0.5 keep the test ROC-AUC of gradient boosting near
# 0.77, and weights=[0.85] with that label noise gives a default rate of about 20%.
DATA_CELL = """\
import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

SEED = 42
FEATURES = [
    "annual_income", "debt_to_income", "credit_utilization", "months_employed",
    "open_accounts", "late_payments_12m", "loan_amount", "credit_history_years",
    "inquiries_6m", "savings_balance",
]

X, y = make_classification(
    n_samples=10_000, n_features=len(FEATURES), n_informative=5, n_redundant=2,
    weights=[0.85], flip_y=0.15, class_sep=0.5, random_state=SEED,
)
X = pd.DataFrame(X, columns=FEATURES)
y = pd.Series(y, name="default")
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=SEED
)"""

MODELS_CELL = """\
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

models = {
    "logistic_regression": make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000)
    ),
    "gradient_boosting": GradientBoostingClassifier(random_state=SEED),
}"""


def markdown_cell(cell_id: str, source: str) -> NotebookNode:
    """Return a markdown cell with a fixed id, so re-runs leave the ids unchanged."""
    return new_markdown_cell(source, id=cell_id)


def code_cell(cell_id: str, source: str, tags: tuple[str, ...] = ()) -> NotebookNode:
    """Return a code cell with a fixed id and optional cell tags."""
    cell = new_code_cell(source, id=cell_id)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


NOTEBOOKS: dict[str, list[NotebookNode]] = {
    "1_data_prep.ipynb": [
        markdown_cell(
            "intro",
            """\
# Data preparation

Synthetic loan book for the credit default PD model: one row per loan, ten
applicant attributes (already standardized), and `default` = 1 when the loan
went 90+ days past due within 12 months.""",
        ),
        code_cell("load-data", DATA_CELL),
        markdown_cell(
            "split-heading",
            """\
## Train/test split

70/30, stratified on the default flag.""",
        ),
        code_cell(
            "split-facts",
            """\
print(f"Total rows: {len(X):,}")
print(f"Train rows: {len(X_train):,}")
print(f"Test rows: {len(X_test):,}")
print(f"Default rate (train): {y_train.mean():.1%}")
print(f"Default rate (test): {y_test.mean():.1%}")""",
        ),
        markdown_cell("summary-heading", "## Split summary"),
        code_cell(
            "split-summary",
            """\
summary = pd.DataFrame(
    {
        "rows": [len(y_train), len(y_test)],
        "defaults": [int(y_train.sum()), int(y_test.sum())],
        "default_rate": [round(y_train.mean(), 4), round(y_test.mean(), 4)],
    },
    index=["train", "test"],
)
summary""",
        ),
        markdown_cell("head-heading", "## First rows of the training set"),
        code_cell("train-head", "X_train.head().round(2)"),
    ],
    "2_train.ipynb": [
        markdown_cell(
            "intro",
            """\
# Model training

Two candidates: a logistic regression baseline and gradient boosting. Both are
compared with 5-fold cross-validation and on a validation split carved out of
the training set. The test set stays untouched until `3_pd_modeling`.""",
        ),
        code_cell("load-data", DATA_CELL),
        code_cell(
            "validation-split",
            """\
X_fit, X_val, y_fit, y_val = train_test_split(
    X_train, y_train, test_size=0.2, stratify=y_train, random_state=SEED
)
print(f"Fit rows: {len(X_fit):,}")
print(f"Validation rows: {len(X_val):,}")""",
        ),
        markdown_cell("models-heading", "## Candidate models"),
        code_cell("models", MODELS_CELL),
        markdown_cell(
            "cv-heading",
            """\
## Cross-validation

Accuracy at the default 0.5 threshold is close to the share of good loans, so
ROC-AUC is the number that separates the two models.""",
        ),
        code_cell(
            "cv-scores",
            """\
from sklearn.model_selection import cross_validate

for name, model in models.items():
    scores = cross_validate(model, X_fit, y_fit, cv=5, scoring=["accuracy", "roc_auc"])
    print(name.replace("_", " ").capitalize())
    s = scores["test_accuracy"]
    print(f"CV accuracy: {s.mean():.3f} (+/- {s.std()*2:.3f})")
    s = scores["test_roc_auc"]
    print(f"CV ROC-AUC: {s.mean():.3f} (+/- {s.std()*2:.3f})")
    print()""",
        ),
        markdown_cell("validation-heading", "## Validation split"),
        code_cell(
            "validation-auc",
            """\
from sklearn.metrics import roc_auc_score

for name, model in models.items():
    model.fit(X_fit, y_fit)
    p_val = model.predict_proba(X_val)[:, 1]
    print(f"Validation ROC-AUC ({name}): {roc_auc_score(y_val, p_val):.4f}")""",
        ),
    ],
    "3_pd_modeling.ipynb": [
        markdown_cell(
            "intro",
            """\
# PD model: test-set evaluation

The chosen model is gradient boosting. Both models are refit on the full
training set and scored once on the held-out test set. A loan is flagged
*high risk* when its predicted PD is at or above the cut-off below.""",
        ),
        code_cell("load-data", DATA_CELL),
        code_cell(
            "models",
            MODELS_CELL
            + """

CUTOFF = 0.25

p_train, p_test = {}, {}
for name, model in models.items():
    model.fit(X_train, y_train)
    p_train[name] = model.predict_proba(X_train)[:, 1]
    p_test[name] = model.predict_proba(X_test)[:, 1]""",
        ),
        markdown_cell(
            "discrimination-heading", "## Discrimination (gradient boosting, test set)"
        ),
        code_cell(
            "discrimination",
            """\
from sklearn.metrics import roc_auc_score, roc_curve

auc = roc_auc_score(y_test, p_test["gradient_boosting"])
fpr, tpr, _ = roc_curve(y_test, p_test["gradient_boosting"])
print(f"Test ROC-AUC: {auc:.6f}")
print(f"Gini: {2 * auc - 1:.4f}")
print(f"KS statistic = {(tpr - fpr).max():.4f}")""",
        ),
        markdown_cell(
            "cutoff-heading", "## Metrics at the cut-off (gradient boosting)"
        ),
        code_cell(
            "metrics-by-split",
            """\
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score


def cutoff_metrics(y_true, p):
    y_pred = (p >= CUTOFF).astype(int)
    return {
        "roc_auc": roc_auc_score(y_true, p),
        "accuracy": accuracy_score(y_true, y_pred),
        "precision": precision_score(y_true, y_pred),
        "recall": recall_score(y_true, y_pred),
        "f1": f1_score(y_true, y_pred),
    }


by_split = pd.DataFrame(
    {
        "train": cutoff_metrics(y_train, p_train["gradient_boosting"]),
        "test": cutoff_metrics(y_test, p_test["gradient_boosting"]),
    }
).T.round(4)
by_split""",
        ),
        markdown_cell("baseline-heading", "## Against the baseline (test set)"),
        code_cell(
            "metrics-by-model",
            """\
by_model = pd.DataFrame(
    {name: cutoff_metrics(y_test, p_test[name]) for name in models}
).round(4)
by_model""",
        ),
        markdown_cell("plot-heading", "## Predicted PD by outcome (test set)"),
        code_cell(
            "pd-histogram",
            """\
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(4, 2.5), dpi=72)
p_gb = p_test["gradient_boosting"]
for label, name in [(0, "good"), (1, "default")]:
    ax.hist(p_gb[y_test == label], bins=30, alpha=0.6, label=name)
ax.axvline(CUTOFF, color="black", linestyle="--")
ax.set_xlabel("predicted PD")
ax.legend()
plt.show()""",
        ),
    ],
    "4_report.ipynb": [
        markdown_cell(
            "intro",
            """\
# Validation report

Test-set report for the gradient boosting PD model at the 0.25 cut-off, in the
form the credit risk committee reviews.""",
        ),
        code_cell("load-data", DATA_CELL),
        code_cell(
            "fit",
            """\
from sklearn.ensemble import GradientBoostingClassifier

CUTOFF = 0.25
model = GradientBoostingClassifier(random_state=SEED).fit(X_train, y_train)
p_test = model.predict_proba(X_test)[:, 1]
y_pred = (p_test >= CUTOFF).astype(int)""",
        ),
        markdown_cell("report-heading", "## Classification report"),
        code_cell(
            "classification-report",
            """\
from sklearn.metrics import classification_report

print(classification_report(y_test, y_pred, target_names=["good", "high risk"]))""",
        ),
        markdown_cell(
            "confusion-heading",
            """\
## Confusion matrix

Rows are actual (good, high risk), columns predicted.""",
        ),
        code_cell(
            "confusion-matrix",
            """\
from sklearn.metrics import confusion_matrix

print(confusion_matrix(y_test, y_pred))""",
        ),
        markdown_cell("log-loss-heading", "## Log loss"),
        code_cell(
            "log-loss",
            """\
from sklearn.metrics import log_loss

BOLD, GREEN, RESET = "\\x1b[1m", "\\x1b[32m", "\\x1b[0m"
print(f"{BOLD}Test log loss:{RESET} {GREEN}{log_loss(y_test, p_test):.4f}{RESET}")""",
        ),
        markdown_cell(
            "bureau-heading",
            """\
## Bureau score check

This cell fails on purpose: the synthetic data has no bureau score, and the
saved error output shows how a failed cell looks in the workspace.""",
        ),
        code_cell(
            "bureau-check",
            """\
if "bureau_score" not in X_test.columns:
    raise ValueError("demo: column missing")""",
            tags=("raises-exception",),
        ),
    ],
}

# Executed, then saved cut off part-way through, as broken.ipynb.
BROKEN_SOURCE: list[NotebookNode] = [
    markdown_cell(
        "intro",
        """\
# Drift check (draft)

Population stability index of each feature between the train and test split.""",
    ),
    code_cell("load-data", DATA_CELL),
    code_cell(
        "psi",
        """\
def psi(expected, actual, bins=10):
    edges = np.quantile(expected, np.linspace(0, 1, bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    e = np.histogram(expected, edges)[0] / len(expected)
    a = np.histogram(actual, edges)[0] / len(actual)
    return float(np.sum((a - e) * np.log(a / e)))


for name in FEATURES:
    print(f"PSI ({name}): {psi(X_train[name], X_test[name]):.4f}")""",
    ),
]


def build_notebook(cells: list[NotebookNode]) -> NotebookNode:
    """Build an nbformat 4.5 notebook for the python3 kernel from the given cells."""
    nb = new_notebook()
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.cells = [copy.deepcopy(cell) for cell in cells]
    return nb


def execute(nb: NotebookNode, timeout: int) -> None:
    """Execute the notebook in place with the example folder as working directory.

    Raises nbclient's CellExecutionError when a cell fails, except cells tagged
    ``raises-exception``, whose error output is kept.
    """
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        record_timing=False,
        # The kernel may flush one print loop as several stream outputs, so they
        # are merged to keep the saved notebooks the same from one run to the next.
        coalesce_streams=True,
        resources={"metadata": {"path": str(EXAMPLE_DIR)}},
    )
    client.execute()


def stderr_outputs(nb: NotebookNode) -> list[str]:
    """Return the stderr text of every code cell, such as library warnings."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                found.append(f"cell {index}: {output['text'].strip()}")
    return found


def write_broken(timeout: int) -> Path:
    """Write broken.ipynb: an executed notebook cut off two thirds of the way in."""
    nb = build_notebook(BROKEN_SOURCE)
    execute(nb, timeout)
    text = nbformat.writes(nb)
    cut = text[: len(text) * 2 // 3]
    try:
        json.loads(cut)
    except json.JSONDecodeError:
        pass
    else:
        raise RuntimeError(
            "truncated broken.ipynb still parses as JSON: move the cut point earlier"
        )
    path = EXAMPLE_DIR / "broken.ipynb"
    path.write_text(cut, encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--timeout",
        type=int,
        default=120,
        help="seconds each cell may run before it fails (default 120)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    for filename, cells in NOTEBOOKS.items():
        t0 = time.perf_counter()
        nb = build_notebook(cells)
        execute(nb, args.timeout)
        warnings = stderr_outputs(nb)
        if warnings:
            print(
                f"{filename}: unexpected stderr output, fix the code that prints it:\n"
                + "\n".join(warnings),
                file=sys.stderr,
            )
            return 1
        nbformat.validate(nb)
        nbformat.write(nb, EXAMPLE_DIR / filename)
        print(f"wrote {filename} ({time.perf_counter() - t0:.1f} s)")

    path = write_broken(args.timeout)
    print(f"wrote {path.name} (truncated on purpose)")
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
