"""Incidents: a page alert opens RETINC-<n>; later pages on the same SLO and scope attach to it;
it resolves once no page has fired for a cool-down. Root cause is classified from the failing
artifacts (gate, template, model version, prompt version); the timeline is exported as
Markdown with a postmortem due 48 hours after opening."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

COOL_DOWN = timedelta(hours=24)
POSTMORTEM_DUE = timedelta(hours=48)
SLO_GATE = {
    "colour-fidelity": "colour_fidelity",
    "accessibility": "accessibility",
    "delivery": "delivery",
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


def classify_root_cause(
    slo: str, failures: pd.DataFrame, new_versions: set[str]
) -> tuple[str, str]:
    """(category, description) from the artifacts failing during the incident: a new model
    or prompt version that most failures share, else a dominant template, else mixed."""
    if failures.empty:
        return "unknown", "no failing artifacts found in the incident window"
    gate = SLO_GATE.get(slo, slo)
    top = {}
    for column in ("model_version", "prompt_version", "template_id"):
        value, count = Counter(failures[column]).most_common(1)[0]
        top[column] = (value, count / len(failures))
    described = (
        f"{gate} failures ({len(failures)} artifacts): model {top['model_version'][0]} "
        f"{top['model_version'][1]:.0%}, prompt {top['prompt_version'][0]} "
        f"{top['prompt_version'][1]:.0%}, template {top['template_id'][0]} "
        f"{top['template_id'][1]:.0%}"
    )
    for column, category in (
        ("model_version", "model_version"),
        ("prompt_version", "prompt_version"),
    ):
        value, share = top[column]
        if share >= 0.6 and value in new_versions:
            return category, f"new {column.replace('_', ' ')} {value}: " + described
    if top["template_id"][1] >= 0.6:
        return "template", f"template {top['template_id'][0]}: " + described
    return "mixed", described


def timeline_markdown(incident: dict, events: list[dict]) -> str:
    """incident_timeline.md: what happened when, and the postmortem template."""
    lines = [
        f"# {incident['incident_id']}: {incident['slo']} burning its budget ({incident['scope']})",
        "",
        f"- severity: {incident['severity']}",
        f"- status: {incident['status']}",
        f"- opened: {incident['opened_at']:%Y-%m-%d %H:%M} UTC",
        f"- resolved: {incident['resolved_at']:%Y-%m-%d %H:%M} UTC"
        if incident["resolved_at"]
        else "- resolved: not yet",
        f"- root cause ({incident['root_cause_category']}): {incident['root_cause']}",
        f"- postmortem due: {incident['postmortem_due']:%Y-%m-%d %H:%M} UTC",
        "",
        "## Timeline (event time, UTC)",
        "",
        "| when | what | details |",
        "|---|---|---|",
    ]
    for e in sorted(events, key=lambda e: (e["at"], e["kind"])):
        lines.append(f"| {e['at']:%Y-%m-%d %H:%M} | {e['kind']} | {e['details']} |")
    lines += [
        "",
        "## Postmortem (due 48 hours after opening)",
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
