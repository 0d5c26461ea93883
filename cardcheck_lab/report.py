"""The report document (JSON) and its renderings for people (Markdown, terminal)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import resources
from typing import TYPE_CHECKING, Any

from .compare import describe_claim, format_value
from .model import VERDICTS, NotebookResult, Verdict

if TYPE_CHECKING:
    from .runner import Job

REPORT_VERSION = "1.0"
# Claims are listed worst first, so mismatches lead every rendering.
VERDICT_ORDER = {name: index for index, name in enumerate(VERDICTS)}


def report_schema() -> dict[str, Any]:
    """Return the JSON Schema that every report validates against."""
    text = (
        resources.files("cardcheck_lab").joinpath("schemas/report.schema.json").read_text("utf-8")
    )
    return json.loads(text)


def summary_counts(verdicts: list[Verdict], results: list[NotebookResult]) -> dict[str, Any]:
    counts: dict[str, Any] = {name: 0 for name in VERDICTS}
    for verdict in verdicts:
        counts[verdict.verdict] += 1
    counts["claims"] = len(verdicts)
    counts["notebooks"] = len(results)
    for status in ("done", "failed", "skipped", "cancelled"):
        counts[f"notebooks_{status}"] = sum(1 for r in results if r.status == status)
    counts["evidence"] = sum(len(r.evidence) for r in results)
    return counts


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")


def build_report(job: Job) -> dict[str, Any]:
    """Build the report document of a job, complete or partial."""
    results = [job.results[path] for path in job.order if path in job.results]
    decided = {verdict.claim.id: verdict for verdict in job.verdicts}
    claims = []
    for claim in job.claims:
        if claim.id in decided:
            claims.append(decided[claim.id].to_dict())
    seconds = (job.finished or job.started or job.created) - (job.started or job.created)
    return {
        "version": REPORT_VERSION,
        "id": job.id,
        "state": job.state,
        "error": job.error,
        "message": job.message,
        "card": job.card_label,
        "workspace": str(job.workspace),
        "options": job.options.public(),
        "created": _iso(job.created),
        "finished": _iso(job.finished),
        "seconds": round(seconds, 3),
        "claims": claims,
        "notebooks": [result.summary_dict() for result in results],
        "summary": summary_counts(job.verdicts, results),
    }


def sorted_claims(report: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(report["claims"], key=lambda c: (VERDICT_ORDER.get(c["verdict"], 99), c["line"]))


def _found(claim: dict[str, Any]) -> str:
    if not claim["evidence"]:
        return ""
    item = claim["evidence"][0]
    shown = item.get("token") or format_value(item["value"], item["unit"])
    if item.get("derived_from"):
        shown = f"{format_value(item['value'], item['unit'])} (derived)"
    return f"{shown} in {item['notebook']} cell {item['cell_index']}"


def _claimed(claim: dict[str, Any]) -> str:
    from .model import Claim

    fields = {k: claim[k] for k in Claim.__dataclass_fields__ if k in claim}
    return describe_claim(Claim(**fields))


def _qualifier_text(claim: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in claim["qualifiers"].items())


def render_markdown(report: dict[str, Any]) -> str:
    """Render a report as Markdown for people (pull requests, CI summaries)."""
    summary = report["summary"]
    lines = [
        f"# Model card check: {report['card']}",
        "",
        (
            f"Workspace `{report['workspace']}`; provider `{report['options']['provider']}`; "
            f"state **{report['state']}**."
        ),
        "",
    ]
    if report.get("error"):
        lines += [f"> **Error:** {report['error']}", ""]
    counts = ", ".join(f"{summary[name]} {name.replace('_', ' ')}" for name in VERDICTS)
    lines += [f"**{summary['claims']} claims:** {counts}.", ""]
    if report.get("message"):
        lines += [report["message"], ""]

    lines += ["| verdict | line | metric | claimed | found | reason |", "|---|---|---|---|---|---|"]
    for claim in sorted_claims(report):
        metric = claim["metric"]
        if claim["qualifiers"]:
            metric += f" ({_qualifier_text(claim)})"
        cells = [
            claim["verdict"],
            str(claim["line"]),
            metric,
            _claimed(claim),
            _found(claim),
            claim["reason"],
        ]
        lines.append(
            "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"
        )

    lines += [
        "",
        "## Notebooks",
        "",
        "| notebook | status | evidence | seconds | notes |",
        "|---|---|---|---|---|",
    ]
    for notebook in report["notebooks"]:
        notes = "; ".join(
            filter(None, [notebook["error"], *notebook["notes"], *notebook["warnings"]])
        )
        lines.append(
            f"| {notebook['path']} | {notebook['status']} | {notebook['evidence_count']} | "
            f"{notebook['seconds']:.2f} | {notes.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


def render_terminal(report: dict[str, Any], console) -> None:
    """Print the claims table and the notebook problems on a rich console."""
    from rich.table import Table

    styles = {
        "mismatch": "bold red",
        "conflicting": "magenta",
        "unverifiable": "yellow",
        "no_evidence": "dim",
        "verified": "green",
    }
    table = Table(title=f"Claims in {report['card']}", show_lines=False, expand=False)
    for column in ("verdict", "line", "metric", "claimed", "found"):
        table.add_column(column, overflow="fold")
    for claim in sorted_claims(report):
        metric = claim["metric"] + (f"\n{_qualifier_text(claim)}" if claim["qualifiers"] else "")
        table.add_row(
            f"[{styles.get(claim['verdict'], '')}]{claim['verdict']}[/]",
            str(claim["line"]),
            metric,
            _claimed(claim),
            _found(claim) or claim["reason"],
        )
    console.print(table)

    for notebook in report["notebooks"]:
        if notebook["status"] in ("failed", "skipped"):
            console.print(
                f"{notebook['status']}: {notebook['path']}: {notebook['error']}", markup=False
            )
        for note in notebook["notes"]:
            console.print(f"note: {notebook['path']}: {note}", markup=False)

    summary = report["summary"]
    counts = ", ".join(f"{summary[name]} {name.replace('_', ' ')}" for name in VERDICTS)
    console.print(f"{summary['claims']} claims: {counts}", markup=False)
