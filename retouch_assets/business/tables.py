"""The business layer's tables: the accepted business inputs and their quarantine, the weekly
overlay of outcomes on quality drift, its rank-correlation companion, LCP by template, and the
reprocess-cost meter (per attempt, weekly, monthly).

Every table is replaced one partition at a time: by `week` (Monday weeks, UTC), except
`business.cost_monthly` (by `month`, recomputed from `business.reprocess_cost` whenever a week
touching the month is written) and `business.quarantine`, whose rows without a week (an
unparseable or impossible date) have `week` NULL and are replaced by every run.
"""

import pyarrow as pa

from retouch_assets.warehouse import (
    BIGINT,
    DATE,
    DOUBLE,
    TIMESTAMPTZ,
    VARCHAR,
    ColumnType,
    Table,
    column,
)

# Money as an exact decimal: revenue and cost are summed, never approximated.
MONEY = ColumnType("DECIMAL(18,4)", pa.decimal128(18, 4))

_SOURCE = (
    column("source_file", VARCHAR, required=True),
    column("line_no", BIGINT, required=True),
)

KPI_DAILY = Table(
    "business.kpi_daily",
    (
        column("week", DATE, required=True),
        column("date", DATE, required=True),
        column("campaign_id", VARCHAR, required=True),
        column("channel", VARCHAR, required=True),
        column("impressions", BIGINT, required=True),
        column("clicks", BIGINT, required=True),
        column("conversions", BIGINT, required=True),
        column("revenue", MONEY, required=True),
        column("support_tickets", BIGINT, required=True),
        *_SOURCE,
    ),
    "Campaign KPIs per UTC day and channel, as accepted from kpi_daily.csv: impressions, "
    "clicks, conversions, revenue (currency in retouch-slo.yaml `business.currency`) and "
    "support tickets.",
)

RUM_LCP = Table(
    "business.rum_lcp",
    (
        column("week", DATE, required=True),
        column("ts", TIMESTAMPTZ, required=True),
        column("channel", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("campaign_id", VARCHAR),
        column("page", VARCHAR, required=True),
        column("lcp_ms", DOUBLE, required=True),
        *_SOURCE,
    ),
    "Real-user LCP beacons (one per page view, as web-vitals reports them) accepted from "
    "rum_lcp.csv or rum_lcp.parquet; campaign_id is NULL for pages outside a campaign.",
)

QUARANTINE = Table(
    "business.quarantine",
    (
        column("week", DATE),
        column("source_file", VARCHAR, required=True),
        column("line_no", BIGINT, required=True),
        column("reason_code", VARCHAR, required=True),
        column("reason", VARCHAR, required=True),
        column("raw", VARCHAR, required=True),
    ),
    "Business input rows that broke the input contract, with file, line, reason and raw text; "
    "week is NULL for rows without a usable date (replaced by every run).",
)

OVERLAY = Table(
    "business.overlay",
    (
        column("week", DATE, required=True),
        column("campaign_id", VARCHAR, required=True),
        column("channel", VARCHAR, required=True),
        column("impressions", BIGINT),
        column("clicks", BIGINT),
        column("conversions", BIGINT),
        column("revenue", MONEY),
        column("currency", VARCHAR, required=True),
        column("support_tickets", BIGINT),
        column("ctr", DOUBLE),
        column("cvr", DOUBLE),
        column("revenue_per_conversion", DOUBLE),
        column("lcp_p75_ms", DOUBLE),
        column("lcp_samples", BIGINT, required=True),
        column("artifacts", BIGINT, required=True),
        column("published", BIGINT, required=True),
        column("colour_fail_rate", DOUBLE),
        column("wcag_fail_rate", DOUBLE),
        column("delta_e_mean", DOUBLE),
        column("prompt_drift_mean", DOUBLE),
        column("cvr_wow_change", DOUBLE),
        column("colour_fail_rate_wow_change", DOUBLE),
    ),
    "One row per week, campaign and channel: outcomes (CTR and CVR as ratios of sums, revenue, "
    "support tickets, LCP P75 over all beacons) next to the quality of that week's artifacts "
    "(colour and WCAG failure rates, ΔE mean, prompt drift) and week-over-week changes.",
)

LCP_WEEKLY = Table(
    "business.lcp_weekly",
    (
        column("week", DATE, required=True),
        column("channel", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("lcp_p75_ms", DOUBLE, required=True),
        column("lcp_samples", BIGINT, required=True),
        column("good_share", DOUBLE, required=True),
        column("rating", VARCHAR, required=True),
    ),
    "LCP P75 (nearest rank, over all beacons) per week, channel and template, with the share of "
    "good page views (≤ 2.5 s) and the Core Web Vitals rating of the P75.",
)

DRIFT_OUTCOMES = Table(
    "business.drift_outcomes",
    (
        column("week", DATE, required=True),
        column("window_weeks", BIGINT, required=True),
        column("drift_metric", VARCHAR, required=True),
        column("outcome_metric", VARCHAR, required=True),
        column("n", BIGINT, required=True),
        column("spearman_rho", DOUBLE),
        column("caveat", VARCHAR, required=True),
    ),
    "Spearman rank correlation between quality drift (colour fail rate, ΔE mean, prompt drift) "
    "and outcomes (CVR, CTR, LCP P75, support tickets) across the overlay's campaign × channel "
    "rows of the week (window_weeks 1) and of the last four weeks (4): correlation, not cause.",
)

REPROCESS_COST = Table(
    "business.reprocess_cost",
    (
        column("week", DATE, required=True),
        column("month", DATE, required=True),
        column("artifact_id", VARCHAR, required=True),
        column("attempt", BIGINT, required=True),
        column("campaign_id", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("channel", VARCHAR, required=True),
        column("processing_seconds", DOUBLE, required=True),
        column("review_seconds", DOUBLE, required=True),
        column("rate_per_hour", MONEY, required=True),
        column("cost", MONEY, required=True),
        column("currency", VARCHAR, required=True),
    ),
    "Every reprocessing attempt (attempt > 1) with its cost: (processing + human review "
    "seconds) / 3600 × the staff cost rate of its template.",
)

COST_WEEKLY = Table(
    "business.cost_weekly",
    (
        column("week", DATE, required=True),
        column("campaign_id", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("retries", BIGINT, required=True),
        column("processing_hours", DOUBLE, required=True),
        column("review_hours", DOUBLE, required=True),
        column("cost", MONEY, required=True),
        column("currency", VARCHAR, required=True),
    ),
    "Reprocess cost per week, campaign and template: retries × time × staff cost rate.",
)

COST_MONTHLY = Table(
    "business.cost_monthly",
    (
        column("month", DATE, required=True),
        column("campaign_id", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("retries", BIGINT, required=True),
        column("processing_hours", DOUBLE, required=True),
        column("review_hours", DOUBLE, required=True),
        column("cost", MONEY, required=True),
        column("currency", VARCHAR, required=True),
        column("weeks", BIGINT, required=True),
    ),
    "The monthly reprocess-cost meter per campaign and template (month of generated_at, UTC), "
    "rolled up from business.reprocess_cost; `weeks` counts the month's weeks with retries.",
    partition_by=("month",),
)

TABLES = (
    KPI_DAILY,
    RUM_LCP,
    QUARANTINE,
    OVERLAY,
    LCP_WEEKLY,
    DRIFT_OUTCOMES,
    REPROCESS_COST,
    COST_WEEKLY,
    COST_MONTHLY,
)
