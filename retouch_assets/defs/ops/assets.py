"""Ops layer: the alert outbox, RETINC incidents with timelines, the weekly reliability report,
and the delivery job (separate from computing, so a failed delivery never repeats it)."""

import json
import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx
import pandas as pd
import pyarrow as pa

from retouch_assets.config import format_duration
from retouch_assets.defs.shared import (
    ALERT_OUTBOX,
    BURN_ALERTS,
    ERROR_BUDGET,
    GATE_DECISIONS,
    INCIDENT_EVENTS,
    INCIDENTS,
    RELIABILITY_REPORT,
    REVIEW_QUEUE,
    VERSION_GUARDRAIL,
    WAREHOUSE_POOL,
    fetch_dicts,
    layer_spec,
    markdown_table,
    week_window,
    weekly_asset,
)
from retouch_assets.ops.delivery import deliver_pending, store_outbox
from retouch_assets.ops.incidents import (
    POSTMORTEM_DUE,
    classify_root_cause,
    group_incidents,
    timeline_markdown,
)
from retouch_assets.ops.outbox import outbox_rows
from retouch_assets.ops.report import reliability_markdown
from retouch_assets.partitions import week_from_key, weekly_partitions
from retouch_assets.resources import ReportsResource, RetouchConfigResource, WarehouseResource
from retouch_assets.warehouse import OUTBOX_SCHEMA

_ALL_HISTORY = dg.TimeWindowPartitionMapping(start_offset=-12)
# The week's alert episodes with their scope's budget consumed at the end of the week.
_ALERTS_WITH_BUDGET_SQL = """
SELECT a.*, b.budget_consumed
FROM slo.burn_alerts a
LEFT JOIN slo.error_budget b USING (week, slo, scope)
WHERE a.week = $week
ORDER BY a.fired_at, a.slo, a.scope, a.severity, a.long_window
"""


@dg.asset(key=ALERT_OUTBOX, deps=[BURN_ALERTS, ERROR_BUDGET], **weekly_asset("ops"))
def alert_outbox(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """One row per alert state change (trigger, resolve) and policy-state change of the week,
    per route, with a stable dedup key and the rendered payload; rows already there keep their
    delivery state. With no route configured the rows stay here, visible (`no_route`)."""
    week = week_from_key(context.partition_key)
    config = retouch_config.load()
    with warehouse.connect() as con:
        alerts = fetch_dicts(con, _ALERTS_WITH_BUDGET_SQL, {"week": week})
        policy = fetch_dicts(
            con,
            "SELECT event_time, details FROM ops.events WHERE week = $week AND source = 'slo' "
            "AND event_type = 'policy_state_changed' ORDER BY event_time, event_id",
            {"week": week},
        )
        rows = outbox_rows(week, alerts, policy, config.alerting.routes)
        added = store_outbox(con, pa.Table.from_pylist(rows, schema=OUTBOX_SCHEMA))
        statuses = dict(
            con.execute(
                "SELECT status, count(*) FROM ops.alert_outbox WHERE week = $week GROUP BY 1",
                {"week": week},
            ).fetchall()
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "new_rows": added,
            **{f"status/{k}": v for k, v in statuses.items()},
        }
    )


# Artifacts that failed the incident's gate in its window and scope, for the root cause.
_FAILURES_SQL = """
SELECT g.model_version, g.prompt_version, g.template_id
FROM retouch.gate_decisions d JOIN retouch.generations g USING (artifact_id, attempt)
WHERE g.generated_at >= $start AND g.generated_at < $end
  AND list_contains(d.failed_gates, $gate)
  AND ($scope_dim IS NULL
       OR (CASE $scope_dim WHEN 'campaign_id' THEN g.campaign_id
                           WHEN 'template_id' THEN g.template_id
                           ELSE g.channel END) = $scope_value)
"""
_NEW_VERSIONS_SQL = """
SELECT version FROM (
    SELECT model_version AS version, min(generated_at) AS first_seen
    FROM retouch.generations GROUP BY 1
    UNION ALL
    SELECT prompt_version, min(generated_at) FROM retouch.generations GROUP BY 1
) WHERE first_seen >= $since
"""
_REPORT_SQL = {
    "budgets": """
        SELECT slo, scope, good, total, sli, objective, budget_consumed, policy_state, low_traffic
        FROM slo.error_budget WHERE week = $week ORDER BY slo, scope""",
    "alerts": """
        SELECT severity, low_traffic, count(*) AS n FROM slo.burn_alerts
        WHERE week = $week GROUP BY ALL ORDER BY ALL""",
    "incidents": """
        SELECT incident_id, slo, scope, status, opened_at, root_cause, postmortem_due,
               timeline_path
        FROM ops.incidents
        WHERE opened_at < $end AND (resolved_at IS NULL OR resolved_at >= $end - INTERVAL 7 DAY)
        ORDER BY number""",
    "review": """
        SELECT template_id, priority, array_to_string(reasons, '; ') AS reasons
        FROM retouch.review_queue WHERE week = $week ORDER BY priority, template_id""",
    "outbox": """
        SELECT status, count(*) AS n FROM ops.alert_outbox WHERE week = $week
        GROUP BY 1 ORDER BY 1""",
    "held": """
        SELECT count(*) AS n FROM retouch.gated_outputs
        WHERE week = $week AND status = 'held_by_freeze'""",
    "regressions": """
        SELECT kind, version, note FROM baselines.version_guardrail
        WHERE week = $week AND regressed""",
}


def _page_text(alert: dict) -> str:
    return (
        f"{alert['long_window']}/{alert['short_window']} page, burn {alert['peak_burn_long']:.1f}x"
    )


@dg.multi_asset(
    name="track_incidents",
    specs=[
        layer_spec(
            INCIDENTS,
            "ops",
            "RETINC-<n> incidents opened by page alerts: SLO, scope, severity, "
            "status, opened/resolved, root cause, postmortem due; ids stable across re-runs.",
            [dg.AssetDep(BURN_ALERTS, partition_mapping=_ALL_HISTORY), GATE_DECISIONS],
        ),
        layer_spec(
            INCIDENT_EVENTS,
            "ops",
            "Each incident's timeline: opened, alerts attached, resolved, "
            "postmortem due. Exported as incident_timeline.md under the reports folder.",
            [dg.AssetDep(BURN_ALERTS, partition_mapping=_ALL_HISTORY)],
        ),
    ],
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
)
def track_incidents(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    reports: ReportsResource,
    retouch_config: RetouchConfigResource,
):
    """Open, attach and resolve incidents from every page alert up to the end of the week."""
    week = week_from_key(context.partition_key)
    _, end = week_window(week)
    with warehouse.connect() as con:
        pages = fetch_dicts(
            con,
            "SELECT * FROM slo.burn_alerts WHERE severity = 'page' AND NOT low_traffic "
            "AND fired_at < $end",
            {"end": end},
        )
        drafts = group_incidents(pages, as_of=end)
        page_windows = [
            w.long for w in retouch_config.load().alerting.windows if w.severity == "page"
        ]
        fastest = format_duration(min(page_windows)) if page_windows else None
        known = {
            key: number
            for key, number in con.execute(
                "SELECT incident_key, number FROM ops.incidents"
            ).fetchall()
        }
        next_number = max(known.values(), default=0) + 1
        incidents, events = [], []
        for draft in drafts:
            if draft.key not in known:
                known[draft.key] = next_number
                next_number += 1
            number = known[draft.key]
            incident_id = f"RETINC-{number}"
            dimension, _, value = draft.scope.partition("=")
            window_end = draft.resolved_at or end
            failures = con.execute(
                _FAILURES_SQL,
                {
                    "start": draft.opened_at - timedelta(hours=6),
                    "end": window_end,
                    "gate": {"colour-fidelity": "colour_fidelity"}.get(draft.slo, draft.slo),
                    "scope_dim": dimension if value else None,
                    "scope_value": value or None,
                },
            ).df()
            new_versions = {
                v
                for (v,) in con.execute(
                    _NEW_VERSIONS_SQL, {"since": draft.opened_at - timedelta(days=14)}
                ).fetchall()
            }
            category, cause = classify_root_cause(draft.slo, failures, new_versions)
            incident = {
                "incident_id": incident_id,
                "number": number,
                "incident_key": draft.key,
                "slo": draft.slo,
                "scope": draft.scope,
                # A page from the fastest window (1 h by default) is a fast burn: SEV1.
                "severity": "SEV1"
                if any(a["long_window"] == fastest for a in draft.alerts)
                else "SEV2",
                "status": "resolved" if draft.resolved_at else "open",
                "opened_at": draft.opened_at,
                "resolved_at": draft.resolved_at,
                "alerts": len(draft.alerts),
                "root_cause": cause,
                "root_cause_category": category,
                "postmortem_due": draft.opened_at + POSTMORTEM_DUE,
            }
            timeline = [
                {
                    "incident_id": incident_id,
                    "at": draft.opened_at,
                    "kind": "opened",
                    "details": _page_text(draft.alerts[0]),
                }
            ]
            for alert in draft.alerts[1:]:
                timeline.append(
                    {
                        "incident_id": incident_id,
                        "at": alert["fired_at"],
                        "kind": "alert_attached",
                        "details": _page_text(alert),
                    }
                )
            for alert in draft.alerts:
                if alert["resolved_at"] is not None:
                    timeline.append(
                        {
                            "incident_id": incident_id,
                            "at": alert["resolved_at"],
                            "kind": "alert_resolved",
                            "details": f"{alert['long_window']} burn under {alert['factor']:g}x",
                        }
                    )
            timeline.append(
                {
                    "incident_id": incident_id,
                    "at": incident["postmortem_due"],
                    "kind": "postmortem_due",
                    "details": "postmortem template in incident_timeline.md",
                }
            )
            if draft.resolved_at:
                timeline.append(
                    {
                        "incident_id": incident_id,
                        "at": draft.resolved_at,
                        "kind": "resolved",
                        "details": "no page for the 24 h cool-down",
                    }
                )
            path = reports.root / "incidents" / incident_id / "incident_timeline.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(timeline_markdown(incident, timeline))
            incident["timeline_path"] = str(path)
            incidents.append(incident)
            events += [e | {"details": json.dumps({"text": e["details"]})} for e in timeline]
        keys = [i["incident_key"] for i in incidents]
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "DELETE FROM ops.incident_events WHERE incident_id IN "
                "(SELECT incident_id FROM ops.incidents WHERE list_contains($keys, incident_key))",
                {"keys": keys},
            )
            con.execute(
                "DELETE FROM ops.incidents WHERE list_contains($keys, incident_key)", {"keys": keys}
            )
            if incidents:
                con.register("incoming", pd.DataFrame(incidents))
                con.execute("INSERT INTO ops.incidents BY NAME SELECT * FROM incoming")
                con.unregister("incoming")
                con.register("incoming", pd.DataFrame(events))
                con.execute(
                    "INSERT INTO ops.incident_events BY NAME "
                    'SELECT incident_id, "at" AS event_at, kind, details::JSON AS details '
                    "FROM incoming"
                )
                con.unregister("incoming")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    open_now = [i["incident_id"] for i in incidents if i["status"] == "open"]
    yield dg.MaterializeResult(
        asset_key=INCIDENTS,
        metadata={
            "dagster/row_count": len(incidents),
            "open": open_now,
            "incidents": dg.MetadataValue.md(
                markdown_table(
                    ("id", "slo", "scope", "status", "root cause"),
                    [
                        (
                            i["incident_id"],
                            i["slo"],
                            i["scope"],
                            i["status"],
                            i["root_cause_category"],
                        )
                        for i in incidents
                    ],
                )
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=INCIDENT_EVENTS, metadata={"dagster/row_count": len(events)}
    )


@dg.asset(
    key=RELIABILITY_REPORT,
    deps=[ERROR_BUDGET, BURN_ALERTS, INCIDENTS, REVIEW_QUEUE, ALERT_OUTBOX, VERSION_GUARDRAIL],
    **weekly_asset("ops"),
)
def reliability_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, reports: ReportsResource
) -> dg.MaterializeResult:
    """The weekly reliability sync's Markdown summary: SLO status and budgets, freezes, alerts,
    open incidents, the review queue and undelivered alerts, under reports/<week>/."""
    week = week_from_key(context.partition_key)
    _, end = week_window(week)
    params = {"week": week, "end": end}
    with warehouse.connect() as con:
        facts = {
            name: fetch_dicts(con, sql, {k: v for k, v in params.items() if f"${k}" in sql})
            for name, sql in _REPORT_SQL.items()
        }
    facts["held"] = facts["held"][0]["n"]
    text = reliability_markdown(week, end, facts)
    path = reports.root / week.isoformat() / "reliability_sync.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    context.log.info(f"reliability sync report for {week} written to {path}")
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(path)), "report": dg.MetadataValue.md(text)}
    )


@dg.op(required_resource_keys={"warehouse", "retouch_config"})
def deliver_alerts(context: dg.OpExecutionContext) -> dict:
    """Deliver every undelivered outbox row to its route (PagerDuty, Slack, Jira)."""
    config = context.resources.retouch_config.load()
    with context.resources.warehouse.connect() as con, httpx.Client(timeout=10.0) as client:
        counts = deliver_pending(con, config.alerting.routes, os.environ, client, datetime.now(UTC))
    context.log.info(f"alert delivery: {counts or 'nothing to deliver'}")
    return counts


@dg.job(description="Deliver the alert outbox; separate from the weekly computation.")
def deliver_alerts_job():
    deliver_alerts()
