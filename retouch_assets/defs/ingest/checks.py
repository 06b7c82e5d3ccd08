"""Blocking batch-level expectations on each week of generations (great-expectations)."""

import dagster as dg

from retouch_assets.defs.shared import key_of, week_of_context, weekly_check
from retouch_assets.ingest.expectations import validate_generations
from retouch_assets.ingest.queries import generations_frame
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.resources import RetouchConfigResource, WarehouseResource


@weekly_check(key_of(GENERATIONS), "generations_expectations", blocking=True)
def generations_expectations(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.AssetCheckResult:
    """Schema, key uniqueness, channel value set and parameter ranges hold for the week."""
    week = week_of_context(context)
    config = retouch_config.load()
    with warehouse.connect() as con:
        frame = generations_frame(con, week)
    if frame.empty:
        return dg.AssetCheckResult(
            passed=True, metadata={"rows": 0, "note": "no generations this week"}
        )
    outcome = validate_generations(frame, GENERATIONS.column_names, config.ingest)
    stats = outcome.statistics
    context.log.info(
        f"week {week}: {stats.get('successful_expectations')}/"
        f"{stats.get('evaluated_expectations')} expectations passed on {len(frame)} rows"
    )
    return dg.AssetCheckResult(
        passed=outcome.success,
        metadata={
            "rows": len(frame),
            "evaluated_expectations": stats.get("evaluated_expectations"),
            "successful_expectations": stats.get("successful_expectations"),
            "unsuccessful_expectations": stats.get("unsuccessful_expectations"),
            "success_percent": float(stats.get("success_percent") or 0.0),
            "failures": dg.MetadataValue.json(outcome.failures),
        },
    )
