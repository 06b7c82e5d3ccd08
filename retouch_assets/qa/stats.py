"""Pure review statistics over plain rows (`qa.queries.reviews`): percentiles of review time,
labels by template, and the slow reviews that feed the template backlog."""

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

NO_LABEL = "(none)"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) by linear interpolation between closest ranks (numpy's
    default), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class WeekDurations:
    """One week's review durations (seconds) and their P50, P95 and slow count."""

    week: date
    seconds: tuple[float, ...]
    p50: float | None
    p95: float | None
    slow: int


def durations_by_week(
    rows: Iterable[dict], weeks: Sequence[date], slow_seconds: float
) -> list[WeekDurations]:
    """Per week (every week in `weeks`, in order, empty ones included), the reviewed
    artifacts' durations with P50/P95 and how many were slower than `slow_seconds`."""
    by_week: dict[date, list[float]] = {w: [] for w in weeks}
    for r in rows:
        if r["review_seconds"] is not None and r["week"] in by_week:
            by_week[r["week"]].append(float(r["review_seconds"]))
    return [
        WeekDurations(
            week,
            tuple(sorted(values)),
            percentile(values, 50),
            percentile(values, 95),
            sum(1 for v in values if v > slow_seconds),
        )
        for week, values in by_week.items()
    ]


def labels_by_template(rows: Iterable[dict]) -> tuple[list[str], list[tuple[str, dict[str, int]]]]:
    """(labels, [(template, {label: count})]) over reviewed rows; a review with no label
    counts as `(none)`. Labels by frequency, templates by name."""
    per_template: dict[str, Counter] = {}
    totals: Counter = Counter()
    for r in rows:
        if r["review_seconds"] is None:
            continue
        labels = list(r["review_labels"] or []) or [NO_LABEL]
        per_template.setdefault(r["template_id"], Counter()).update(labels)
        totals.update(labels)
    ordered = [label for label, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ordered, [(t, dict(per_template[t])) for t in sorted(per_template)]


def backlog_rows(rows: Iterable[dict], slow_seconds: float) -> list[dict]:
    """`qa.template_backlog` rows: every review strictly slower than `slow_seconds`."""
    return [
        {
            "week": r["week"],
            "template_id": r["template_id"],
            "artifact_id": r["artifact_id"],
            "attempt": r["attempt"],
            "generated_at": r["generated_at"],
            "prompt_version": r["prompt_version"],
            "reviewer": r["reviewer"],
            "review_seconds": float(r["review_seconds"]),
            "review_labels": list(r["review_labels"] or []),
            "threshold_seconds": float(slow_seconds),
        }
        for r in rows
        if r["review_seconds"] is not None and r["review_seconds"] > slow_seconds
    ]
