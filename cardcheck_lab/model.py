"""Data types shared by the claims parser, the extractors, the comparator and the runner.

Every type here is a plain dataclass so that it pickles (for process pools) and
turns into the report's JSON with ``to_dict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Qualifier keys, in the order the report prints them.
QUALIFIER_KEYS = ("split", "model", "dataset", "class", "average")

VERDICTS = ("mismatch", "conflicting", "unverifiable", "no_evidence", "verified")


@dataclass
class Spread:
    """A spread stated next to a value: ``0.81 ± 0.02`` or ``(+/- 0.03)``."""

    value: float
    meaning: str = "unknown"  # "std", "sem", "ci", or "unknown" when unlabelled


@dataclass
class Interval:
    """Bounds stated next to a value, such as ``[95% CI 0.38–0.44]``."""

    low: float
    high: float
    label: str = ""  # for example "95% CI"; empty when unlabelled


@dataclass
class Claim:
    """A number the model card states about a metric."""

    id: str
    text: str
    line: int  # 1-based line in the card
    metric: str
    value: float  # as stated, in ``unit``
    unit: str  # "fraction", "percent", "count" or "value"
    decimals: int  # digits after the decimal point as written, in ``unit``
    tolerance: float  # in the claim's own unit
    relation: str = "="  # "=", "<", "<=", ">", ">="
    hedge: str = ""  # the hedge word, such as "about" or "~"
    qualifiers: dict[str, str] = field(default_factory=dict)
    source: str = "prose"  # "prose", "table" or "model-index"
    spread: Spread | None = None
    interval: Interval | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evidence:
    """A metric value found in a notebook output, with where it was found."""

    notebook: str  # path relative to the workspace, with forward slashes
    cell_index: int  # 0-based index among all cells of the notebook
    cell_id: str | None  # the cell id when it is unique in the notebook
    output_index: int
    metric: str
    value: float  # in ``unit``
    unit: str
    text: str  # the exact output text the value was read from (ANSI codes removed)
    token: str = ""  # the number as printed, such as "70.3%" or "6.05e-06"
    label: str = ""  # the name printed for the value, such as "Test ROC-AUC"
    qualifiers: dict[str, str] = field(default_factory=dict)
    extractor: str = "rules"  # "rules" or "llm"
    derived_from: list[dict[str, Any]] | None = None
    spread: Spread | None = None
    interval: Interval | None = None
    # Why the value cannot decide a claim on its own, such as "ambiguous separator".
    ambiguity: str = ""
    execution_count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def where(self) -> str:
        """Return "nb.ipynb cell 3" for reasons and tables."""
        return f"{self.notebook} cell {self.cell_index}"


@dataclass
class NotebookResult:
    """The result of reading one notebook: its status, warnings and evidence."""

    path: str
    status: str  # "done", "failed", "skipped" or "cancelled"
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # such as "LLM extraction not available: ..."

    def summary_dict(self) -> dict[str, Any]:
        """Return the report's ``notebooks[]`` entry, without the evidence itself."""
        return {
            "path": self.path,
            "status": self.status,
            "error": self.error,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "evidence_count": len(self.evidence),
            "seconds": round(self.seconds, 4),
        }


@dataclass
class Verdict:
    """The comparator's decision on one claim."""

    claim: Claim
    verdict: str
    reason: str
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = self.claim.to_dict()
        data["verdict"] = self.verdict
        data["reason"] = self.reason
        data["evidence"] = [item.to_dict() for item in self.evidence]
        return data
