"""Named queries the weekly and monthly reports read (everything is already computed by the
layers; these only select). Values reach the SQL as parameters."""

from datetime import date, datetime

import duckdb
import polars as pl

from retouch_assets.vocabulary import MEASURED, OVERALL, Gate
from retouch_assets.warehouse import fetch_dicts

_DATA_WEEKS = "SELECT DISTINCT week FROM retouch.generations WHERE week <= $last ORDER BY week"

_BUDGET_HISTORY = """
SELECT week, slo, sli, objective, budget_consumed, policy_state, low_traffic, good, total,
       window_days
FROM slo.error_budget
WHERE scope = $overall AND week >= $first AND week <= $last
ORDER BY slo, week
"""

# Good and total per SLO and UTC day: the burn-down over an SLO's window.
_DAILY_SLI = """
SELECT slo, day, sum(good)::BIGINT AS good, sum(total)::BIGINT AS total
FROM slo.sli_facts WHERE day >= $first AND day < $end
GROUP BY ALL ORDER BY slo, day
"""

_ALERTS_IN_SPAN = """
SELECT week, slo, scope, severity, long_window, fired_at, resolved_at, low_traffic
FROM slo.burn_alerts
WHERE fired_at < $end AND (resolved_at IS NULL OR resolved_at >= $start)
ORDER BY slo, scope, fired_at
"""

# The week's review queue with what a reviewer needs to open the image.
_REVIEW_QUEUE = """
SELECT r.artifact_id, r.attempt, r.campaign_id, r.template_id, r.priority, r.reasons,
       g.batch_id, g.image, g.prompt, g.prompt_version
FROM retouch.review_queue r JOIN retouch.generations g USING (artifact_id, attempt)
WHERE r.week = $week
ORDER BY r.priority, r.queued_at, r.artifact_id, r.attempt
"""

_RELEASES = """
SELECT signed_at, kind, scope, approver, release_note FROM ops.signoffs
WHERE signed_at < $end ORDER BY signed_at DESC LIMIT 5
"""

_DIMENSIONS = """
SELECT artifact_id, attempt, prompt_version, model_version, reviewer
FROM retouch.generations WHERE generated_at >= $start AND generated_at < $end
"""

_OVERLAY = """
SELECT campaign_id, sum(impressions)::BIGINT AS impressions, sum(clicks)::BIGINT AS clicks,
       sum(conversions)::BIGINT AS conversions, sum(support_tickets)::BIGINT AS tickets,
       sum(clicks) / nullif(sum(impressions), 0) AS ctr,
       sum(conversions) / nullif(sum(clicks), 0) AS cvr,
       max(lcp_p75_ms) AS lcp_p75_ms,
       sum(artifacts)::BIGINT AS artifacts,
       sum(colour_fail_rate * artifacts) / nullif(sum(artifacts), 0) AS colour_fail_rate,
       sum(wcag_fail_rate * artifacts) / nullif(sum(artifacts), 0) AS wcag_fail_rate
FROM business.overlay WHERE week >= $first AND week <= $last
GROUP BY campaign_id ORDER BY campaign_id
"""

_COST_BY_TEMPLATE = """
SELECT month, template_id, any_value(currency) AS currency, sum(retries)::BIGINT AS retries,
       sum(cost)::DOUBLE AS cost
FROM business.cost_monthly WHERE month >= $first AND month <= $last
GROUP BY ALL ORDER BY month, cost DESC, template_id
"""

# The case-study KPIs over a span of weeks (Mondays first..last inclusive).
_KPI = """
WITH gens AS (
    SELECT artifact_id, attempt, processing_ms FROM retouch.generations
    WHERE week >= $first AND week <= $last
),
colour AS (
    SELECT artifact_id, attempt, bool_or(NOT passed) AS failed FROM retouch.gate_results
    WHERE week >= $first AND week <= $last AND gate = $colour AND phase = $measured
    GROUP BY ALL
)
SELECT
    (SELECT count(*) FROM gens) AS artifacts,
    (SELECT avg(failed::INT) FROM colour) AS delta_e_drift_rate,
    (SELECT avg((NOT wcag_aa_pass)::INT) FROM retouch.artifact_quality q
      JOIN gens USING (artifact_id, attempt) WHERE wcag_aa_pass IS NOT NULL)
      AS contrast_failure_rate,
    (SELECT quantile_cont(processing_ms / 1000.0, 0.95) FROM gens WHERE attempt > 1)
      AS reprocess_p95_s,
    (SELECT count(*) FROM ops.incidents
      WHERE opened_at >= $start AND opened_at < $end) AS incidents
"""

_INCIDENTS_IN_SPAN = """
SELECT incident_id, slo, scope, severity, status, opened_at, resolved_at, root_cause,
       root_cause_category, timeline_path
FROM ops.incidents
WHERE opened_at < $end AND (resolved_at IS NULL OR resolved_at >= $start)
ORDER BY number
"""


def data_weeks(con: duckdb.DuckDBPyConnection, last: date) -> list[date]:
    """The weeks with generations up to `last`, oldest first."""
    return [r["week"] for r in fetch_dicts(con, _DATA_WEEKS, {"last": last})]


def budget_history(con: duckdb.DuckDBPyConnection, first: date, last: date) -> list[dict]:
    """Each SLO's overall budget row per week of first..last."""
    return fetch_dicts(con, _BUDGET_HISTORY, {"overall": OVERALL, "first": first, "last": last})


def daily_sli(con: duckdb.DuckDBPyConnection, first: date, end: datetime) -> list[dict]:
    return fetch_dicts(con, _DAILY_SLI, {"first": first, "end": end.date()})


def alerts_in_span(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> list[dict]:
    """Alert episodes firing at some point of [start, end) (with those still firing at
    their week's end: `weekly.alert_episodes` ends them there and joins the next week's)."""
    return fetch_dicts(con, _ALERTS_IN_SPAN, {"start": start, "end": end})


def review_queue(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    return fetch_dicts(con, _REVIEW_QUEUE, {"week": week})


def recent_releases(con: duckdb.DuckDBPyConnection, end: datetime) -> list[dict]:
    """The latest sign-offs (freeze releases, relaxations, template unlocks) before `end`."""
    return fetch_dicts(con, _RELEASES, {"end": end})


def dimensions(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.DataFrame:
    """prompt_version, model_version and reviewer per artifact attempt generated in the span."""
    return con.sql(_DIMENSIONS, params={"start": start, "end": end}).pl()


def overlay_by_campaign(con: duckdb.DuckDBPyConnection, first: date, last: date) -> list[dict]:
    """Business outcomes next to quality per campaign over the weeks first..last."""
    return fetch_dicts(con, _OVERLAY, {"first": first, "last": last})


def cost_by_template(con: duckdb.DuckDBPyConnection, first: date, last: date) -> list[dict]:
    """Monthly reprocess cost per template for the months first..last (first days)."""
    return fetch_dicts(con, _COST_BY_TEMPLATE, {"first": first, "last": last})


def kpis(
    con: duckdb.DuckDBPyConnection, first: date, last: date, start: datetime, end: datetime
) -> dict:
    """The case-study KPIs of the weeks first..last; incidents opened in [start, end)."""
    params = {
        "first": first,
        "last": last,
        "start": start,
        "end": end,
        "colour": Gate.COLOUR_FIDELITY,
        "measured": MEASURED,
    }
    return fetch_dicts(con, _KPI, params)[0]


def incidents_in_span(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> list:
    """Incidents open at some point of [start, end)."""
    return fetch_dicts(con, _INCIDENTS_IN_SPAN, {"start": start, "end": end})
