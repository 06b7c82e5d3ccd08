"""Named queries and statements over the ops layer's tables (and what it reads upstream).

Every value the SQL compares against (statuses, severities, event types) is a parameter from
the vocabulary; statement text is constant.
"""

from datetime import date, datetime
from typing import Any

import duckdb
import polars as pl

from retouch_assets.ops.incidents import FailureWindow
from retouch_assets.ops.tables import ALERT_OUTBOX, INCIDENT_EVENTS, INCIDENTS
from retouch_assets.vocabulary import (
    OVERALL,
    UNDELIVERED,
    AlertSeverity,
    Dimension,
    EventSource,
    EventType,
    OutboxStatus,
    SignoffKind,
    Status,
)
from retouch_assets.warehouse import fetch_dicts, fetch_value, insert

# ---- the alert outbox -------------------------------------------------------------------


def alerts_with_budget(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    """The week's alert episodes with their scope's budget consumed at the end of the week."""
    return fetch_dicts(
        con,
        """
        SELECT a.*, b.budget_consumed
        FROM slo.burn_alerts a
        LEFT JOIN slo.error_budget b USING (week, slo, scope)
        WHERE a.week = $week
        ORDER BY a.fired_at, a.slo, a.scope, a.severity, a.long_window
        """,
        {"week": week},
    )


def policy_changes(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    """The week's budget-policy state changes, as the SLO step logged them."""
    return fetch_dicts(
        con,
        "SELECT event_time, details FROM ops.events "
        "WHERE week = $week AND source = $source AND event_type = $changed "
        "ORDER BY event_time, event_id",
        {"week": week, "source": EventSource.SLO, "changed": EventType.POLICY_STATE_CHANGED},
    )


def store_outbox(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> int:
    """Add new outbox rows and return how many were new; rows already there (same id) keep
    their delivery state."""
    count = "SELECT count(*) FROM ops.alert_outbox"
    before = fetch_value(con, count)
    insert(con, ALERT_OUTBOX, rows, skip_existing="outbox_id")
    return fetch_value(con, count) - before


def outbox_status_counts(
    con: duckdb.DuckDBPyConnection, week: date | None = None
) -> dict[str, int]:
    """Outbox rows per delivery status, of one week or of every week."""
    rows = fetch_dicts(
        con,
        "SELECT status, count(*) AS n FROM ops.alert_outbox "
        "WHERE $week IS NULL OR week = $week GROUP BY 1 ORDER BY 1",
        {"week": week},
    )
    return {r["status"]: r["n"] for r in rows}


def latest_outbox_rows(con: duckdb.DuckDBPyConnection, limit: int) -> list[dict]:
    return fetch_dicts(
        con,
        "SELECT created_at, action, route, status, summary, last_error FROM ops.alert_outbox "
        "ORDER BY created_at DESC, action LIMIT $n",
        {"n": limit},
    )


def undelivered(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Outbox rows still to send, oldest first (a trigger before its resolve)."""
    return fetch_dicts(
        con,
        "SELECT outbox_id, route, payload FROM ops.alert_outbox "
        "WHERE list_contains($undelivered, status) "
        "ORDER BY created_at, action DESC, outbox_id",
        {"undelivered": list(UNDELIVERED)},
    )


def record_delivery(
    con: duckdb.DuckDBPyConnection,
    outbox_id: str,
    *,
    status: OutboxStatus,
    attempts: int,
    status_code: int | None,
    error: str | None,
    now: datetime,
) -> None:
    """A delivery attempt's outcome on its outbox row (`error` already redacted)."""
    con.execute(
        "UPDATE ops.alert_outbox SET status = $status, attempts = attempts + $attempts, "
        "last_status_code = $code, last_error = $error, "
        "delivered_at = CASE WHEN $status = $delivered THEN $now ELSE delivered_at END "
        "WHERE outbox_id = $id",
        {
            "status": status,
            "attempts": attempts,
            "code": status_code,
            "error": error,
            "delivered": OutboxStatus.DELIVERED,
            "now": now,
            "id": outbox_id,
        },
    )


# ---- incidents --------------------------------------------------------------------------


def page_alerts(con: duckdb.DuckDBPyConnection, end: datetime) -> list[dict]:
    """Every page episode (low-traffic ones are never paged) that fired before `end`."""
    return fetch_dicts(
        con,
        "SELECT * FROM slo.burn_alerts "
        "WHERE severity = $page AND NOT low_traffic AND fired_at < $end",
        {"page": AlertSeverity.PAGE, "end": end},
    )


def incident_numbers(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Incident key -> number of every incident recorded so far."""
    rows = fetch_dicts(con, "SELECT incident_key, number FROM ops.incidents")
    return {r["incident_key"]: r["number"] for r in rows}


# An applied (not retired) exclusion window of the SLO leaves the event out, as the SLO step
# does (`slo.engine.excluded_mask`): start <= generated_at < end, in its scope.
_FAILING_ARTIFACTS = """
SELECT g.model_version, g.prompt_version, g.template_id
FROM retouch.gate_decisions d JOIN retouch.generations g USING (artifact_id, attempt)
WHERE g.generated_at >= $start AND g.generated_at < $end
  AND list_contains(d.failed_gates, $gate)
  AND ($dimension IS NULL
       OR (CASE $dimension WHEN $campaign THEN g.campaign_id
                           WHEN $template THEN g.template_id
                           ELSE g.channel END) = $value)
  AND NOT EXISTS (
      SELECT 1 FROM slo.exclusion_windows x
      WHERE x.retired_at IS NULL AND (x.slo IS NULL OR x.slo = $slo)
        AND g.generated_at >= x.starts_at AND g.generated_at < x.ends_at
        AND (x.scope = $overall
             OR x.scope = $campaign || '=' || g.campaign_id
             OR x.scope = $template || '=' || g.template_id
             OR x.scope = $channel || '=' || g.channel))
ORDER BY g.generated_at, g.artifact_id, g.attempt
"""


def failing_artifacts(con: duckdb.DuckDBPyConnection, window: FailureWindow) -> list[dict]:
    """Artifacts generated in the window and scope that failed the window's gate, less those
    an exclusion window of its SLO leaves out."""
    return fetch_dicts(
        con,
        _FAILING_ARTIFACTS,
        {
            "slo": window.slo,
            "overall": OVERALL,
            "channel": Dimension.CHANNEL,
            "start": window.start,
            "end": window.end,
            "gate": window.gate,
            "dimension": window.dimension,
            "value": window.value,
            "campaign": Dimension.CAMPAIGN,
            "template": Dimension.TEMPLATE,
        },
    )


def replace_incidents(
    con: duckdb.DuckDBPyConnection, incidents: list[dict], events: list[dict]
) -> None:
    """Replace the recomputed incidents (by key) and their timelines, in one transaction."""
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
        insert(con, INCIDENTS, incidents)
        insert(con, INCIDENT_EVENTS, events)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


# ---- the weekly reliability report ------------------------------------------------------

_BUDGETS = """
SELECT slo, scope, good, total, sli, objective, budget_consumed, policy_state, low_traffic,
    excluded, burn_rates
FROM slo.error_budget WHERE week = $week ORDER BY slo, scope
"""
_LATEST_BUDGET_WEEK = "SELECT max(week) FROM slo.error_budget"
_ALERT_COUNTS = """
SELECT severity, low_traffic, count(*) AS n FROM slo.burn_alerts
WHERE week = $week GROUP BY ALL ORDER BY ALL
"""
# Incidents open at some point of the week ending at $end.
_INCIDENTS_OF_WEEK = """
SELECT incident_id, slo, scope, status, opened_at, root_cause, postmortem_due, timeline_path
FROM ops.incidents
WHERE opened_at < $end AND (resolved_at IS NULL OR resolved_at >= $end - INTERVAL 7 DAY)
ORDER BY number
"""
_HELD = """
SELECT count(*) FROM retouch.gated_outputs WHERE week = $week AND status = $held
"""
_REGRESSIONS = """
SELECT kind, version, note FROM baselines.version_guardrail WHERE week = $week AND regressed
"""


def report_facts(con: duckdb.DuckDBPyConnection, week: date, end: datetime) -> dict[str, Any]:
    """What the weekly report states from the SLO and ops tables (`WeeklyFacts.ops`, read by
    `reports.weekly`): budgets, alert counts, incidents, the outbox, held artifacts,
    regressions and template locks as of `end`."""
    of_week = {"week": week}
    return {
        "budgets": week_budgets(con, week),
        "alerts": fetch_dicts(con, _ALERT_COUNTS, of_week),
        "incidents": fetch_dicts(con, _INCIDENTS_OF_WEEK, {"end": end}),
        "outbox": outbox_status_counts(con, week),
        "held": fetch_value(con, _HELD, of_week | {"held": Status.HELD_BY_FREEZE}),
        "regressions": fetch_dicts(con, _REGRESSIONS, of_week),
        "locks": template_locks(con, end),
        "held_by_lock": fetch_value(con, _HELD, of_week | {"held": Status.HELD_BY_TEMPLATE_LOCK}),
    }


# ---- template locks and versions, for the report and the rollback plans ------------------

# Template locks begun before $end, each with when it was released as of $end: the earliest
# `effective_from` of an unlock sign-off of its template effective at or after the lock began
# (as `gates.locks.active_locks` releases it), counting only sign-offs signed and effective
# before $end; a later sign-off leaves it locked at $end.
_LOCKS = """
SELECT l.template_id, l.locked_at, l.cause_artifact_id, l.prompt_version, l.prompt_drift,
       l.threshold, l.fallback_prompt_version,
       (SELECT min(s.effective_from) FROM ops.signoffs s
         WHERE s.kind = $unlock AND s.scope = l.template_id
           AND s.effective_from >= l.locked_at
           AND s.signed_at < $end AND s.effective_from < $end) AS unlocked_at
FROM retouch.template_locks l WHERE l.locked_at < $end ORDER BY l.locked_at, l.template_id
"""
_VERSIONS = """
SELECT artifact_id, attempt, model_version, prompt_version, retouch_version
FROM retouch.generations WHERE generated_at >= $start AND generated_at < $end
"""


def template_locks(con: duckdb.DuckDBPyConnection, end: datetime) -> list[dict]:
    """Every template lock begun before `end`, with `unlocked_at`: when a sign-off known at
    `end` released it (None: still locked at `end`)."""
    return fetch_dicts(con, _LOCKS, {"end": end, "unlock": SignoffKind.UNLOCK_TEMPLATE})


def versions(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.DataFrame:
    """The versions of every artifact generated in start <= generated_at < end."""
    return con.sql(_VERSIONS, params={"start": start, "end": end}).pl()


def week_budgets(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    """Every SLO and scope's error budget of the week: what the reports and the OpenMetrics
    export state (policy state, excluded events, burn rates per window)."""
    return fetch_dicts(con, _BUDGETS, {"week": week})


def latest_budget_week(con: duckdb.DuckDBPyConnection) -> date | None:
    return fetch_value(con, _LATEST_BUDGET_WEEK)
