"""Regression guardrail: a model or prompt version that is new in a week is compared with the
previous weeks' baseline (overall for models, the template's for prompt versions) before it
counts as safe."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from retouch_assets.baselines.weekly import ALL, Scope
from retouch_assets.config import Guardrail
from retouch_assets.ops.events import event_row
from retouch_assets.vocabulary import EventSource, EventType, ScopeType, VersionKind

# The kinds of `ingest.queries.first_seen` each version kind is looked up under.
FIRST_SEEN_KIND = {VersionKind.MODEL: "model", VersionKind.PROMPT: "prompt"}


@dataclass(frozen=True)
class VersionStats:
    kind: str  # a VersionKind
    version: str
    template_id: str | None  # prompt versions belong to a template: compared with its baseline
    artifacts: int
    delta_e_mean: float | None


@dataclass(frozen=True)
class Baseline:
    delta_e_mean: float | None
    artifacts: int


def weighted_baseline(weeks: list[tuple[float | None, int]]) -> Baseline:
    """Combine weekly (mean, artifacts) rows into the mean over all their artifacts."""
    usable = [(mean, n) for mean, n in weeks if mean is not None and n > 0]
    total = sum(n for _, n in usable)
    if total == 0:
        return Baseline(None, 0)
    return Baseline(sum(mean * n for mean, n in usable) / total, total)


def judge(stats: VersionStats, baseline: Baseline, rule: Guardrail) -> dict:
    """One guardrail row: worse by more than `max_worse_pct` (ΔE mean) means regressed; too few
    artifacts or no baseline means not judged yet (never regressed by default)."""
    row = {
        "kind": stats.kind,
        "version": stats.version,
        "template_id": stats.template_id,
        "artifacts": stats.artifacts,
        "delta_e_mean": stats.delta_e_mean,
        "baseline_delta_e_mean": baseline.delta_e_mean,
        "baseline_artifacts": baseline.artifacts,
        "worse_by_pct": None,
        "regressed": False,
        "note": None,
    }
    if baseline.delta_e_mean is None or baseline.artifacts == 0:
        row["note"] = "no baseline yet"
    elif stats.delta_e_mean is None:
        row["note"] = "no measured artifacts"
    else:
        worse = (
            (stats.delta_e_mean - baseline.delta_e_mean) / max(baseline.delta_e_mean, 1e-9) * 100
        )
        row["worse_by_pct"] = worse
        if stats.artifacts < rule.min_artifacts:
            row["note"] = (
                f"only {stats.artifacts} artifacts (< {rule.min_artifacts}): not judged yet"
            )
        else:
            row["regressed"] = worse > rule.max_worse_pct
            row["note"] = f"ΔE mean {worse:+.1f} % vs the previous {rule.baseline_weeks} weeks" + (
                f" (limit +{rule.max_worse_pct:g} %)" if row["regressed"] else ""
            )
    return row


def baseline_scope(stats: VersionStats) -> Scope:
    """The weekly baseline a version is compared with: its template's for a prompt version,
    the overall one for a model version."""
    if stats.kind == VersionKind.PROMPT:
        # generations.template_id is NOT NULL, so every prompt version's statistics carry one.
        assert stats.template_id is not None, f"prompt version {stats.version} has no template"
        return (ScopeType.TEMPLATE, stats.template_id)
    return (ScopeType.OVERALL, ALL)


def guardrail_rows(
    week: date,
    versions: Iterable[VersionStats],
    previous: Iterable[Mapping[str, Any]],
    rule: Guardrail,
) -> list[dict]:
    """`baselines.version_guardrail`: each new version judged against the weighted baseline of
    the previous weeks' `baselines.weekly` rows (scope_type, scope, delta_e_mean, artifacts)."""
    history: dict[Scope, list[tuple[float | None, int]]] = defaultdict(list)
    for p in previous:
        history[(p["scope_type"], p["scope"])].append((p["delta_e_mean"], p["artifacts"]))
    return [
        judge(v, weighted_baseline(history[baseline_scope(v)]), rule) | {"week": week}
        for v in versions
    ]


_EVENT_DETAILS = ("kind", "version", "artifacts", "baseline_delta_e_mean", "worse_by_pct", "note")


def regression_events(week: date, at: datetime, rows: Iterable[Mapping[str, Any]]) -> list[dict]:
    """An `ops.events` row for every regressed version, at the start of the week."""
    return [
        event_row(
            week,
            at,
            EventType.GUARDRAIL_REGRESSION,
            EventSource.GUARDRAIL,
            ("guardrail", row["kind"], row["version"]),
            {k: row[k] for k in _EVENT_DETAILS},
            template_id=row["template_id"],
            **{row["kind"]: row["version"]},  # model_version or prompt_version
            delta_e=row["delta_e_mean"],
        )
        for row in rows
        if row["regressed"]
    ]
