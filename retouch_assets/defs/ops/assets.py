"""Ops layer: the alert outbox, RETINC incidents with timelines, and the delivery job (separate
from computing, so a failed delivery never repeats it). The reports are in `reports.py`."""

from datetime import UTC, datetime

import dagster as dg
import httpx

from retouch_assets import faults
from retouch_assets.defs.shared import (
    key_of,
    md,
    table_spec,
    week_of_context,
    weekly_multi_asset,
    weekly_table_asset,
)
from retouch_assets.faults import checkpoint
from retouch_assets.gates.tables import GATE_DECISIONS, TEMPLATE_LOCKS
from retouch_assets.ingest.queries import first_seen
from retouch_assets.ops import queries
from retouch_assets.ops.delivery import deliver_pending
from retouch_assets.ops.incidents import (
    build_incidents,
    failure_window,
    fastest_page_window,
    group_incidents,
    timeline_documents,
    timeline_file,
)
from retouch_assets.ops.outbox import outbox_rows
from retouch_assets.ops.rollback import rollback_plans
from retouch_assets.ops.tables import ALERT_OUTBOX, INCIDENT_EVENTS, INCIDENTS
from retouch_assets.partitions import week_window
from retouch_assets.resources import (
    AlertEndpointsResource,
    LandingResource,
    ReportsResource,
    RetouchConfigResource,
    WarehouseResource,
)
from retouch_assets.safe_paths import write_text_atomic
from retouch_assets.slo.tables import BURN_ALERTS, ERROR_BUDGET
from retouch_assets.vocabulary import IncidentStatus

# Incidents span weeks: each week's run regroups every page alert up to its end.
_ALL_HISTORY = dg.TimeWindowPartitionMapping(start_offset=-12)
_PAGES_SO_FAR = dg.AssetDep(key_of(BURN_ALERTS), partition_mapping=_ALL_HISTORY)


@weekly_table_asset(ALERT_OUTBOX, "ops", deps=[key_of(BURN_ALERTS), key_of(ERROR_BUDGET)])
def alert_outbox(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """Add the week's alert and policy changes to the outbox; rows already there keep their
    delivery state. With no route configured the rows stay here, visible (`no_route`)."""
    week = week_of_context(context)
    routes = retouch_config.load().alerting.routes
    with warehouse.connect() as con:
        alerts = queries.alerts_with_budget(con, week)
        policy = queries.policy_changes(con, week)
        rows = outbox_rows(week, alerts, policy, routes)
        added = queries.store_outbox(con, rows)
        statuses = queries.outbox_status_counts(con, week)
    checkpoint(faults.OUTBOX_WRITTEN)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "new_rows": added,
            **{f"status/{k}": v for k, v in statuses.items()},
        }
    )


@weekly_multi_asset(
    "track_incidents",
    [
        table_spec(
            INCIDENTS, "ops", deps=[_PAGES_SO_FAR, key_of(GATE_DECISIONS), key_of(TEMPLATE_LOCKS)]
        ),
        table_spec(INCIDENT_EVENTS, "ops", deps=[_PAGES_SO_FAR]),
    ],
)
def track_incidents(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    reports: ReportsResource,
    landing: LandingResource,
    retouch_config: RetouchConfigResource,
):
    """Open, attach and resolve incidents from every page alert up to the end of the week;
    write each incident's timeline and, for the newest evaluated week, each incident's and
    template lock's rollback plan."""
    week = week_of_context(context)
    _, end = week_window(week)
    config = retouch_config.load()
    fastest = fastest_page_window(config.alerting.windows)
    with warehouse.connect() as con:
        drafts = group_incidents(queries.page_alerts(con, end), as_of=end)
        failures = {d.key: queries.failing_artifacts(con, failure_window(d, end)) for d in drafts}
        numbers, seen = queries.incident_numbers(con), first_seen(con)
        incidents, events = build_incidents(drafts, numbers, failures, seen, fastest)
        for incident in incidents:
            incident["timeline_path"] = str(reports.root / timeline_file(incident["incident_id"]))
        queries.replace_incidents(con, incidents, events)
        # Plans describe the state as of the newest evaluated week: a backfill of an older
        # week leaves them alone (it would write that week's view of freezes and locks).
        latest = queries.latest_budget_week(con)
        current = latest is None or week >= latest
        plans = (
            rollback_plans(con, end, incidents, failures, config, warehouse.path, str(landing.root))
            if current
            else {}
        )
    checkpoint(faults.INCIDENTS_COMMITTED)
    # Each file is replaced whole (atomic); a re-run writes the same text again.
    for relative, text in (timeline_documents(incidents, events) | plans).items():
        write_text_atomic(reports.root, relative, text)
    yield dg.MaterializeResult(
        asset_key=key_of(INCIDENTS),
        metadata={
            "dagster/row_count": len(incidents),
            "open": [i["incident_id"] for i in incidents if i["status"] == IncidentStatus.OPEN],
            "incidents": md(
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
            ),
            "rollback_plans": [str(reports.root / relative) for relative in sorted(plans)],
        },
    )
    yield dg.MaterializeResult(
        asset_key=key_of(INCIDENT_EVENTS), metadata={"dagster/row_count": len(events)}
    )


class DeliveryConfig(dg.Config):
    """Retries per row within one delivery, and the first backoff (doubling each retry)."""

    retries: int = 3
    backoff_s: float = 0.5


@dg.op
def deliver_alerts(
    context: dg.OpExecutionContext,
    config: DeliveryConfig,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
    alert_endpoints: AlertEndpointsResource,
) -> dict:
    """Deliver every undelivered outbox row to its route (PagerDuty, Slack, Jira); the counts
    by outcome are logged, never an endpoint or a secret."""
    routes = retouch_config.load().alerting.routes
    with warehouse.connect() as con, httpx.Client(timeout=10.0) as client:
        env = alert_endpoints.environment()
        now = datetime.now(UTC)
        counts = deliver_pending(con, routes, env, client, now, config.retries, config.backoff_s)
    context.log.info(f"alert delivery: {counts or 'nothing to deliver'}")
    return counts


@dg.job(description="Deliver the alert outbox; separate from the weekly computation.")
def deliver_alerts_job():
    deliver_alerts()
