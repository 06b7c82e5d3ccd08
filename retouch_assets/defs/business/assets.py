"""Business layer: outcomes (conversion, page speed, support tickets) next to quality drift, and
what reprocessing costs. Business inputs are optional: without them the steps write empty
weeks and a WARN check says what is missing; the rest of the pipeline runs as before."""

from collections import Counter
from datetime import timedelta

import dagster as dg

from retouch_assets.business import queries
from retouch_assets.business.cost import attempt_costs, months_of_week, weekly_costs
from retouch_assets.business.inputs import KPI_FILE, RUM_FILES, WeekRange, read_business_inputs
from retouch_assets.business.overlay import (
    LCP_GOOD_MS,
    WINDOWS,
    drift_outcome_rows,
    lcp_rows,
    week_totals,
)
from retouch_assets.business.tables import (
    COST_MONTHLY,
    COST_WEEKLY,
    DRIFT_OUTCOMES,
    KPI_DAILY,
    LCP_WEEKLY,
    OVERLAY,
    QUARANTINE,
    REPROCESS_COST,
    RUM_LCP,
)
from retouch_assets.defs.shared import (
    key_of,
    md,
    table_spec,
    week_of_context,
    weekly_check,
    weekly_multi_asset,
    weekly_table_asset,
)
from retouch_assets.gates.tables import GATE_DECISIONS, GATED_OUTPUTS
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.partitions import FIRST_WEEK, week_bounds
from retouch_assets.quality.tables import ARTIFACT_QUALITY
from retouch_assets.resources import (
    BusinessInputsResource,
    RetouchConfigResource,
    WarehouseResource,
)
from retouch_assets.warehouse import fetch_value

GROUP = "business"
# The week-over-week changes read the week before too.
_WITH_PREVIOUS_WEEK = dg.TimeWindowPartitionMapping(start_offset=-1)


@weekly_multi_asset(
    "read_business_inputs",
    [table_spec(KPI_DAILY, GROUP), table_spec(RUM_LCP, GROUP), table_spec(QUARANTINE, GROUP)],
)
def read_business_inputs_step(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    business_inputs: BusinessInputsResource,
    retouch_config: RetouchConfigResource,
):
    """Read kpi_daily.csv and rum_lcp.csv once: the week's accepted rows, and every rejected
    row with its file, line and reason."""
    week = week_of_context(context)
    channels = retouch_config.load().ingest.channels
    inputs = read_business_inputs(
        business_inputs.root, channels, WeekRange(FIRST_WEEK, week_bounds().last)
    ).for_week(week)
    for note in inputs.missing:
        context.log.warning(f"business inputs: {note}; what earlier runs stored is kept")
    for note in inputs.notes:  # ignored columns, a Parquet file shadowed by the CSV
        context.log.warning(f"business inputs: {note}")
    kpi, rum, bad = inputs.kpi.to_dicts(), inputs.rum.to_dicts(), inputs.quarantine.to_dicts()
    # A file that is absent leaves what an earlier run stored from it: a folder that is not
    # mounted for one run must not wipe the weeks it fed.
    slices = []
    if inputs.kpi_read:
        slices += [
            queries.week_slice(KPI_DAILY, week, kpi),
            queries.quarantine_slice(week, [KPI_FILE], bad),
        ]
    if inputs.rum_read:
        slices += [
            queries.week_slice(RUM_LCP, week, rum),
            queries.quarantine_slice(week, RUM_FILES, bad),
        ]
    with warehouse.connect() as con:
        queries.replace_slices(con, slices)
    reasons = Counter((r["source_file"], r["reason_code"]) for r in bad)
    common = {"folder": str(business_inputs.root), "missing": ", ".join(inputs.missing) or "-"}
    yield dg.MaterializeResult(
        asset_key=key_of(KPI_DAILY),
        metadata={"dagster/row_count": len(kpi), **common, "notes": "; ".join(inputs.notes)},
    )
    yield dg.MaterializeResult(
        asset_key=key_of(RUM_LCP), metadata={"dagster/row_count": len(rum), **common}
    )
    yield dg.MaterializeResult(
        asset_key=key_of(QUARANTINE),
        metadata={
            "dagster/row_count": len(bad),
            "without_week": sum(1 for r in bad if r["week"] is None),
            "reasons": md(("file", "reason", "rows"), [(*k, n) for k, n in reasons.most_common()]),
        },
    )


@weekly_check(key_of(KPI_DAILY), "business_inputs_present")
def business_inputs_present(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    business_inputs: BusinessInputsResource,
) -> dg.AssetCheckResult:
    """The week has KPI rows and LCP beacons (a warning: business inputs are optional, and
    without them the overlay carries quality columns only)."""
    week = week_of_context(context)
    with warehouse.connect() as con:
        kpi = fetch_value(
            con, f"SELECT count(*) FROM {KPI_DAILY.name} WHERE week = $w", {"w": week}
        )
        rum = fetch_value(con, f"SELECT count(*) FROM {RUM_LCP.name} WHERE week = $w", {"w": week})
    root = business_inputs.root
    files = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    return dg.AssetCheckResult(
        passed=bool(kpi and rum),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "kpi_rows": kpi,
            "lcp_beacons": rum,
            "folder": str(root),
            "folder_exists": root.is_dir(),
            "files": ", ".join(files) or "-",
        },
    )


@weekly_check(key_of(QUARANTINE), "business_rows_accepted")
def business_rows_accepted(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """No business input row of the week (or without a usable date) was quarantined
    (a warning: the overlay is computed from the accepted rows)."""
    with warehouse.connect() as con:
        counts = queries.quarantine_counts(con, week_of_context(context))
    return dg.AssetCheckResult(
        passed=not counts,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined": sum(c["n"] for c in counts),
            "reasons": md(
                ("file", "reason", "rows", "first line"),
                [(c["source_file"], c["reason_code"], c["n"], c["first_line"]) for c in counts],
            ),
        },
    )


@weekly_table_asset(
    OVERLAY,
    GROUP,
    deps=[
        dg.AssetDep(key_of(KPI_DAILY), partition_mapping=_WITH_PREVIOUS_WEEK),
        key_of(RUM_LCP),
        key_of(GENERATIONS),
        key_of(ARTIFACT_QUALITY),
        dg.AssetDep(key_of(GATE_DECISIONS), partition_mapping=_WITH_PREVIOUS_WEEK),
        key_of(GATED_OUTPUTS),
    ],
    kinds=("duckdb",),
)
def business_overlay(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """One row per week, campaign and channel: CTR and CVR as ratios of sums, revenue, support
    tickets and LCP P75 next to colour and WCAG failure rates, ΔE and prompt drift."""
    week = week_of_context(context)
    currency = retouch_config.load().business.currency
    with warehouse.connect() as con:
        rows = queries.overlay_rows(con, week, currency)
        queries.replace_slices(con, [queries.week_slice(OVERLAY, week, rows)])
    worst = min(
        (r for r in rows if r["cvr_wow_change"] is not None),
        key=lambda r: r["cvr_wow_change"],
        default=None,
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "with_outcomes": sum(1 for r in rows if r["clicks"] is not None),
            **{k: dg.MetadataValue.float(v) for k, v in week_totals(rows).items()},
            "worst_cvr_change": (
                f"{worst['campaign_id']}/{worst['channel']} {worst['cvr_wow_change']:+.4f}"
                if worst
                else "-"
            ),
            "preview": md(
                ("campaign", "channel", "CTR", "CVR", "LCP P75", "colour fail", "ΔE"),
                [
                    (
                        r["campaign_id"],
                        r["channel"],
                        _pct(r["ctr"]),
                        _pct(r["cvr"]),
                        _num(r["lcp_p75_ms"]),
                        _pct(r["colour_fail_rate"]),
                        _num(r["delta_e_mean"], 2),
                    )
                    for r in rows
                ],
            ),
        }
    )


@weekly_table_asset(LCP_WEEKLY, GROUP, deps=[key_of(RUM_LCP)])
def lcp_weekly(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """LCP P75 per week, channel and template, with the share of good page views and the Core
    Web Vitals rating: where page speed is lost."""
    week = week_of_context(context)
    with warehouse.connect() as con:
        rows = lcp_rows(queries.lcp_by_template(con, week, LCP_GOOD_MS))
        queries.replace_slices(con, [queries.week_slice(LCP_WEEKLY, week, rows)])
    slowest = max(rows, key=lambda r: r["lcp_p75_ms"], default=None)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "slowest": (
                f"{slowest['template_id']} on {slowest['channel']}: "
                f"{slowest['lcp_p75_ms']:.0f} ms ({slowest['rating']})"
                if slowest
                else "-"
            ),
        }
    )


@weekly_table_asset(
    DRIFT_OUTCOMES,
    GROUP,
    deps=[
        dg.AssetDep(
            key_of(OVERLAY),
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=1 - max(WINDOWS)),
        )
    ],
)
def drift_outcomes(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Spearman rank correlation of drift (colour fail rate, ΔE, prompt drift) with outcomes
    (CVR, CTR, LCP P75, tickets per 1,000 clicks) across campaigns: a pointer, not a cause."""
    week = week_of_context(context)
    with warehouse.connect() as con:
        by_window = {
            w: queries.overlay_window(con, week - timedelta(weeks=w - 1), week) for w in WINDOWS
        }
        rows = drift_outcome_rows(week, by_window)
        queries.replace_slices(con, [queries.week_slice(DRIFT_OUTCOMES, week, rows)])
    scored = [r for r in rows if r["spearman_rho"] is not None]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "coefficients": md(
                ("weeks", "drift", "outcome", "n", "rho"),
                [
                    (
                        r["window_weeks"],
                        r["drift_metric"],
                        r["outcome_metric"],
                        r["n"],
                        f"{r['spearman_rho']:+.2f}",
                    )
                    for r in scored
                ],
            ),
        }
    )


@weekly_multi_asset(
    "reprocess_cost_meter",
    [
        table_spec(REPROCESS_COST, GROUP, [key_of(GENERATIONS)]),
        table_spec(COST_WEEKLY, GROUP, [key_of(GENERATIONS)]),
        table_spec(COST_MONTHLY, GROUP, [key_of(GENERATIONS)]),
    ],
)
def reprocess_cost_meter(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
):
    """Reprocess cost = retries × time × staff cost rate: every attempt > 1, its processing
    plus human review time, at its template's hourly rate; per week and rolled up per month."""
    week = week_of_context(context)
    cost = retouch_config.load().cost
    with warehouse.connect() as con:
        attempts = attempt_costs(queries.reprocess_attempts(con, week), cost)
        weekly = weekly_costs(attempts)
        monthly = queries.write_costs(con, week, attempts, weekly, months_of_week(week))
    total = sum(r["cost"] for r in weekly)
    yield dg.MaterializeResult(
        asset_key=key_of(REPROCESS_COST), metadata={"dagster/row_count": len(attempts)}
    )
    yield dg.MaterializeResult(
        asset_key=key_of(COST_WEEKLY),
        metadata={
            "dagster/row_count": len(weekly),
            "cost": f"{total:.2f} {cost.currency}",
            "by_template": md(
                ("campaign", "template", "retries", "cost"),
                [
                    (r["campaign_id"], r["template_id"], r["retries"], f"{r['cost']:.2f}")
                    for r in weekly
                ],
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=key_of(COST_MONTHLY),
        metadata={
            "dagster/row_count": len(monthly),
            "months": ", ".join(
                f"{m:%Y-%m} {sum(r['cost'] for r in monthly if r['month'] == m):.2f}"
                for m in months_of_week(week)
            ),
        },
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _num(value: float | None, places: int = 0) -> str:
    return "-" if value is None else f"{value:.{places}f}"
