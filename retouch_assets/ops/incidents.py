"""Incidents: a page alert opens RETINC-<n>; later pages on the same SLO and scope attach to it;
it resolves once no page has fired for a cool-down. Root cause is classified from the failing
artifacts (gate, template, model version, prompt version); the timeline is exported as
Markdown with a postmortem due 48 hours after opening.

Everything here is pure: the asset reads the page alerts, the known incident numbers, the
failing artifacts of each incident's window and when each version was first seen, and
`build_incidents` turns them into rows.
"""

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from retouch_assets.config import AlertWindow, format_duration
from retouch_assets.ingest.queries import FirstSeen, versions_new_since
from retouch_assets.ops.markup import markdown_text
from retouch_assets.vocabulary import (
    AlertSeverity,
    Gate,
    IncidentEventKind,
    IncidentSeverity,
    IncidentStatus,
    RootCause,
)

if TYPE_CHECKING:
    import polars as pl

# Written next to each incident's timeline (and each template lock's folder) by the ops step.
ROLLBACK_PLAN_FILE = "rollback-plan.md"

COOL_DOWN = timedelta(hours=24)
POSTMORTEM_DUE = timedelta(hours=48)
# Artifacts generated shortly before the first page caused the burn that paged.
FAILURE_LEAD = timedelta(hours=6)
# A version first seen this long before the incident opened counts as new.
NEW_VERSION_LOOKBACK = timedelta(days=14)
# A version or template shared by this share of the failures is the likely cause.
DOMINANT_SHARE = 0.6

# The gate whose failures burn each default SLO's budget (other SLOs are named like a gate).
SLO_GATE = {
    "colour-fidelity": Gate.COLOUR_FIDELITY,
    "accessibility": Gate.ACCESSIBILITY,
    "delivery": Gate.DELIVERY,
}


@dataclass
class IncidentDraft:
    slo: str
    scope: str
    opened_at: datetime
    alerts: list[dict] = field(default_factory=list)
    resolved_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.slo}/{self.scope}/{self.opened_at:%Y%m%dT%H%M}"

    @property
    def last_activity(self) -> datetime:
        ends = [a["resolved_at"] or a["fired_at"] for a in self.alerts]
        return max(ends)

    @property
    def still_firing(self) -> bool:
        return any(a["resolved_at"] is None for a in self.alerts)


@dataclass(frozen=True)
class FailureWindow:
    """Where to look for an incident's failing artifacts: its SLO (whose exclusion windows
    leave events out) and gate, generation-time window and scope (`dimension` None for the
    overall scope)."""

    slo: str
    gate: str
    start: datetime
    end: datetime
    dimension: str | None
    value: str | None


def group_incidents(pages: list[dict], as_of: datetime) -> list[IncidentDraft]:
    """Group non-low-traffic page episodes (in fired_at order) into incidents per SLO and
    scope; an incident resolves COOL_DOWN after its last page resolved, if that is <= as_of."""
    open_by_scope: dict[tuple[str, str], IncidentDraft] = {}
    incidents: list[IncidentDraft] = []
    for page in sorted(
        pages, key=lambda p: (p["fired_at"], p["slo"], p["scope"], p["long_window"])
    ):
        key = (page["slo"], page["scope"])
        current = open_by_scope.get(key)
        if current is None or (
            not current.still_firing and page["fired_at"] >= current.last_activity + COOL_DOWN
        ):
            current = IncidentDraft(page["slo"], page["scope"], page["fired_at"])
            incidents.append(current)
            open_by_scope[key] = current
        current.alerts.append(page)
    for incident in incidents:
        if not incident.still_firing and incident.last_activity + COOL_DOWN <= as_of:
            incident.resolved_at = incident.last_activity + COOL_DOWN
    return incidents


def failure_window(draft: IncidentDraft, as_of: datetime) -> FailureWindow:
    """The failing artifacts that explain an incident: its SLO's gate, from shortly before it
    opened until it resolved (or `as_of`), in its scope (`dimension=value`, or overall)."""
    dimension, _, value = draft.scope.partition("=")
    return FailureWindow(
        slo=draft.slo,
        gate=SLO_GATE.get(draft.slo, draft.slo),
        start=draft.opened_at - FAILURE_LEAD,
        end=draft.resolved_at or as_of,
        dimension=dimension if value else None,
        value=value or None,
    )


def fastest_page_window(windows: Iterable[AlertWindow]) -> str | None:
    """The shortest long window of the page alerts ("1h" by default): a page from it is a
    fast burn, a SEV1."""
    longs = [w.long for w in windows if w.severity == AlertSeverity.PAGE]
    return format_duration(min(longs)) if longs else None


def classify_root_cause(
    slo: str, failures: "Sequence[Mapping[str, Any]] | pl.DataFrame", new_versions: set[str]
) -> tuple[RootCause, str]:
    """(category, description) from the artifacts failing during the incident (a list of dicts
    or a polars frame with model_version, prompt_version, template_id): a new model or prompt
    version that most failures share, else a dominant template, else mixed."""
    rows = list(failures) if isinstance(failures, Sequence) else failures.to_dicts()
    if not rows:
        return RootCause.UNKNOWN, "no failing artifacts found in the incident window"
    top = {}
    for column in ("model_version", "prompt_version", "template_id"):
        value, count = Counter(r[column] for r in rows).most_common(1)[0]
        top[column] = (value, count / len(rows))
    described = (
        f"{SLO_GATE.get(slo, slo)} failures ({len(rows)} artifacts): "
        f"model {top['model_version'][0]} {top['model_version'][1]:.0%}, "
        f"prompt {top['prompt_version'][0]} {top['prompt_version'][1]:.0%}, "
        f"template {top['template_id'][0]} {top['template_id'][1]:.0%}"
    )
    for column, category in (
        ("model_version", RootCause.MODEL_VERSION),
        ("prompt_version", RootCause.PROMPT_VERSION),
    ):
        value, share = top[column]
        if share >= DOMINANT_SHARE and value in new_versions:
            return category, f"new {column.replace('_', ' ')} {value}: " + described
    if top["template_id"][1] >= DOMINANT_SHARE:
        return RootCause.TEMPLATE, f"template {top['template_id'][0]}: " + described
    return RootCause.MIXED, described


def build_incidents(
    drafts: Sequence[IncidentDraft],
    numbers: Mapping[str, int],
    failures: Mapping[str, Sequence[Mapping[str, Any]]],
    seen: FirstSeen,
    fastest_window: str | None,
) -> tuple[list[dict], list[dict]]:
    """`ops.incidents` rows (without `timeline_path`) and `ops.incident_events` rows.

    `drafts` come from `group_incidents`; `numbers` maps the incident keys already in the
    warehouse to their number (kept, so ids are stable across re-runs; new keys continue the
    sequence); `failures` holds each draft's failing artifacts (its `failure_window`) by
    incident key; `seen` says when each model and prompt version was first generated."""
    numbers = dict(numbers)
    next_number = max(numbers.values(), default=0) + 1
    incidents: list[dict] = []
    events: list[dict] = []
    for draft in drafts:
        if draft.key not in numbers:
            numbers[draft.key] = next_number
            next_number += 1
        new_versions = versions_new_since(seen, draft.opened_at - NEW_VERSION_LOOKBACK)
        category, cause = classify_root_cause(draft.slo, failures.get(draft.key, []), new_versions)
        incident = {
            "incident_id": f"RETINC-{numbers[draft.key]}",
            "number": numbers[draft.key],
            "incident_key": draft.key,
            "slo": draft.slo,
            "scope": draft.scope,
            "severity": IncidentSeverity.SEV1
            if any(a["long_window"] == fastest_window for a in draft.alerts)
            else IncidentSeverity.SEV2,
            "status": IncidentStatus.RESOLVED if draft.resolved_at else IncidentStatus.OPEN,
            "opened_at": draft.opened_at,
            "resolved_at": draft.resolved_at,
            "alerts": len(draft.alerts),
            "root_cause": cause,
            "root_cause_category": category,
            "postmortem_due": draft.opened_at + POSTMORTEM_DUE,
        }
        incidents.append(incident)
        events += timeline_rows(incident, draft)
    return incidents, events


def _page_text(alert: dict) -> str:
    return (
        f"{alert['long_window']}/{alert['short_window']} page, burn {alert['peak_burn_long']:.1f}x"
    )


def _hours(span: timedelta) -> int:
    return int(span / timedelta(hours=1))


def timeline_rows(incident: dict, draft: IncidentDraft) -> list[dict]:
    """The incident's `ops.incident_events`: opened, alerts attached and resolved, postmortem
    due and, once over, resolved; `details` holds the event's text as JSON."""
    first, *later = draft.alerts
    entries = [(draft.opened_at, IncidentEventKind.OPENED, _page_text(first))]
    entries += [(a["fired_at"], IncidentEventKind.ALERT_ATTACHED, _page_text(a)) for a in later]
    entries += [
        (
            a["resolved_at"],
            IncidentEventKind.ALERT_RESOLVED,
            f"{a['long_window']} burn under {a['factor']:g}x",
        )
        for a in draft.alerts
        if a["resolved_at"] is not None
    ]
    entries.append(
        (
            incident["postmortem_due"],
            IncidentEventKind.POSTMORTEM_DUE,
            "postmortem template in incident_timeline.md",
        )
    )
    if draft.resolved_at:
        entries.append(
            (
                draft.resolved_at,
                IncidentEventKind.RESOLVED,
                f"no page for the {_hours(COOL_DOWN)} h cool-down",
            )
        )
    return [
        {
            "incident_id": incident["incident_id"],
            "event_at": at,
            "kind": kind,
            "details": json.dumps({"text": text}),
        }
        for at, kind, text in entries
    ]


def timeline_file(incident_id: str) -> str:
    """The timeline's path under the reports folder; `incident_id` is a generated RETINC-<n>."""
    return f"incidents/{incident_id}/incident_timeline.md"


def timeline_documents(incidents: Sequence[dict], events: Sequence[dict]) -> dict[str, str]:
    """Each incident's incident_timeline.md, by its path under the reports folder."""
    by_incident: dict[str, list[dict]] = {}
    for event in events:
        by_incident.setdefault(event["incident_id"], []).append(event)
    return {
        timeline_file(i["incident_id"]): timeline_markdown(i, by_incident.get(i["incident_id"], []))
        for i in incidents
    }


def utc_minute(at: datetime) -> str:
    """`at` in UTC to the minute, as the ops documents write times."""
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M}"


def timeline_markdown(incident: dict, events: Sequence[dict]) -> str:
    """incident_timeline.md: what happened when, a link to the rollback plan, and the
    postmortem template. Every text from the data (scopes hold input ids, root causes name
    input versions) is escaped: it reads as text under any CommonMark or GFM renderer."""
    resolved = incident["resolved_at"]
    text = markdown_text
    lines = [
        f"# {text(incident['incident_id'])}: {text(incident['slo'])} burning its budget "
        f"({text(incident['scope'])})",
        "",
        f"- severity: {incident['severity']}",
        f"- status: {incident['status']}",
        f"- opened: {utc_minute(incident['opened_at'])} UTC",
        f"- resolved: {utc_minute(resolved)} UTC" if resolved else "- resolved: not yet",
        f"- root cause ({incident['root_cause_category']}): {text(incident['root_cause'])}",
        f"- postmortem due: {utc_minute(incident['postmortem_due'])} UTC",
        f"- rollback plan: [{ROLLBACK_PLAN_FILE}]({ROLLBACK_PLAN_FILE}) (the last known-good "
        "versions and the commands that restore them)",
        "",
        "## Timeline (event time, UTC)",
        "",
        "| when | what | details |",
        "|---|---|---|",
    ]
    for e in sorted(events, key=lambda e: (e["event_at"], e["kind"])):
        details = json.loads(e["details"])["text"]
        lines.append(f"| {utc_minute(e['event_at'])} | {e['kind']} | {text(details)} |")
    lines += [
        "",
        f"## Postmortem (due {_hours(POSTMORTEM_DUE)} hours after opening)",
        "",
        "- **Summary** — what users saw, for how long:",
        "- **Impact** — artifacts affected, budget consumed, campaigns and channels:",
        "- **Root cause** — confirm or correct the classification above:",
        "- **Detection** — which alert fired first; was it fast enough:",
        "- **Resolution** — what stopped the burn (rollback, heal preset, template fix):",
        "- **Action items** — owner, due date, tracking ticket:",
        "",
    ]
    return "\n".join(lines)
