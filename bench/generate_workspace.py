"""Write a synthetic but realistic notebook workspace for the scale benchmark.

The workspace looks like a team's experiment repository: folders of notebooks
that print metrics, pandas tables (text and HTML), scikit-learn classification
reports and long training logs (Keras, LightGBM and tqdm styles), and embed
base64 PNG plots. A model card next to them makes claims that some notebooks
support and others contradict.

Everything is drawn from one seeded random generator, so the same arguments
always give the same bytes. Plots are PNG-framed random bytes: they are never
decoded, and real PNG payloads are compressed, so random bytes are as
incompressible as the real thing.

    python bench/generate_workspace.py OUT_DIR [--notebooks 1000] [--total-mb 300]
    python bench/generate_workspace.py OUT_DIR --big-mb 200   # one large notebook
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import random
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

KB = 1024
MB = 1024 * 1024

MIN_SIZE = 20 * KB
MAX_SIZE = 5 * MB

TEAMS = ("credit", "fraud", "churn", "pricing", "marketing", "risk", "ops", "research")
TOPICS = (
    "eda",
    "features",
    "baseline",
    "train",
    "tuning",
    "evaluation",
    "calibration",
    "ablation",
    "report",
    "monitoring",
    "backtest",
    "explain",
)
MODELS = (
    ("Logistic regression", "logistic_regression"),
    ("Random forest", "random_forest"),
    ("Gradient boosting", "gradient_boosting"),
    ("XGBoost", "xgboost"),
    ("LightGBM", "lightgbm"),
    ("MLP", "mlp"),
)
FEATURES = (
    "age",
    "income",
    "loan_amount",
    "term_months",
    "credit_score",
    "dti",
    "utilization",
    "open_accounts",
    "delinquencies_2y",
    "inquiries_6m",
    "employment_years",
    "home_owner",
    "region",
    "channel",
    "tenure_months",
    "balance",
    "num_products",
    "last_login_days",
)

# The values the card states for the production model, and what the final
# evaluation notebook prints for them. Two claims are contradicted on purpose.
CARD_TEST_METRICS = {
    "roc_auc": (0.8123, 0.8123),
    "accuracy": (0.8741, 0.8741),
    "f1": (0.6120, 0.5894),  # contradicted: the notebook prints 0.5894
    "precision": (0.7012, 0.7012),
    "recall": (0.5430, 0.5430),
    "brier": (0.0912, 0.0912),
}
CARD_TEST_ROWS = 48_213
CARD_BASELINE_AUC = (0.7765, 0.7702)  # contradicted: the baseline notebook prints 0.7702


@dataclass
class Workspace:
    root: Path
    card: Path
    notebooks: list[Path] = field(default_factory=list)
    total_bytes: int = 0


# --- cells and outputs ---------------------------------------------------------


def _lines(text: str) -> list[str]:
    """Split text the way Jupyter stores multiline strings: a list of lines."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


class NotebookBuilder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.cells: list[dict] = []
        self.count = 0

    def _id(self) -> str:
        return f"{self.rng.getrandbits(32):08x}"

    def markdown(self, text: str) -> None:
        self.cells.append(
            {"cell_type": "markdown", "id": self._id(), "metadata": {}, "source": _lines(text)}
        )

    def code(self, source: str, outputs: list[dict]) -> None:
        self.count += 1
        for output in outputs:
            if output["output_type"] == "execute_result":
                output["execution_count"] = self.count
        self.cells.append(
            {
                "cell_type": "code",
                "execution_count": self.count,
                "id": self._id(),
                "metadata": {},
                "outputs": outputs,
                "source": _lines(source),
            }
        )

    def size(self) -> int:
        return len(self.dumps())

    def dumps(self) -> str:
        document = {
            "cells": self.cells,
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python", "version": "3.11.7"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def stream(text: str, name: str = "stdout") -> dict:
    return {"name": name, "output_type": "stream", "text": _lines(text)}


def result(data: dict) -> dict:
    return {"data": data, "execution_count": None, "metadata": {}, "output_type": "execute_result"}


def png_bytes(rng: random.Random, size: int) -> bytes:
    """Return a PNG-framed payload of about ``size`` bytes (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 640, 480, 8, 6, 0, 0, 0)
    body = rng.randbytes(max(0, size - 57))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def plot(rng: random.Random, encoded_size: int) -> dict:
    raw = png_bytes(rng, encoded_size * 3 // 4)
    # Jupyter stores the base64 text as one string with a trailing newline.
    encoded = base64.b64encode(raw).decode("ascii") + "\n"
    return {
        "data": {"image/png": encoded, "text/plain": ["<Figure size 640x480 with 1 Axes>"]},
        "metadata": {"needs_background": "light"},
        "output_type": "display_data",
    }


def frame_text(header: list[str], rows: list[tuple[str, list[str]]], index_name: str = "") -> str:
    """Render rows the way pandas ``DataFrame.to_string`` right-aligns them."""
    labels = [label for label, _ in rows]
    label_width = max([len(index_name)] + [len(label) for label in labels])
    widths = [max(len(h), *(len(values[i]) for _, values in rows)) for i, h in enumerate(header)]
    lines = [" " * label_width + "".join("  " + h.rjust(w) for h, w in zip(header, widths))]
    if index_name:
        lines.append(index_name.ljust(label_width))
    for label, values in rows:
        lines.append(
            label.ljust(label_width) + "".join("  " + v.rjust(w) for v, w in zip(values, widths))
        )
    return "\n".join(lines)


def frame_html(header: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """Render rows as the HTML pandas shows in Jupyter."""
    parts = [
        (
            "<div>\n<style scoped>\n    .dataframe tbody tr th:only-of-type {\n        vertical-align: middle;\n    }\n\n"
            "    .dataframe tbody tr th {\n        vertical-align: top;\n    }\n\n"
            "    .dataframe thead th {\n        text-align: right;\n    }\n</style>\n"
        ),
        '<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">\n      <th></th>\n',
    ]
    parts += [f"      <th>{h}</th>\n" for h in header]
    parts.append("    </tr>\n  </thead>\n  <tbody>\n")
    for label, values in rows:
        parts.append(f"    <tr>\n      <th>{label}</th>\n")
        parts += [f"      <td>{v}</td>\n" for v in values]
        parts.append("    </tr>\n")
    parts.append("  </tbody>\n</table>\n</div>")
    return "".join(parts)


def dataframe(header: list[str], rows: list[tuple[str, list[str]]], index_name: str = "") -> dict:
    return result(
        {
            "text/html": _lines(frame_html(header, rows)),
            "text/plain": _lines(frame_text(header, rows, index_name)),
        }
    )


def classification_report(
    rng: random.Random, classes: tuple[str, str], support: tuple[int, int]
) -> str:
    scores = [[rng.uniform(0.4, 0.95) for _ in range(3)] for _ in classes]
    total = sum(support)
    accuracy = rng.uniform(0.7, 0.93)
    width = max(12, *(len(c) for c in classes))
    lines = [" " * width + " precision    recall  f1-score   support", ""]
    for name, (p, r, f), n in zip(classes, scores, support):
        lines.append(f"{name:>{width}}       {p:.2f}      {r:.2f}      {f:.2f}     {n:>5}")
    lines.append("")
    lines.append(f"{'accuracy':>{width}}                           {accuracy:.2f}     {total:>5}")
    macro = [sum(s[i] for s in scores) / 2 for i in range(3)]
    lines.append(
        f"{'macro avg':>{width}}       {macro[0]:.2f}      {macro[1]:.2f}      {macro[2]:.2f}     {total:>5}"
    )
    lines.append(
        f"{'weighted avg':>{width}}       {macro[0]:.2f}      {macro[1]:.2f}      {macro[2]:.2f}     {total:>5}"
    )
    return "\n".join(lines) + "\n"


# --- training logs -------------------------------------------------------------


def keras_log(rng: random.Random, budget: int) -> str:
    epochs = []
    loss, acc = 0.69, 0.55
    epoch, size = 1, 0
    while size < budget:
        loss = max(0.05, loss * rng.uniform(0.93, 1.0))
        acc = min(0.99, acc + rng.uniform(0.0, 0.01))
        steps = rng.choice((125, 250, 500))
        line = (
            f"Epoch {epoch}/{epoch + 100}\n"
            f"{steps}/{steps} [==============================] - {rng.randint(1, 9)}s {rng.randint(4, 40)}ms/step"
            f" - loss: {loss:.4f} - accuracy: {acc:.4f} - val_loss: {loss * 1.08:.4f} - val_accuracy: {acc - 0.02:.4f}\n"
        )
        epochs.append(line)
        size += len(line)
        epoch += 1
    return "".join(epochs)


def lightgbm_log(rng: random.Random, budget: int) -> str:
    parts = [
        "[LightGBM] [Info] Number of positive: 9412, number of negative: 38801\n",
        "[LightGBM] [Info] Total Bins 2817\n",
    ]
    auc, loss = 0.70, 0.52
    size, step = 0, 1
    while size < budget:
        auc = min(0.95, auc + rng.uniform(0.0, 0.0008))
        loss = max(0.2, loss - rng.uniform(0.0, 0.0006))
        line = f"[{step}]\ttraining's auc: {auc + 0.03:.6f}\ttraining's binary_logloss: {loss - 0.02:.6f}\tvalid_1's auc: {auc:.6f}\tvalid_1's binary_logloss: {loss:.6f}\n"
        parts.append(line)
        size += len(line)
        step += 1
    return "".join(parts)


def tqdm_log(rng: random.Random, budget: int) -> str:
    """A tqdm progress bar redrawn with carriage returns, plus a summary line per epoch."""
    parts = []
    size, epoch = 0, 1
    while size < budget:
        total = rng.choice((200, 400, 800))
        for done in range(0, total + 1, total // 20):
            percent = done * 100 // total
            bar = ("\u2588" * (percent // 10)).ljust(10)
            piece = f"\rEpoch {epoch}: {percent:3d}%|{bar}| {done}/{total} [00:{done // 40:02d}<00:{(total - done) // 40:02d}, {rng.uniform(20, 60):.2f}it/s, loss={rng.uniform(0.2, 0.7):.3f}]"
            parts.append(piece)
            size += len(piece)
        summary = f"\nepoch {epoch}: train_loss={rng.uniform(0.2, 0.5):.4f} val_loss={rng.uniform(0.25, 0.55):.4f} val_auc={rng.uniform(0.7, 0.85):.4f}\n"
        parts.append(summary)
        size += len(summary)
        epoch += 1
    return "".join(parts)


LOGS = (keras_log, lightgbm_log, tqdm_log)


# --- notebooks -----------------------------------------------------------------


def metric_block(rng: random.Random, model: str, split: str) -> str:
    return (
        f"=== {model}: {split} set ===\n"
        f"ROC-AUC:   {rng.uniform(0.65, 0.86):.4f}\n"
        f"Accuracy:  {rng.uniform(0.70, 0.90):.4f}\n"
        f"F1 score:  {rng.uniform(0.40, 0.70):.4f}\n"
        f"Brier:     {rng.uniform(0.08, 0.16):.4f}\n"
    )


def data_preview(rng: random.Random, rows: int) -> dict:
    header = list(rng.sample(FEATURES, 10))
    body = []
    for index in range(rows):
        values = [
            f"{rng.uniform(0, 1000):.2f}" if rng.random() < 0.7 else str(rng.randint(0, 40))
            for _ in header
        ]
        body.append((str(index), values))
    return dataframe(header, body)


def comparison_table(rng: random.Random, split: str) -> dict:
    header = ["roc_auc", "accuracy", "f1", "brier"]
    rows = []
    for _, key in rng.sample(MODELS, 4):
        rows.append(
            (
                key,
                [
                    f"{rng.uniform(0.65, 0.86):.4f}",
                    f"{rng.uniform(0.7, 0.9):.4f}",
                    f"{rng.uniform(0.4, 0.7):.4f}",
                    f"{rng.uniform(0.08, 0.16):.4f}",
                ],
            )
        )
    return dataframe(header, rows, index_name="model")


def experiment_notebook(rng: random.Random, target: int) -> str:
    """Build one notebook of about ``target`` bytes."""
    nb = NotebookBuilder(rng)
    model, _ = rng.choice(MODELS)
    split = rng.choice(("validation", "cross-validation", "train"))
    nb.markdown(
        f"# {model} experiment\n\nRun of {rng.choice(TOPICS)} for the {rng.choice(TEAMS)} team."
    )
    nb.code(
        "import pandas as pd\nimport numpy as np\nfrom sklearn.metrics import classification_report",
        [],
    )
    nb.code(
        "df = pd.read_parquet('data/loans.parquet')\ndf.shape",
        [result({"text/plain": [f"({rng.randint(10_000, 90_000)}, {rng.randint(12, 60)})"]})],
    )
    nb.code("df.head(8)", [data_preview(rng, 8)])
    nb.markdown(f"## {split.capitalize()} results")
    nb.code(
        f"print_metrics(model, X_{split[:3]}, y_{split[:3]})",
        [stream(metric_block(rng, model, split))],
    )
    if target > 40 * KB:
        nb.code(
            "print(classification_report(y_val, pred))",
            [
                stream(
                    classification_report(
                        rng, ("good", "default"), (rng.randint(2000, 9000), rng.randint(300, 2000))
                    )
                )
            ],
        )
        nb.code("comparison", [comparison_table(rng, split)])

    base = nb.size()
    remaining = max(0, target - base)
    # About a sixth of what is left is training log and the rest is plots. A
    # small notebook has room for a log only.
    log_budget = remaining // 6 if remaining > 40 * KB else remaining
    if log_budget > 1 * KB:
        log = rng.choice(LOGS)(rng, log_budget)
        nb.markdown("## Training")
        nb.code("model.fit(X_train, y_train)", [stream(log)])
    remaining = max(0, target - nb.size())
    plots: list[dict] = []
    while remaining > 6 * KB:
        size = min(remaining - 1 * KB, rng.randint(30 * KB, 400 * KB))
        plots.append(plot(rng, size))
        remaining -= size + 200
    for index in range(0, len(plots), 3):
        nb.code("fig, ax = plt.subplots()\nax.plot(history)\nplt.show()", plots[index : index + 3])
    return nb.dumps()


def evaluation_notebook(rng: random.Random) -> str:
    """Build the final evaluation of the production model, which prints the values the card claims but one."""
    nb = NotebookBuilder(rng)
    nb.markdown(
        "# Final evaluation: gradient boosting\n\nThe production candidate on the held-out test set."
    )
    printed = {metric: notebook for metric, (_, notebook) in CARD_TEST_METRICS.items()}
    nb.markdown("## Test set")
    nb.code(
        "evaluate(gbm, X_test, y_test)",
        [
            stream(
                f"Test rows: {CARD_TEST_ROWS:,}\n"
                f"Test ROC-AUC: {printed['roc_auc']:.4f}\n"
                f"Test accuracy: {printed['accuracy']:.4f}\n"
                f"Test F1: {printed['f1']:.4f}\n"
                f"Test precision: {printed['precision']:.4f}\n"
                f"Test recall: {printed['recall']:.4f}\n"
                f"Test Brier score: {printed['brier']:.4f}\n"
            )
        ],
    )
    nb.code("fig = plot_roc(gbm, X_test, y_test)", [plot(rng, 60 * KB)])
    return nb.dumps()


def baseline_notebook(rng: random.Random) -> str:
    nb = NotebookBuilder(rng)
    nb.markdown("# Baseline: logistic regression")
    nb.markdown("## Test set")
    nb.code(
        "evaluate(logreg, X_test, y_test)",
        [stream(f"Logistic regression test ROC-AUC: {CARD_BASELINE_AUC[1]:.4f}\n")],
    )
    nb.code("fig = plot_roc(logreg, X_test, y_test)", [plot(rng, 40 * KB)])
    return nb.dumps()


def card_text() -> str:
    claims = {metric: card for metric, (card, _) in CARD_TEST_METRICS.items()}
    return f"""---
model-index:
  - name: loan-default-gbm
    results:
      - task:
          type: tabular-classification
        dataset:
          name: Loan book
          type: loans
          split: test
        metrics:
          - type: roc_auc
            value: {claims["roc_auc"]}
          - type: accuracy
            value: {claims["accuracy"]}
---

# Loan default model

A gradient boosting classifier that scores loan applications.

## Evaluation

Evaluated on {CARD_TEST_ROWS:,} test rows held out from training.

| Metric | Test |
|---|---|
| ROC-AUC | {claims["roc_auc"]} |
| F1 | {claims["f1"]} |
| Precision | {claims["precision"]} |
| Recall | {claims["recall"]} |
| Brier score | {claims["brier"]} |

The logistic regression baseline reaches a test ROC-AUC of {CARD_BASELINE_AUC[0]}.
"""


def notebook_sizes(rng: random.Random, count: int, total: int) -> list[int]:
    """Draw ``count`` sizes from MIN_SIZE up to MAX_SIZE that add up to about ``total``.

    Sizes are log-distributed with a skew toward small files, because most
    notebooks are small and a few carry many plots. The skew is chosen so that
    the sum hits the total. The smallest and largest sizes are always present.
    """
    # A small workspace keeps its largest notebook to a tenth of the total.
    largest = max(2 * MIN_SIZE, min(MAX_SIZE, total // 10))
    if count < 2:
        return [max(MIN_SIZE, min(largest, total))] * count
    draws = sorted(rng.random() for _ in range(count - 2))
    span = math.log(largest / MIN_SIZE)

    def sizes_for(skew: float) -> list[int]:
        return [MIN_SIZE, largest] + [int(MIN_SIZE * math.exp(span * u**skew)) for u in draws]

    low, high = 0.05, 50.0
    for _ in range(60):
        middle = math.sqrt(low * high)
        if sum(sizes_for(middle)) > total:
            low = middle
        else:
            high = middle
    sizes = sizes_for(math.sqrt(low * high))
    rng.shuffle(sizes)
    return sizes


def generate_workspace(
    root: Path, notebooks: int = 1000, total_mb: float = 300, seed: int = 7
) -> Workspace:
    """Write ``notebooks`` notebooks of about ``total_mb`` MB in all, and a card, under ``root``."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(root=root, card=root / "MODEL_CARD.md")
    workspace.card.write_text(card_text(), encoding="utf-8")

    special = {0: evaluation_notebook, 1: baseline_notebook}
    sizes = notebook_sizes(rng, notebooks, int(total_mb * MB))
    for index, size in enumerate(sizes):
        team = TEAMS[index % len(TEAMS)]
        if index in special:
            path = root / "final" / ("evaluation.ipynb" if index == 0 else "baseline.ipynb")
            text = special[index](rng)
        else:
            path = root / team / f"{index:04d}_{rng.choice(TOPICS)}.ipynb"
            text = experiment_notebook(rng, size)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        path.write_bytes(data)
        workspace.notebooks.append(path)
        workspace.total_bytes += len(data)
    return workspace


def generate_big_notebook(path: Path, size_mb: float = 200, seed: int = 11) -> int:
    """Write one notebook of about ``size_mb`` MB, mostly plots and one very long log.

    The document is written piece by piece so that generating it does not hold
    the whole notebook in memory. Returns the file's size in bytes.
    """
    rng = random.Random(seed)
    target = int(size_mb * MB)
    log_budget = target // 5
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = NotebookBuilder(rng)
    nb.markdown("# Long training run\n\nEvery epoch's plot and the full log.")
    nb.markdown("## Validation")
    nb.code("print_metrics(model, X_val, y_val)", [stream(metric_block(rng, "MLP", "validation"))])
    head = json.loads(nb.dumps())
    head_cells = head.pop("cells")

    with path.open("w", encoding="utf-8") as out:
        out.write('{\n "cells": [\n')
        written = 0
        first = True

        def cell(document: dict) -> None:
            nonlocal first, written
            text = ("" if first else ",\n") + json.dumps(document, ensure_ascii=False)
            first = False
            out.write(text)
            written += len(text)

        for document in head_cells:
            cell(document)
        nb.cells = []
        nb.code("trainer.fit(model)", [stream(keras_log(rng, log_budget))])
        cell(nb.cells.pop())
        while written < target - 2 * MB:
            nb.code(
                "plot_epoch(history)", [plot(rng, min(2 * MB, target - written)) for _ in range(2)]
            )
            cell(nb.cells.pop())
        out.write("\n],\n")
        out.write(json.dumps({k: v for k, v in head.items()}, ensure_ascii=False)[1:-1])
        out.write("\n}\n")
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (created if missing)")
    parser.add_argument("--notebooks", type=int, default=1000)
    parser.add_argument("--total-mb", type=float, default=300)
    parser.add_argument(
        "--big-mb", type=float, default=0, help="write only one notebook of this size instead"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.big_mb:
        size = generate_big_notebook(args.out / "big.ipynb", args.big_mb, args.seed)
        print(f"wrote {args.out / 'big.ipynb'} ({size / MB:.1f} MB)")
        return 0
    workspace = generate_workspace(args.out, args.notebooks, args.total_mb, args.seed)
    print(
        f"wrote {len(workspace.notebooks)} notebooks ({workspace.total_bytes / MB:.1f} MB) and {workspace.card}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
