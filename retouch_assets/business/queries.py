"""Named queries of the business layer. Every value (week, currency, gate name, thresholds)
reaches the SQL as a parameter; statements are built only from declared table and column
names."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import duckdb

from retouch_assets.business.tables import (
    COST_MONTHLY,
    COST_WEEKLY,
    OVERLAY,
    QUARANTINE,
    REPROCESS_COST,
)
from retouch_assets.vocabulary import DriftStatus, Gate
from retouch_assets.warehouse import Table, fetch_dicts, insert

# Per week, campaign and channel: outcomes as ratios of sums and LCP P75 over every beacon
# (nearest rank: quantile_disc), next to the quality of the week's artifact attempts; computed
# for the week and the one before, so the week-over-week change needs no earlier run.
_OVERLAY = """
WITH kpi AS (
    SELECT week, campaign_id, channel,
           sum(impressions)::BIGINT AS impressions, sum(clicks)::BIGINT AS clicks,
           sum(conversions)::BIGINT AS conversions, sum(revenue) AS revenue,
           sum(support_tickets)::BIGINT AS support_tickets
    FROM business.kpi_daily WHERE week IN ($week, $previous) GROUP BY ALL
), rum AS (
    SELECT week, campaign_id, channel,
           quantile_disc(lcp_ms, 0.75) AS lcp_p75_ms, count(*) AS lcp_samples
    FROM business.rum_lcp
    WHERE week IN ($week, $previous) AND campaign_id IS NOT NULL GROUP BY ALL
), quality AS (
    SELECT g.week, g.campaign_id, g.channel,
           count(*) AS artifacts,
           count(o.output_path) AS published,
           avg(CASE WHEN list_contains(d.failed_gates, $colour) THEN 1.0 ELSE 0.0 END)
               FILTER (WHERE d.status IS NOT NULL) AS colour_fail_rate,
           avg(CASE WHEN q.wcag_aa_pass THEN 0.0 ELSE 1.0 END)
               FILTER (WHERE q.wcag_aa_pass IS NOT NULL) AS wcag_fail_rate,
           avg(q.delta_e_mean) AS delta_e_mean,
           -- Judged drift only: not that of a model without trained weights.
           avg(q.prompt_drift) FILTER (WHERE q.prompt_drift_status = $scored)
               AS prompt_drift_mean
    FROM retouch.generations g
    LEFT JOIN retouch.artifact_quality q
        ON q.artifact_id = g.artifact_id AND q.attempt = g.attempt
    LEFT JOIN retouch.gate_decisions d
        ON d.artifact_id = g.artifact_id AND d.attempt = g.attempt
    LEFT JOIN retouch.gated_outputs o
        ON o.artifact_id = g.artifact_id AND o.attempt = g.attempt
    WHERE g.week IN ($week, $previous) GROUP BY ALL
), cells AS (
    SELECT k.week, k.campaign_id, k.channel,
           kpi.impressions, kpi.clicks, kpi.conversions, kpi.revenue, kpi.support_tickets,
           kpi.clicks / nullif(kpi.impressions, 0) AS ctr,
           kpi.conversions / nullif(kpi.clicks, 0) AS cvr,
           (kpi.revenue / nullif(kpi.conversions, 0))::DOUBLE AS revenue_per_conversion,
           rum.lcp_p75_ms, coalesce(rum.lcp_samples, 0) AS lcp_samples,
           coalesce(quality.artifacts, 0) AS artifacts,
           coalesce(quality.published, 0) AS published,
           quality.colour_fail_rate, quality.wcag_fail_rate, quality.delta_e_mean,
           quality.prompt_drift_mean
    FROM (
        SELECT week, campaign_id, channel FROM kpi
        UNION SELECT week, campaign_id, channel FROM rum
        UNION SELECT week, campaign_id, channel FROM quality
    ) k
    LEFT JOIN kpi USING (week, campaign_id, channel)
    LEFT JOIN rum USING (week, campaign_id, channel)
    LEFT JOIN quality USING (week, campaign_id, channel)
)
SELECT c.*, $currency AS currency,
       c.cvr - p.cvr AS cvr_wow_change,
       c.colour_fail_rate - p.colour_fail_rate AS colour_fail_rate_wow_change
FROM cells c
LEFT JOIN cells p
    ON p.week = $previous AND p.campaign_id = c.campaign_id AND p.channel = c.channel
WHERE c.week = $week
ORDER BY c.campaign_id, c.channel
"""


def overlay_rows(con: duckdb.DuckDBPyConnection, week: date, currency: str) -> list[dict]:
    """The week's `business.overlay` rows."""
    return fetch_dicts(
        con,
        _OVERLAY,
        {
            "week": week,
            "previous": week - timedelta(weeks=1),
            "colour": Gate.COLOUR_FIDELITY,
            "scored": DriftStatus.SCORED,
            "currency": currency,
        },
    )


_LCP_WEEKLY = """
SELECT week, channel, template_id,
       quantile_disc(lcp_ms, 0.75) AS lcp_p75_ms, count(*) AS lcp_samples,
       avg(CASE WHEN lcp_ms <= $good_ms THEN 1.0 ELSE 0.0 END) AS good_share
FROM business.rum_lcp WHERE week = $week
GROUP BY ALL ORDER BY channel, template_id
"""


def lcp_by_template(con: duckdb.DuckDBPyConnection, week: date, good_ms: float) -> list[dict]:
    """LCP P75 (nearest rank), samples and good share per channel and template of the week."""
    return fetch_dicts(con, _LCP_WEEKLY, {"week": week, "good_ms": good_ms})


def overlay_window(con: duckdb.DuckDBPyConnection, first: date, last: date) -> list[dict]:
    """The overlay rows of the weeks from `first` to `last` (inclusive)."""
    return fetch_dicts(
        con,
        f"SELECT * FROM {OVERLAY.name} WHERE week BETWEEN $first AND $last "
        "ORDER BY week, campaign_id, channel",
        {"first": first, "last": last},
    )


_REPROCESS_ATTEMPTS = """
SELECT week, artifact_id, attempt, campaign_id, template_id, channel, generated_at,
       processing_ms, review_seconds
FROM retouch.generations WHERE week = $week AND attempt > 1
ORDER BY artifact_id, attempt
"""


def reprocess_attempts(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    """The week's reprocessing attempts (attempt > 1) with their times."""
    return fetch_dicts(con, _REPROCESS_ATTEMPTS, {"week": week})


_MONTHLY = """
SELECT month, campaign_id, template_id, currency,
       count(*) AS retries,
       sum(processing_seconds) / 3600 AS processing_hours,
       sum(review_seconds) / 3600 AS review_hours,
       sum(cost) AS cost,
       count(DISTINCT week) AS weeks
FROM business.reprocess_cost WHERE month = $month
GROUP BY ALL ORDER BY campaign_id, template_id, currency
"""


@dataclass(frozen=True)
class Slice:
    """The rows of one table matching `where` (a constant condition on declared columns with
    parameters), to be replaced by `rows`."""

    table: Table
    where: str
    params: Mapping[str, Any]
    rows: Sequence[Mapping[str, Any]]


def replace_slices(con: duckdb.DuckDBPyConnection, slices: Sequence[Slice]) -> None:
    """Delete and re-insert every slice in one transaction (all or nothing)."""
    con.execute("BEGIN TRANSACTION")
    try:
        for s in slices:
            con.execute(f"DELETE FROM {s.table.name} WHERE {s.where}", dict(s.params))
            insert(con, s.table, s.rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def week_slice(table: Table, week: date, rows: Sequence[Mapping[str, Any]]) -> Slice:
    return Slice(table, "week = $week", {"week": week}, rows)


def quarantine_slice(week: date, files: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Slice:
    """The week's quarantined rows and every row without a week (re-read by every run) of
    the given files."""
    return Slice(
        QUARANTINE,
        "(week = $week OR week IS NULL) AND list_contains($files, source_file)",
        {"week": week, "files": list(files)},
        [r for r in rows if r["source_file"] in files],
    )


def write_costs(
    con: duckdb.DuckDBPyConnection,
    week: date,
    attempts: Sequence[Mapping[str, Any]],
    weekly: Sequence[Mapping[str, Any]],
    months: Sequence[date],
) -> list[dict]:
    """Replace the week's per-attempt and weekly cost rows and recompute the monthly roll-up of
    each month the week touches, in one transaction. Returns the monthly rows written."""
    monthly: list[dict] = []
    con.execute("BEGIN TRANSACTION")
    try:
        for s in (
            week_slice(REPROCESS_COST, week, attempts),
            week_slice(COST_WEEKLY, week, weekly),
        ):
            con.execute(f"DELETE FROM {s.table.name} WHERE {s.where}", dict(s.params))
            insert(con, s.table, s.rows)
        for month in months:
            rows = fetch_dicts(con, _MONTHLY, {"month": month})
            con.execute(f"DELETE FROM {COST_MONTHLY.name} WHERE month = $month", {"month": month})
            insert(con, COST_MONTHLY, rows)
            monthly += rows
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return monthly


def quarantine_counts(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    """Quarantined business rows of the week and without a week, by file and reason."""
    return fetch_dicts(
        con,
        f"SELECT source_file, reason_code, count(*) AS n, min(line_no) AS first_line "
        f"FROM {QUARANTINE.name} WHERE week = $week OR week IS NULL "
        "GROUP BY ALL ORDER BY source_file, n DESC, reason_code",
        {"week": week},
    )
