"""Metric vocabulary, qualifier words and the pairing of metric names with numbers.

Metric ids follow scikit-learn and Hugging Face ``evaluate`` names where they
exist (``accuracy``, ``roc_auc``, ``f1``, ``r2``, ``rmse`` ...), plus credit-risk
ones (``gini``, ``ks``) and dataset facts (``n_samples``, ``event_rate``).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field

from .numbers import NumberToken, Quantity, find_quantities

# Each id with the names it goes by. Words are separated by space, "-" or "_" in
# the wild, so a space here matches any of those (or none).
METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "roc_auc": (
        "roc auc",
        "auc roc",
        "auroc",
        "auc",
        "roc auc score",
        "area under the roc curve",
        "area under the curve",
        "area under curve",
        "c statistic",
        "c stat",
    ),
    "pr_auc": ("pr auc", "auc pr", "auprc", "average precision", "precision recall auc"),
    "gini": ("gini", "gini coefficient", "accuracy ratio"),
    "ks": (
        "ks",
        "ks statistic",
        "ks stat",
        "k s",
        "kolmogorov smirnov",
        "kolmogorov smirnov statistic",
    ),
    "accuracy": ("accuracy", "acc", "accuracy score"),
    "balanced_accuracy": ("balanced accuracy", "balanced acc"),
    "precision": ("precision", "ppv", "positive predictive value"),
    "recall": ("recall", "sensitivity", "tpr", "true positive rate", "hit rate"),
    "specificity": ("specificity", "tnr", "true negative rate"),
    "fpr": ("fpr", "false positive rate", "fall out"),
    "f1": ("f1", "f1 score", "f 1", "f1score", "f measure", "f score"),
    "log_loss": ("log loss", "logloss", "logistic loss", "cross entropy", "binary cross entropy"),
    "loss": ("loss",),
    "brier": ("brier", "brier score", "brier score loss"),
    "r2": ("r2", "r 2", "r^2", "r squared", "r2 score", "coefficient of determination"),
    "mae": ("mae", "mean absolute error"),
    "mse": ("mse", "mean squared error", "mean square error"),
    "rmse": ("rmse", "root mean squared error", "root mean square error", "rmse score"),
    "mape": ("mape", "mean absolute percentage error"),
    "mcc": ("mcc", "matthews correlation coefficient", "matthews corrcoef"),
    "ece": ("ece", "expected calibration error", "calibration error"),
    "event_rate": (
        "default rate",
        "bad rate",
        "event rate",
        "positive rate",
        "fraud rate",
        "churn rate",
        "prevalence",
        "class rate",
        "default rate pct",
        "bad rate pct",
    ),
    "learning_rate": ("learning rate", "lr"),
    "threshold": ("threshold", "decision threshold"),
    "n_samples": (
        "rows",
        "samples",
        "observations",
        "records",
        "examples",
        "instances",
        "loans",
        "applications",
        "customers",
        "n samples",
        "sample size",
    ),
}

# Metrics whose values lie in [0, 1] and may be written as percentages.
FRACTION_METRICS = frozenset(
    {
        "roc_auc",
        "pr_auc",
        "ks",
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "specificity",
        "fpr",
        "f1",
        "brier",
        "event_rate",
        "ece",
    }
)
# Metrics that may also be written as percentages but are not bounded by 1 below.
SIGNED_FRACTION_METRICS = frozenset({"gini", "mcc", "r2"})
COUNT_METRICS = frozenset({"n_samples"})
# Metrics that may be read from percentages written as such (MAPE is often "12.5%").
PERCENT_METRICS = FRACTION_METRICS | SIGNED_FRACTION_METRICS | {"mape"}

SPLIT_WORDS: dict[str, tuple[str, ...]] = {
    "test": (
        "test",
        "testing",
        "test set",
        "held out",
        "holdout",
        "hold out",
        "evaluated on",
        "evaluation set",
    ),
    "val": ("val", "valid", "validation", "dev", "development set"),
    "train": ("train", "training", "trained on", "in sample"),
    "cv": ("cv", "cross validation", "cross validated", "folds", "fold"),
    "oot": ("oot", "out of time"),
}

MODEL_WORDS: dict[str, tuple[str, ...]] = {
    "logistic_regression": ("logistic regression", "logreg", "logit", "lr model"),
    "random_forest": (
        "random forest",
        "randomforest",
        "rf",
        "random forest classifier",
        "random forest regressor",
    ),
    "gradient_boosting": (
        "gradient boosting",
        "gradientboosting",
        "gbm",
        "gbt",
        "gradient boosted trees",
        "gb",
    ),
    "xgboost": ("xgboost", "xgb"),
    "lightgbm": ("lightgbm", "lgbm"),
    "catboost": ("catboost",),
    "decision_tree": ("decision tree", "decisiontree", "dt"),
    "adaboost": ("adaboost", "ada boost"),
    "bagging": ("bagging", "bagging regressor", "bagging classifier"),
    "linear_regression": ("linear regression",),
    "ridge": ("ridge",),
    "lasso": ("lasso",),
    "svm": ("svm", "svc", "support vector machine"),
    "knn": ("knn", "k nearest neighbors", "k nearest neighbours", "kneighbors"),
    "naive_bayes": ("naive bayes", "gaussiannb"),
    "neural_network": ("neural network", "mlp", "nn"),
}

AVERAGE_WORDS = {
    "macro": ("macro", "macro avg", "macro average", "macro averaged"),
    "micro": ("micro", "micro avg", "micro average", "micro averaged"),
    "weighted": ("weighted", "weighted avg", "weighted average", "avg / total"),
}

HEDGES = (
    "approximately",
    "approx.",
    "approx",
    "about",
    "around",
    "roughly",
    "nearly",
    "almost",
    "circa",
    "close to",
    "~",
    "\u2248",
    "\u223c",
)
# Relation words and the relation they state between the metric and the number.
RELATIONS = (
    ("at least", ">="),
    ("no less than", ">="),
    ("\u2265", ">="),
    (">=", ">="),
    ("at most", "<="),
    ("no more than", "<="),
    ("up to", "<="),
    ("\u2264", "<="),
    ("<=", "<="),
    ("more than", ">"),
    ("greater than", ">"),
    ("higher than", ">"),
    ("over", ">"),
    ("above", ">"),
    ("exceeds", ">"),
    ("exceeding", ">"),
    (">", ">"),
    ("less than", "<"),
    ("lower than", "<"),
    ("below", "<"),
    ("under", "<"),
    ("<", "<"),
)


def _alias_pattern(alias: str) -> str:
    words = [re.escape(word) for word in re.split(r"[\s_\-]+", alias)]
    return r"[\s_\-]*".join(words)


def _vocabulary_regex(table: dict[str, tuple[str, ...]]) -> tuple[re.Pattern[str], dict[str, str]]:
    pairs = [(alias, key) for key, aliases in table.items() for alias in aliases]
    pairs.sort(key=lambda pair: len(pair[0]), reverse=True)
    lookup = {re.sub(r"[\s_\-]+", "", alias.lower()): key for alias, key in pairs}
    body = "|".join(_alias_pattern(alias) for alias, _ in pairs)
    pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])", re.IGNORECASE)
    return pattern, lookup


_METRIC_RE, _METRIC_LOOKUP = _vocabulary_regex(METRIC_ALIASES)
_SPLIT_RE, _SPLIT_LOOKUP = _vocabulary_regex(SPLIT_WORDS)
_MODEL_RE, _MODEL_LOOKUP = _vocabulary_regex(MODEL_WORDS)
_AVERAGE_RE, _AVERAGE_LOOKUP = _vocabulary_regex(AVERAGE_WORDS)

_CLASS_PATTERNS = (
    re.compile(r"\(\s*y\s*=\s*([\w\- ]{1,20}?)\s*\)", re.IGNORECASE),
    re.compile(
        r"\b(?:on|for|of)\s+(?:the\s+)?[\"'`]?([\w\-]+(?:\s[\w\-]+)?)[\"'`]?\s+class\b",
        re.IGNORECASE,
    ),
    re.compile(r"\bclass\s*[:=]?\s*[\"'`]?([\w\-]+)[\"'`]?", re.IGNORECASE),
)
_CLASS_STOPWORDS = {
    "imbalance",
    "the",
    "a",
    "each",
    "every",
    "per",
    "weight",
    "weights",
    "rate",
    "rates",
    "label",
    "labels",
}


def _key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.lower())


def normalize_text(text: str) -> str:
    """Fold compatibility characters ("𝑦", "F₁", "R²") into plain ones for matching."""
    return unicodedata.normalize("NFKC", text)


def normalize_metric(name: str) -> str | None:
    """Map a metric name as written ("ROC-AUC", "f1_score") to its id, or None."""
    name = normalize_text(name).strip().strip("*_`'\":").strip()
    if not name:
        return None
    match = _METRIC_RE.fullmatch(name)
    if match:
        return _METRIC_LOOKUP.get(_key(match.group(0)))
    # Labels such as "test_roc_auc" or "Validation AUC (5-fold)": take the one mention.
    mentions = find_metric_mentions(name)
    if len(mentions) == 1:
        return mentions[0].metric
    return None


def normalize_split(name: str) -> str | None:
    match = _SPLIT_RE.search(normalize_text(name))
    return _SPLIT_LOOKUP.get(_key(match.group(0))) if match else None


def normalize_model(name: str) -> str | None:
    match = _MODEL_RE.search(normalize_text(name))
    return _MODEL_LOOKUP.get(_key(match.group(0))) if match else None


@dataclass
class Mention:
    metric: str
    start: int
    end: int


def find_metric_mentions(text: str) -> list[Mention]:
    return [
        Mention(_METRIC_LOOKUP[_key(m.group(0))], m.start(), m.end())
        for m in _METRIC_RE.finditer(text)
    ]


def _nearest(pattern: re.Pattern[str], text: str, anchor: int | None) -> re.Match[str] | None:
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    if anchor is None:
        return matches[0]
    return min(matches, key=lambda m: min(abs(m.start() - anchor), abs(m.end() - anchor)))


def heading_qualifiers(heading: str) -> dict[str, str]:
    """Return the split and model a section heading names, if it names one of each.

    A heading such as "Train/test split" names two splits and so none.
    """
    text = normalize_text(heading)
    qualifiers = {}
    splits = {_SPLIT_LOOKUP[_key(m.group(0))] for m in _SPLIT_RE.finditer(text)}
    if len(splits) == 1:
        qualifiers["split"] = splits.pop()
    models = {_MODEL_LOOKUP[_key(m.group(0))] for m in _MODEL_RE.finditer(text)}
    if len(models) == 1:
        qualifiers["model"] = models.pop()
    return qualifiers


def find_qualifiers(text: str, anchor: int | None = None) -> dict[str, str]:
    """Read split, model, class and average words from a piece of text.

    When a word of one kind occurs more than once, the one nearest to
    ``anchor`` (the number's position) is taken.
    """
    qualifiers: dict[str, str] = {}

    average = _nearest(_AVERAGE_RE, text, anchor)
    if average:
        qualifiers["average"] = _AVERAGE_LOOKUP[_key(average.group(0))]

    split = _nearest(_SPLIT_RE, text, anchor)
    if split:
        qualifiers["split"] = _SPLIT_LOOKUP[_key(split.group(0))]

    model = _nearest(_MODEL_RE, text, anchor)
    if model:
        qualifiers["model"] = _MODEL_LOOKUP[_key(model.group(0))]

    for pattern in _CLASS_PATTERNS:
        match = pattern.search(text)
        if match and match.group(1).strip().lower() not in _CLASS_STOPWORDS:
            qualifiers["class"] = match.group(1).strip().lower()
            break
    return qualifiers


@dataclass
class Pairing:
    """A metric name paired with a number in one piece of text."""

    metric: str
    quantity: Quantity
    hedge: str = ""
    relation: str = "="
    qualifiers: dict[str, str] = field(default_factory=dict)
    mention_start: int = 0
    label: str = ""  # the words that name the value, such as "Test ROC-AUC"


_CONDITION_WORDS = "|".join(
    _alias_pattern(alias)
    for aliases in METRIC_ALIASES.values()
    for alias in sorted(aliases, key=len, reverse=True)
)
_CONDITION = re.compile(
    rf"(?:(?<![A-Za-z])at|@)\s*(?:the\s+|this\s+|a\s+|[~\u2248]\s*)?(?:\d[\d.,]*\s*%?\s*)?"
    rf"(?:{_CONDITION_WORDS})(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_SENTENCE_BREAK = re.compile(r"[.;!?](?:\s|$)|\n")
_MAX_GAP_BEFORE = 60
_MAX_GAP_AFTER = 25
_FROM_BEFORE = re.compile(r"\bfrom\s*$", re.IGNORECASE)


def _find_word(words: tuple[str, ...], gap: str) -> str:
    lowered = gap.lower()
    for word in words:
        if word.isalpha() or " " in word:
            if re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", lowered):
                return word
        elif word in lowered:
            return word
    return ""


def _relation_in(gap: str) -> str:
    lowered = gap.lower()
    for word, relation in RELATIONS:
        if word[0].isalpha():
            if re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", lowered):
                return relation
        elif word in lowered:
            return relation
    return "="


def pair_metrics(text: str, context: dict[str, str] | None = None) -> list[Pairing]:
    """Pair each number in ``text`` with the metric name it reports.

    A number takes the nearest metric name before it in the same sentence when
    only words lie between them ("AUC of about 0.70"), else the one right after
    it ("97% accuracy", "7,000 training rows"). Numbers with neither are not
    metric values (years, counts of things, list markers) and are left out.
    Qualifiers come from the words around the number, falling back on
    ``context`` (a section heading, a table header).
    """
    text = normalize_text(text)
    quantities = find_quantities(text)
    if not quantities:
        return []
    mentions = find_metric_mentions(text)
    if not mentions:
        return []

    # "Threshold at ~5% FPR: 0.7663", "TPR at this threshold: 0.53": the metric
    # and the number after "at" state a condition, not a value.
    conditions = [m.span() for m in _CONDITION.finditer(text)]
    mentions = [m for m in mentions if not any(s <= m.start < e for s, e in conditions)]
    quantities = [q for q in quantities if not any(s <= q.token.start < e for s, e in conditions)]
    if not quantities or not mentions:
        return []

    pairings: list[Pairing] = []
    used: set[int] = set()  # mentions already taken by the number before them
    mention_starts = [m.start for m in mentions]
    sentences = _SentenceIndex(text)
    for index, quantity in enumerate(quantities):
        token = quantity.token
        previous_end = quantities[index - 1].end if index else 0
        next_start = quantities[index + 1].token.start if index + 1 < len(quantities) else len(text)

        if _FROM_BEFORE.search(text[previous_end : token.start]):
            # "improved from 38.9% to 52.8%": the old value is history, not a claim.
            continue

        # Only mentions between the neighbouring numbers can pair with this one.
        nearby = mentions[
            bisect.bisect_left(mention_starts, previous_end) : bisect.bisect_left(
                mention_starts, next_start
            )
        ]
        fits = [m for m in nearby if _can_hold(m.metric, token)]
        mention, gap = _mention_before(text, fits, used, previous_end, token.start)
        if mention is None:
            mention, gap = _mention_after(text, fits, quantity.end, next_start)
            if mention is not None:
                used.add(mention.start)
                gap = _words_right_before(text, max(previous_end, token.start - 40), token.start)
        if mention is None:
            continue

        clause_start, clause = _clause(text, nearby, mention, quantity, previous_end, next_start)
        qualifiers = dict(context or {})
        # "On the validation split A has 0.56, against 0.30 for B": the part of the
        # sentence before this clause lends its split and model. Only that part, so
        # "loss: 0.2 - val_accuracy: 0.73" does not make the loss a validation one.
        sentence_start = sentences.start_of(token.start)
        lead = text[sentence_start:clause_start]
        lead_splits = {_SPLIT_LOOKUP[_key(m.group(0))] for m in _SPLIT_RE.finditer(lead)}
        if len(lead_splits) == 1:
            qualifiers["split"] = lead_splits.pop()
        lead_models = {_MODEL_LOOKUP[_key(m.group(0))] for m in _MODEL_RE.finditer(lead)}
        if len(lead_models) == 1:
            qualifiers["model"] = lead_models.pop()
        qualifiers.update(find_qualifiers(clause, token.start - clause_start))
        pairings.append(
            Pairing(
                metric=mention.metric,
                quantity=quantity,
                hedge=_find_word(HEDGES, gap),
                relation=_relation_in(gap),
                qualifiers=qualifiers,
                mention_start=mention.start,
                label=_label_text(text, mention, quantity, max(previous_end, clause_start)),
            )
        )
    return pairings


def _can_hold(metric: str, token: NumberToken) -> bool:
    """Tell whether a number could be a value of the metric: "20.2%" is no row count."""
    if metric in COUNT_METRICS:
        return (
            not token.percent
            and token.value >= 0
            and (token.value == int(token.value) or token.ambiguity != "")
        )
    return True


def _label_text(text: str, mention: Mention, quantity: Quantity, low: int) -> str:
    if mention.start < quantity.token.start:
        label = text[low : quantity.token.start]
    else:
        label = text[quantity.end : mention.end]
    return " ".join(label.strip(" \t:=|(").split())


_LAST_WORDS = re.compile(
    r"(?:at least|at most|no less than|no more than|up to|more than|greater than|higher than|less than|"
    r"lower than|over|above|below|under|exceeding|approximately|approx\.?|about|around|roughly|nearly|"
    r"almost|circa|close to|[~\u2248\u223c<>\u2264\u2265]|<=|>=)\s*$",
    re.IGNORECASE,
)


def _words_right_before(text: str, low: int, high: int) -> str:
    """Return the hedge or bound word that ends right where a number starts, if any."""
    match = _LAST_WORDS.search(text[low:high])
    return match.group(0) if match else ""


_CLAUSE_BREAK = re.compile(r"[,;](?:\s|$)|[.!?](?:\s|$)|\n")
# Words after a number that start the next clause: "0.61 and the macro-average F1".
_CLAUSE_AFTER = re.compile(
    r"[,;](?:\s|$)|[.!?](?:\s|$)|\n|\t|\s[-|]\s|\s(?:and|while|whereas|against|but|versus|vs\.?)\s"
)
_WORDS_ONLY = re.compile(r"[ \t]*(?:[A-Za-z][\w'\-]*[ \t]+){0,3}")


class _SentenceIndex:
    """Sentence starts of one text, found once, so each lookup is a binary search."""

    def __init__(self, text: str) -> None:
        self.ends = [match.end() for match in _SENTENCE_BREAK.finditer(text)]

    def start_of(self, position: int) -> int:
        index = bisect.bisect_right(self.ends, position) - 1
        return self.ends[index] if index >= 0 else 0


def _clause(
    text: str, mentions: list[Mention], mention: Mention, quantity: Quantity, low: int, high: int
) -> tuple[int, str]:
    """Return the start and text of the clause that contains a metric name and its number."""
    first = min(mention.start, quantity.token.start)
    last = max(mention.end, quantity.end)

    start = low
    for match in _CLAUSE_BREAK.finditer(text, low, first):
        start = match.end()
    end = high
    following = _CLAUSE_AFTER.search(text, last, high)
    if following:
        end = following.start()
    for other in mentions:
        if last <= other.start < end:
            # Cut before the word that contains the next metric, so "val_" of
            # "val_accuracy" stays with the accuracy.
            word_start = max(
                text.rfind(" ", last, other.start), text.rfind("\t", last, other.start)
            )
            end = word_start + 1 if word_start != -1 else other.start
            break
    return start, text[start:end]


def _mention_before(
    text: str, mentions: list[Mention], used: set[int], low: int, high: int
) -> tuple[Mention | None, str]:
    for mention in reversed(mentions):
        if mention.end > high:
            continue
        if mention.start < low or mention.start in used:
            break
        gap = text[mention.end : high]
        if len(gap) > _MAX_GAP_BEFORE or _SENTENCE_BREAK.search(gap):
            return None, ""
        return mention, gap
    # The metric may be named before an earlier number's spread or interval, but
    # not before an earlier point value: "AUC 0.81 and 0.79" pairs only 0.81.
    return None, ""


def _mention_after(
    text: str, mentions: list[Mention], low: int, high: int
) -> tuple[Mention | None, str]:
    for mention in mentions:
        if mention.start < low:
            continue
        if mention.start >= high:
            break
        gap = text[low : mention.start]
        if len(gap) > _MAX_GAP_AFTER or not _WORDS_ONLY.fullmatch(gap):
            # Only words may come between: "97% accuracy", "7,000 training rows",
            # but not "100/100 [====] - 2s - loss".
            return None, ""
        return mention, gap
    return None, ""


@dataclass
class ResolvedValue:
    """A number read as a value of one metric: its unit and any doubt about it."""

    value: float
    unit: str  # "fraction", "percent", "count" or "value"
    decimals: int
    ambiguity: str = ""


# A name that promises a percentage: "bad_rate_pct", "Accuracy (%)"; the "%" of a
# number in the name ("TPR at 5% FPR") does not count.
_SCALE_WORDS = re.compile(r"pct|percent|perc(?![a-z])|(?<![\d.\s])%|\(\s*%\s*\)", re.IGNORECASE)


def resolve_value(metric: str, token: NumberToken, label: str = "") -> ResolvedValue | None:
    """Read ``token`` as a value of ``metric``; None when it cannot be one.

    ``label`` is the text naming the value ("bad_rate_pct"), used to notice a
    name that promises a percentage over a value printed as a fraction.
    """
    if metric in COUNT_METRICS:
        if token.percent or token.value < 0:
            return None
        value, ambiguity = token.value, ""
        if token.ambiguity and token.alternative is not None and "." in token.raw:
            # "12.345 rows": a count cannot be fractional, but a dot as the
            # thousands separator is a locale guess.
            value, ambiguity = token.alternative, "ambiguous separator"
        if value != int(value):
            return None
        return ResolvedValue(value, "count", 0, ambiguity)

    value, decimals, ambiguity = token.value, token.decimals, token.ambiguity
    if ambiguity and "." in token.raw and "," not in token.raw:
        # A dot followed by three digits is a decimal point for anything but counts.
        ambiguity = ""
    if ambiguity and token.alternative is not None and metric in PERCENT_METRICS:
        readings = [v for v in (value, token.alternative) if _in_range(metric, v, token.percent)]
        if len(readings) == 1:
            value = readings[0]
            decimals = 0 if value == token.value else 3
            ambiguity = ""

    if token.percent:
        if metric not in PERCENT_METRICS and metric not in ("loss", "log_loss"):
            return None
        if not _in_range(metric, value, True):
            return None
        return ResolvedValue(value, "percent", decimals, ambiguity)

    if metric in PERCENT_METRICS:
        if not _in_range(metric, value, False):
            if metric == "mape" or _in_range(metric, value, True):
                # "Accuracy: 97.2" is a percentage printed without its sign.
                return ResolvedValue(value, "percent", decimals, ambiguity)
            return None
        if label and _SCALE_WORDS.search(label) and metric != "mape":
            ambiguity = ambiguity or "scale ambiguous (percent vs fraction)"
        unit = "fraction" if metric != "mape" else "value"
        return ResolvedValue(value, unit, decimals, ambiguity)

    return ResolvedValue(value, "value", decimals, ambiguity)


def _in_range(metric: str, value: float, percent: bool) -> bool:
    top = 100.0 if percent else 1.0
    if metric in FRACTION_METRICS:
        return 0.0 <= value <= top
    if metric in ("gini", "mcc"):
        return -top <= value <= top
    if metric == "r2":
        return value <= top
    return True


def canonical(value: float, unit: str) -> float:
    """Put percent and fraction on one scale (fractions) so they compare."""
    return value / 100.0 if unit == "percent" else value
