"""Decide each claim against the evidence found in the notebooks."""

from __future__ import annotations

import re

from .metrics import canonical
from .model import Claim, Evidence, Verdict

_EPSILON = 1e-9
_RELATION_WORDS = {"<": "below", "<=": "at most", ">": "over", ">=": "at least"}


def _normal_qualifier(key: str, value: str) -> str:
    value = value.strip().lower()
    if key == "class":
        return re.sub(r"[\s_\-]+", " ", value)
    return value


# How strongly agreeing on a qualifier shows that two numbers are the same quantity:
# a per-class or averaged F1 is a different number from the binary F1, while a
# missing split often only means the notebook did not print it.
_QUALIFIER_WEIGHTS = {"class": 2.0, "average": 2.0, "model": 1.5, "split": 1.0, "dataset": 0.5}


def _compatible(claim: Claim, item: Evidence) -> tuple[float, float] | None:
    """Rank how well an evidence item's qualifiers fit a claim's; None if they contradict.

    Returns (weight of the qualifiers in common, weight of the class and
    average qualifiers the evidence has and the claim lacks). A test-set claim
    never takes a train number, and a per-class value ranks below an overall
    one for a claim that names no class.
    """
    matched = extra = 0.0
    # A value for one class and a value averaged over the classes are different quantities.
    if ("class" in claim.qualifiers and "average" in item.qualifiers) or (
        "average" in claim.qualifiers and "class" in item.qualifiers
    ):
        return None
    for key, value in item.qualifiers.items():
        weight = _QUALIFIER_WEIGHTS.get(key, 1.0)
        claimed = claim.qualifiers.get(key)
        if claimed is None:
            if key == "split" and value == "test" and claim.unit != "count":
                # A card's headline number is a held-out result unless the card states otherwise.
                matched += 0.5
            elif key in ("class", "average"):
                # A per-class or averaged value is another quantity than the overall one.
                extra += weight
        elif _normal_qualifier(key, claimed) == _normal_qualifier(key, value):
            matched += weight
        else:
            return None
    if claim.unit == "count" and "split" in item.qualifiers and "split" not in claim.qualifiers:
        # "10,000 loans" is the whole data set, not the rows of one split.
        return None
    if (
        "average" in claim.qualifiers
        and "average" not in item.qualifiers
        and item.metric != "accuracy"
    ):
        # A macro or weighted average is never the binary (positive-class) value.
        return None
    return matched, extra


def _half_unit(decimals: int) -> float:
    return 0.5 * 10.0 ** (-decimals)


def _readings(item: Evidence) -> list[tuple[float, str]]:
    """Return the canonical values an evidence item may mean, with a label for each."""
    value = canonical(item.value, item.unit)
    if item.ambiguity.startswith("scale ambiguous"):
        return [(value, "fraction"), (value / 100.0, "percent")]
    return [(value, "")]


def _evidence_slack(item: Evidence) -> float:
    token_decimals = _token_decimals(item.token)
    if token_decimals is None:
        return 0.0
    slack = _half_unit(token_decimals)
    return slack / 100.0 if item.unit == "percent" else slack


def _token_decimals(token: str) -> int | None:
    from .numbers import find_numbers

    numbers = find_numbers(token)
    return numbers[0].decimals if numbers else None


def _agrees(claim: Claim, value: float, slack: float) -> bool:
    claimed = canonical(claim.value, claim.unit)
    if claim.relation == "=":
        tolerance = canonical(claim.tolerance, claim.unit) + slack + _EPSILON
        return abs(value - claimed) <= tolerance
    if claim.relation == "<":
        return value < claimed
    if claim.relation == "<=":
        return value <= claimed + _EPSILON
    if claim.relation == ">":
        return value > claimed
    return value >= claimed - _EPSILON


def format_value(value: float, unit: str) -> str:
    if unit == "percent":
        return f"{value:g}%"
    if unit == "count":
        return f"{int(value):,}"
    return f"{value:.10g}"


def describe_claim(claim: Claim) -> str:
    stated = format_value(claim.value, claim.unit)
    if claim.relation != "=":
        return f"{_RELATION_WORDS[claim.relation]} {stated}"
    suffix = " points" if claim.unit == "percent" else ""
    return f"{stated} (\u00b1{claim.tolerance:.6g}{suffix})"


def _describe_found(item: Evidence) -> str:
    shown = item.token or format_value(item.value, item.unit)
    origin = "derived " if item.derived_from else ""
    return f"{origin}{shown} in {item.where()}"


def derive_evidence(evidence: list[Evidence]) -> list[Evidence]:
    """Derive values the notebooks imply but do not print: Gini from AUC and back, F1."""
    derived: list[Evidence] = []
    for item in evidence:
        if item.ambiguity:
            continue
        value = canonical(item.value, item.unit)
        if item.metric == "roc_auc":
            derived.append(_derived(item, "gini", 2 * value - 1, "gini = 2 * roc_auc - 1"))
        elif item.metric == "gini":
            derived.append(_derived(item, "roc_auc", (value + 1) / 2, "roc_auc = (gini + 1) / 2"))

    by_place: dict[tuple, dict[str, Evidence]] = {}
    for item in evidence:
        if item.metric in ("precision", "recall") and not item.ambiguity:
            key = (item.notebook, item.cell_index, tuple(sorted(item.qualifiers.items())))
            by_place.setdefault(key, {})[item.metric] = item
    for pair in by_place.values():
        if "precision" in pair and "recall" in pair:
            p = canonical(pair["precision"].value, pair["precision"].unit)
            r = canonical(pair["recall"].value, pair["recall"].unit)
            if p + r > 0:
                f1 = _derived(pair["precision"], "f1", 2 * p * r / (p + r), "f1 = 2PR / (P + R)")
                f1.derived_from.append(_source(pair["recall"]))
                derived.append(f1)
    return derived


def _source(item: Evidence) -> dict:
    return {
        "notebook": item.notebook,
        "cell_index": item.cell_index,
        "metric": item.metric,
        "value": item.value,
        "text": item.text,
    }


def _derived(item: Evidence, metric: str, value: float, formula: str) -> Evidence:
    return Evidence(
        notebook=item.notebook,
        cell_index=item.cell_index,
        cell_id=item.cell_id,
        output_index=item.output_index,
        metric=metric,
        value=round(value, 12),
        unit="fraction",
        text=item.text,
        token="",
        qualifiers=dict(item.qualifiers),
        extractor=item.extractor,
        derived_from=[{"formula": formula, **_source(item)}],
    )


def _best_tier(claim: Claim, direct: list[Evidence], derived: list[Evidence]) -> list[Evidence]:
    """Return the evidence whose qualifiers fit the claim best.

    Derived values compete with printed ones on qualifiers, so a validation
    Gini derived from a printed validation AUC beats a printed Gini of no
    stated split. On a tie, printed values win.
    """
    ranked = []
    for item in [*direct, *derived]:
        if item.metric != claim.metric:
            continue
        rank = _compatible(claim, item)
        if rank is not None:
            ranked.append((rank, item))
    if not ranked:
        return []
    best = max(rank[0] for rank, _ in ranked)
    fewest_extra = min(rank[1] for rank, _ in ranked if rank[0] == best)
    tier = [item for rank, item in ranked if rank == (best, fewest_extra)]
    printed = [item for item in tier if not item.derived_from]
    return printed or tier


def decide(claim: Claim, evidence: list[Evidence], derived: list[Evidence]) -> Verdict:
    """Return the verdict on one claim, with the evidence that decides it."""
    candidates = _best_tier(claim, evidence, derived)
    if not candidates:
        scope = ", ".join(f"{k} {v}" for k, v in claim.qualifiers.items())
        detail = f" for {scope}" if scope else ""
        return Verdict(claim, "no_evidence", f"no readable output reports {claim.metric}{detail}")

    matches: list[Evidence] = []
    misses: list[Evidence] = []
    undecided: list[tuple[Evidence, str]] = []
    for item in candidates:
        slack = _evidence_slack(item)
        agreeing = [label for value, label in _readings(item) if _agrees(claim, value, slack)]
        if item.ambiguity:
            note = item.ambiguity
            if item.ambiguity.startswith("scale ambiguous") and agreeing:
                note = f"scale ambiguous (percent vs fraction; matches if {agreeing[0]})"
            undecided.append((item, note))
        elif agreeing:
            matches.append(item)
        else:
            misses.append(item)

    claimed = f"claimed {describe_claim(claim)}"
    if matches:
        conflicts = _conflicts(matches, misses)
        if conflicts:
            reason = (
                f"{claimed}: {_describe_found(matches[0])} agrees, but "
                f"{_describe_found(conflicts[0])} does not"
            )
            return Verdict(claim, "conflicting", reason, matches[:3] + conflicts[:3])
        reason = f"{claimed}, found {_describe_found(matches[0])}"
        if matches[0].derived_from:
            reason += f" ({matches[0].derived_from[0]['formula']})"
        reason += _spread_note(claim, matches[0])
        if misses:
            others = ", ".join(_describe_found(m) for m in misses[:2])
            reason += f"; other values elsewhere: {others}"
        return Verdict(claim, "verified", reason, matches[:3])

    if undecided:
        item, note = undecided[0]
        return Verdict(claim, "unverifiable", f"{claimed}; {note}: {_describe_found(item)}", [item])

    closest = min(
        misses, key=lambda m: abs(canonical(m.value, m.unit) - canonical(claim.value, claim.unit))
    )
    reason = f"{claimed}, found {_describe_found(closest)}"
    if closest.derived_from:
        reason += f" ({closest.derived_from[0]['formula']})"
    if len(misses) > 1:
        reason += f" (closest of {len(misses)} values)"
    return Verdict(
        claim, "mismatch", reason, [closest] + [m for m in misses if m is not closest][:2]
    )


def _label_key(item: Evidence) -> str:
    return re.sub(r"[^a-z0-9]+", " ", item.label.lower()).strip()


def _quantity_key(item: Evidence) -> tuple:
    return (item.notebook, _label_key(item), tuple(sorted(item.qualifiers.items())))


def _conflicts(matches: list[Evidence], misses: list[Evidence]) -> list[Evidence]:
    """Return the misses that contradict a match: the same quantity in another notebook.

    A name and qualifiers identify one quantity only where a notebook prints
    them once; a notebook that prints "accuracy" for five models cannot show
    which one the card means.
    """
    counts: dict[tuple, int] = {}
    for item in [*matches, *misses]:
        counts[_quantity_key(item)] = counts.get(_quantity_key(item), 0) + 1
    unique_matches = [m for m in matches if counts[_quantity_key(m)] == 1]
    return [
        miss
        for miss in misses
        if counts[_quantity_key(miss)] == 1
        and any(
            miss.notebook != match.notebook
            and miss.qualifiers == match.qualifiers
            and _label_key(miss) == _label_key(match)
            for match in unique_matches
        )
    ]


def _spread_note(claim: Claim, item: Evidence) -> str:
    notes = []
    if claim.spread and item.spread:
        same_value = abs(claim.spread.value - item.spread.value) <= _half_unit(2) + _EPSILON
        if not same_value or claim.spread.meaning != item.spread.meaning:
            notes.append(
                f"spread differs or has a different meaning (card \u00b1{claim.spread.value:g} "
                f"{claim.spread.meaning}, notebook \u00b1{item.spread.value:g} {item.spread.meaning})"
            )
    if claim.interval and item.interval:
        same = (
            abs(claim.interval.low - item.interval.low) <= _half_unit(2) + _EPSILON
            and abs(claim.interval.high - item.interval.high) <= _half_unit(2) + _EPSILON
        )
        word = "matches" if same else "differs from"
        notes.append(
            f"interval {claim.interval.low:g} to {claim.interval.high:g} {word} "
            f"{item.interval.low:g} to {item.interval.high:g} in the notebook"
        )
    return "".join(f"; {note}" for note in notes)


# Metrics that derive_evidence turns into the metric named by the key.
_DERIVATION_SOURCES = {"gini": ("roc_auc",), "roc_auc": ("gini",), "f1": ("precision", "recall")}


def compare(claims: list[Claim], evidence: list[Evidence]) -> list[Verdict]:
    """Decide every claim against all evidence.

    Only the metrics the claims name, and those they can be derived from, are
    looked at, so a workspace of many thousand values costs what its relevant
    values cost.
    """
    needed = {claim.metric for claim in claims}
    for metric in list(needed):
        needed.update(_DERIVATION_SOURCES.get(metric, ()))
    relevant = [item for item in evidence if item.metric in needed]
    derived = derive_evidence(relevant)

    by_metric: dict[str, tuple[list[Evidence], list[Evidence]]] = {}
    for item in relevant:
        by_metric.setdefault(item.metric, ([], []))[0].append(item)
    for item in derived:
        by_metric.setdefault(item.metric, ([], []))[1].append(item)
    return [decide(claim, *by_metric.get(claim.metric, ([], []))) for claim in claims]


def summarize(verdicts: list[Verdict]) -> dict[str, int]:
    from .model import VERDICTS

    counts = {name: 0 for name in VERDICTS}
    for verdict in verdicts:
        counts[verdict.verdict] += 1
    return counts
