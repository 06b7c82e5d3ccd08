"""Baselines layer: weekly baselines and the regression guardrail for new versions."""

import dagster as dg

from retouch_assets.baselines import queries
from retouch_assets.baselines.guardrail import guardrail_rows, regression_events
from retouch_assets.baselines.tables import VERSION_GUARDRAIL, WEEKLY
from retouch_assets.baselines.weekly import weekly_rows
from retouch_assets.defs.shared import key_of, md, week_of_context, weekly_check, weekly_table_asset
from retouch_assets.gates.tables import GATE_RESULTS
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.ops.tables import EVENTS, INCIDENTS
from retouch_assets.partitions import week_window
from retouch_assets.quality.tables import ARTIFACT_QUALITY
from retouch_assets.resources import RetouchConfigResource, WarehouseResource
from retouch_assets.vocabulary import EventSource, ScopeType
from retouch_assets.warehouse import replace_partition

_MEASURED = [key_of(GENERATIONS), key_of(ARTIFACT_QUALITY)]
# The incidents of the 30 days before the week's end were opened in this week or the four
# before it; the same week's incidents come first in a run that materializes both.
_RECENT_INCIDENTS = dg.AssetDep(
    key_of(INCIDENTS), partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-4)
)
# Regressions are judged against the baselines of up to four previous weeks.
_PREVIOUS_BASELINES = dg.AssetDep(
    key_of(WEEKLY), partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-4, end_offset=-1)
)


@weekly_table_asset(
    WEEKLY,
    "baselines",
    deps=[*_MEASURED, key_of(GATE_RESULTS), _RECENT_INCIDENTS],
    kinds=("duckdb",),
)
def weekly_baselines(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Per week, overall and per template and channel: ΔE mean and p95, WCAG failure rate,
    reprocess time mean and max, gate failure counts, incidents of the last 30 days by root
    cause."""
    week = week_of_context(context)
    _, end = week_window(week)
    with warehouse.connect() as con:
        rows = weekly_rows(
            week,
            queries.week_stats(con, week),
            queries.gate_failures(con, week),
            queries.incidents_before(con, end),
        )
        replace_partition(con, {WEEKLY: rows}, week=week)
    overall = next((r for r in rows if r["scope_type"] == ScopeType.OVERALL), {})
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            **{
                k: overall.get(k)
                for k in ("delta_e_mean", "delta_e_p95", "wcag_failure_rate", "incidents_30d")
            },
        }
    )


@weekly_table_asset(VERSION_GUARDRAIL, "baselines", deps=[_PREVIOUS_BASELINES, *_MEASURED])
def version_guardrail(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """Judge every model and prompt version first seen this week against the previous weeks'
    baseline; regressions go to `ops.events`."""
    week = week_of_context(context)
    rule = retouch_config.load().guardrail
    start, _ = week_window(week)
    with warehouse.connect() as con:
        versions = queries.new_versions(con, week, start)
        previous = queries.previous_baselines(con, week, rule.baseline_weeks)
    rows = guardrail_rows(week, versions, previous, rule)
    events = regression_events(week, start, rows)
    with warehouse.connect() as con:
        replace_partition(
            con, {VERSION_GUARDRAIL: rows, EVENTS: events}, week=week, source=EventSource.GUARDRAIL
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "regressions": len(events),
            "new_versions": md(
                ("kind", "version", "artifacts", "ΔE mean", "baseline", "note"),
                [
                    (
                        r["kind"],
                        r["version"],
                        r["artifacts"],
                        _fmt(r["delta_e_mean"]),
                        _fmt(r["baseline_delta_e_mean"]),
                        r["note"],
                    )
                    for r in rows
                ],
            ),
        }
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@weekly_check(key_of(VERSION_GUARDRAIL), "no_version_regression")
def no_version_regression(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """No model or prompt version new this week is worse than the baseline by more than
    the configured margin (a warning: it does not block publication)."""
    with warehouse.connect() as con:
        regressed = queries.regressions(con, week_of_context(context))
    return dg.AssetCheckResult(
        passed=not regressed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "regressions": len(regressed),
            "versions": md(
                ("kind", "version", "artifacts", "note"),
                [(r["kind"], r["version"], r["artifacts"], r["note"]) for r in regressed],
            ),
        },
    )
