"""The alert outbox: every alert state change (trigger, resolve) and every policy-state change
becomes a row with a stable dedup key, its route and the rendered payload. Computing alerts
and delivering them are separate: a failed delivery never repeats the computation."""

import hashlib
import json
from datetime import datetime

from retouch_assets.config import AlertRoute

NO_ROUTE = "no_route"  # nothing configured for this severity: kept, visible, never dropped
PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"  # the service refused it (4xx): final, with the response recorded
RETRYING = "retrying"  # 5xx or unreachable after every retry: tried again next delivery
NO_ENDPOINT = "no_endpoint"  # a route is configured but its environment variable is unset


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


def render_payload(route_kind: str, action: str, fact: dict, asset_url: str) -> dict:
    """The body each service expects (secrets are added at delivery, never stored)."""
    summary = fact["summary"]
    if route_kind == "pagerduty":
        return {
            "event_action": action,
            "dedup_key": fact["dedup_key"],
            "payload": {
                "summary": summary,
                "source": "retouch_assets",
                "severity": "critical" if fact["severity"] == "page" else "warning",
                "custom_details": fact["details"],
            },
            "links": [{"href": asset_url, "text": "error budget in Dagster"}],
        }
    if route_kind == "slack":
        state = "RESOLVED" if action == "resolve" else fact["severity"].upper()
        d = fact["details"]
        lines = [f"*[{state}] {summary}*"]
        if "burn_long" in d:
            lines.append(
                f"SLO `{d['slo']}` · scope `{d['scope']}` · burn {d['burn_long']:.1f}× over "
                f"{d['long_window']} and {d['burn_short']:.1f}× over {d['short_window']} "
                f"(factor {d['factor']:g}) · budget consumed {d.get('budget_consumed', 0):.0%}"
            )
        elif "to" in d:
            lines.append(
                f"SLO `{d['slo']}` · scope `{d['scope']}` · {d['from']} → {d['to']} · "
                f"budget consumed {d['budget_consumed']:.0%}"
            )
        lines.append(f"<{asset_url}|Open in Dagster>")
        return {"text": "\n".join(lines)}
    if route_kind == "jira":
        return {
            "fields": {
                "project": {"key": "RETINC"},
                "issuetype": {"name": "Incident" if fact["severity"] == "page" else "Task"},
                "summary": summary[:250],
                "description": json.dumps(fact["details"], indent=2, default=str),
                "labels": ["retouch-slo", fact["details"].get("slo", "policy")],
            }
        }
    raise ValueError(f"unknown route kind {route_kind}")


def _rows(week, created_at, kind, action, fact, routes, asset_url) -> list[dict]:
    chosen = routes or []
    targets = [(r.name, r.kind) for r in chosen] or [("outbox", "none")]
    rows = []
    for name, route_kind in targets:
        payload = (
            render_payload(route_kind, action, fact, asset_url)
            if route_kind != "none"
            else {"summary": fact["summary"], "action": action, "details": fact["details"]}
        )
        rows.append(
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
                "payload": json.dumps(payload, default=str),
                "status": PENDING if route_kind != "none" else NO_ROUTE,
                "attempts": 0,
            }
        )
    return rows


def outbox_rows(
    week,
    alerts: list[dict],
    policy_events: list[dict],
    routes: list[AlertRoute],
    asset_url: str = "http://localhost:3000/assets/slo/error_budget",
) -> list[dict]:
    """Rows for the week's alert episodes (trigger, and resolve once resolved) and policy-state
    changes. Low-traffic episodes are flagged in the SLO tables, never paged: none here."""
    rows = []
    for a in alerts:
        if a["low_traffic"]:
            continue
        key = alert_dedup_key(a["slo"], a["scope"], a["severity"], a["long_window"], a["fired_at"])
        details = {
            k: a[k] for k in ("slo", "scope", "severity", "long_window", "short_window", "factor")
        }
        details |= {
            "burn_long": a["peak_burn_long"],
            "burn_short": a["peak_burn_short"],
            "fired_at": a["fired_at"].isoformat(),
            "budget_consumed": a.get("budget_consumed") or 0.0,
        }
        fact = {
            "dedup_key": key,
            "severity": a["severity"],
            "details": details,
            "summary": f"{a['slo']} burning {a['peak_burn_long']:.1f}x its budget "
            f"({a['scope']}, {a['long_window']}/{a['short_window']})",
        }
        targets = _routes_for(a["severity"], routes)
        rows += _rows(week, a["fired_at"], "burn_alert", "trigger", fact, targets, asset_url)
        if a["resolved_at"] is not None:
            # Jira tickets are closed by people: only services with a resolve verb get one.
            resolvable = [r for r in targets if r.kind != "jira"]
            if resolvable or not targets:
                rows += _rows(
                    week, a["resolved_at"], "burn_alert", "resolve", fact, resolvable, asset_url
                )
    for e in policy_events:
        d = json.loads(e["details"])
        if d.get("low_traffic"):
            continue
        change = f"{d['from']}->{d['to']}"
        key = f"retouch/policy/{d['slo']}/{d['scope']}/{change}/{e['event_time']:%Y%m%d}"
        fact = {
            "dedup_key": key,
            "severity": "ticket",
            "details": d,
            "summary": f"{d['slo']} ({d['scope']}): budget policy {d['from']} -> {d['to']}",
        }
        rows += _rows(
            week,
            e["event_time"],
            "policy",
            "trigger",
            fact,
            _routes_for("ticket", routes, ("slack", "jira")),
            asset_url,
        )
    return rows
