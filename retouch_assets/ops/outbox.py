"""The alert outbox: every alert state change (trigger, resolve) and every policy-state change
becomes a row with a stable dedup key, its route and the rendered payload. Computing alerts
and delivering them are separate: a failed delivery never repeats the computation. Payloads
never hold a secret: routing keys and tokens are added when a row is sent."""

import hashlib
import json
from datetime import date, datetime
from functools import partial

from retouch_assets.config import AlertRoute
from retouch_assets.ops.markup import (
    PAGERDUTY_DEDUP_KEY_MAX,
    PAGERDUTY_SUMMARY_MAX,
    jira_link_target,
    jira_text,
    plain,
    slack_code,
    slack_text,
    truncated,
)
from retouch_assets.vocabulary import (
    AlertSeverity,
    OutboxAction,
    OutboxKind,
    OutboxStatus,
    RouteKind,
)

DEFAULT_ASSET_URL = "http://localhost:3000/assets/slo/error_budget"
# The route name of rows for which no route is configured: they stay here, visible.
NO_ROUTE_NAME = "outbox"
JIRA_SUMMARY_MAX = 255


def alert_dedup_key(
    slo: str, scope: str, severity: str, long_window: str, fired_at: datetime
) -> str:
    """One key per alert episode: its trigger and resolve share it (PagerDuty dedup_key)."""
    return f"retouch/{slo}/{scope}/{severity}/{long_window}/{fired_at:%Y%m%dT%H%M}"


def _outbox_id(dedup_key: str, action: str, route: str) -> str:
    return hashlib.sha256(f"{dedup_key}|{action}|{route}".encode()).hexdigest()[:24]


def _routes_for(
    severity: str, routes: list[AlertRoute], kinds: tuple[str, ...] | None = None
) -> list[AlertRoute]:
    return [r for r in routes if severity in r.severities and (kinds is None or r.kind in kinds)]


def pagerduty_dedup_key(dedup_key: str) -> str:
    """The dedup key within PagerDuty's 255 characters: as is when it fits, else its start and
    a hash of all of it (stable, so a trigger and its resolve still share it)."""
    if len(dedup_key) <= PAGERDUTY_DEDUP_KEY_MAX:
        return dedup_key
    digest = hashlib.sha256(dedup_key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{dedup_key[: PAGERDUTY_DEDUP_KEY_MAX - len(digest) - 1]}~{digest}"


def render_payload(route_kind: str, action: str, fact: dict, asset_url: str) -> dict:
    """The body each service expects (secrets are added at delivery, never stored). Text from
    the input (scopes hold campaign, template and channel ids) is escaped for each service's
    markup: see `ops.markup`."""
    summary = plain(fact["summary"])
    page = fact["severity"] == AlertSeverity.PAGE
    if route_kind == RouteKind.PAGERDUTY:
        # Plain JSON, never rendered as markup; only PagerDuty's length limits apply.
        return {
            "event_action": action,
            "dedup_key": pagerduty_dedup_key(fact["dedup_key"]),
            "payload": {
                "summary": truncated(summary, PAGERDUTY_SUMMARY_MAX),
                "source": "retouch_assets",
                "severity": "critical" if page else "warning",
                "custom_details": fact["details"],
            },
            "links": [{"href": asset_url, "text": "error budget in Dagster"}],
        }
    if route_kind == RouteKind.SLACK:
        return {"text": _slack_text(action, fact, asset_url)}
    if route_kind == RouteKind.JIRA:
        return {
            "fields": {
                "project": {"key": "RETINC"},
                "issuetype": {"name": "Incident" if page else "Task"},
                # The summary is plain text in Jira (never wiki-rendered); 255 at most.
                "summary": truncated(summary, JIRA_SUMMARY_MAX),
                "description": _jira_description(action, fact, asset_url),
                "labels": ["retouch-slo", fact["details"].get("slo", "policy")],
            }
        }
    if route_kind == RouteKind.NONE:
        return {"summary": summary, "action": action, "details": fact["details"]}
    raise ValueError(f"unknown route kind {route_kind}")


def _jira_description(action: str, fact: dict, asset_url: str) -> str:
    """Wiki markup (Jira's v2 REST API): one line per detail, every value escaped."""
    state = "RESOLVED" if action == OutboxAction.RESOLVE else fact["severity"].upper()
    lines = [f"*{state}*: {jira_text(fact['summary'])}", ""]
    lines += [f"* {jira_text(k)}: {jira_text(v)}" for k, v in fact["details"].items()]
    lines += ["", f"[Open in Dagster|{jira_link_target(asset_url)}]"]
    return "\n".join(lines)


def _slack_text(action: str, fact: dict, asset_url: str) -> str:
    """mrkdwn with every input value escaped: SLO and scope as code spans, the summary as text."""
    state = "RESOLVED" if action == OutboxAction.RESOLVE else fact["severity"].upper()
    d = fact["details"]
    lines = [f"*[{state}]* {slack_text(fact['summary'])}"]
    if "burn_long" in d:
        lines.append(
            f"SLO {slack_code(d['slo'])} · scope {slack_code(d['scope'])} · burn "
            f"{d['burn_long']:.1f}× over {slack_text(d['long_window'])} and "
            f"{d['burn_short']:.1f}× over {slack_text(d['short_window'])} "
            f"(factor {d['factor']:g}) · budget consumed {d.get('budget_consumed', 0):.0%}"
        )
    elif "to" in d:
        lines.append(
            f"SLO {slack_code(d['slo'])} · scope {slack_code(d['scope'])} · "
            f"{slack_text(d['from'])} → {slack_text(d['to'])} · "
            f"budget consumed {d['budget_consumed']:.0%}"
        )
    lines.append(f"<{slack_text(asset_url).replace('|', '%7C')}|Open in Dagster>")
    return "\n".join(lines)


def _rows(
    week: date,
    asset_url: str,
    created_at: datetime,
    kind: OutboxKind,
    action: OutboxAction,
    fact: dict,
    routes: list[AlertRoute],
) -> list[dict]:
    """One row per route; with no route, one `no_route` row that keeps the alert visible."""
    targets = [(r.name, RouteKind(r.kind)) for r in routes] or [(NO_ROUTE_NAME, RouteKind.NONE)]
    return [
        {
            "outbox_id": _outbox_id(fact["dedup_key"], action, name),
            "week": week,
            "created_at": created_at,
            "kind": kind,
            "action": action,
            "dedup_key": fact["dedup_key"],
            "route": name,
            "route_kind": route_kind,
            "severity": fact["severity"],
            "slo": fact["details"].get("slo"),
            "scope": fact["details"].get("scope"),
            "summary": fact["summary"],
            "payload": json.dumps(render_payload(route_kind, action, fact, asset_url), default=str),
            "status": OutboxStatus.NO_ROUTE
            if route_kind == RouteKind.NONE
            else OutboxStatus.PENDING,
            "attempts": 0,
        }
        for name, route_kind in targets
    ]


def _alert_fact(a: dict) -> dict:
    details = {
        k: a[k] for k in ("slo", "scope", "severity", "long_window", "short_window", "factor")
    }
    details |= {
        "burn_long": a["peak_burn_long"],
        "burn_short": a["peak_burn_short"],
        "fired_at": a["fired_at"].isoformat(),
        "budget_consumed": a.get("budget_consumed") or 0.0,
    }
    return {
        "dedup_key": alert_dedup_key(
            a["slo"], a["scope"], a["severity"], a["long_window"], a["fired_at"]
        ),
        "severity": a["severity"],
        "details": details,
        "summary": f"{a['slo']} burning {a['peak_burn_long']:.1f}x its budget "
        f"({a['scope']}, {a['long_window']}/{a['short_window']})",
    }


def _policy_fact(event: dict, d: dict) -> dict:
    change = f"{d['from']}->{d['to']}"
    return {
        "dedup_key": f"retouch/policy/{d['slo']}/{d['scope']}/{change}/"
        f"{event['event_time']:%Y%m%d}",
        "severity": AlertSeverity.TICKET,
        "details": d,
        "summary": f"{d['slo']} ({d['scope']}): budget policy {d['from']} -> {d['to']}",
    }


def outbox_rows(
    week: date,
    alerts: list[dict],
    policy_events: list[dict],
    routes: list[AlertRoute],
    asset_url: str = DEFAULT_ASSET_URL,
) -> list[dict]:
    """Rows for the week's alert episodes (trigger, and resolve once resolved) and policy-state
    changes. Low-traffic episodes are flagged in the SLO tables, never paged: none here."""
    emit = partial(_rows, week, asset_url)
    rows = []
    for a in alerts:
        if a["low_traffic"]:
            continue
        fact = _alert_fact(a)
        targets = _routes_for(a["severity"], routes)
        rows += emit(a["fired_at"], OutboxKind.BURN_ALERT, OutboxAction.TRIGGER, fact, targets)
        if a["resolved_at"] is not None:
            # Jira tickets are closed by people: only services with a resolve verb get one.
            resolvable = [r for r in targets if r.kind != RouteKind.JIRA]
            if resolvable or not targets:
                rows += emit(
                    a["resolved_at"], OutboxKind.BURN_ALERT, OutboxAction.RESOLVE, fact, resolvable
                )
    # Policy changes are tickets for people: chat and the tracker, never the pager.
    ticket_routes = _routes_for(AlertSeverity.TICKET, routes, (RouteKind.SLACK, RouteKind.JIRA))
    for e in policy_events:
        d = json.loads(e["details"])
        if not d.get("low_traffic"):
            fact = _policy_fact(e, d)
            rows += emit(
                e["event_time"], OutboxKind.POLICY, OutboxAction.TRIGGER, fact, ticket_routes
            )
    return rows
