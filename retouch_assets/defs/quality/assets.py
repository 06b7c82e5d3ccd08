"""Quality layer: per-artifact metrics against the master and the brief."""

import time

import dagster as dg

from retouch_assets import faults
from retouch_assets.defs.shared import (
    key_of,
    progress_logger,
    week_of_context,
    weekly_table_asset,
)
from retouch_assets.faults import checkpoint
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.quality.artifact import (
    QualitySettings,
    artifact_input,
    find_duplicates,
    measure_all,
    quality_rows,
    summary_metadata,
)
from retouch_assets.quality.queries import earlier_hashes, generations_to_measure
from retouch_assets.quality.tables import ARTIFACT_QUALITY
from retouch_assets.resources import LandingResource, RetouchConfigResource, WarehouseResource
from retouch_assets.warehouse import replace_partition


@weekly_table_asset(ARTIFACT_QUALITY, "quality", deps=[key_of(GENERATIONS)])
def artifact_quality(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """Measure every artifact attempt of the week (progress in the run log)."""
    week = week_of_context(context)
    settings = QualitySettings.from_config(retouch_config.load())
    with warehouse.connect() as con:
        generations = generations_to_measure(con, week)
        earlier = earlier_hashes(con, week)
    started = time.perf_counter()
    measurements = measure_all(
        [artifact_input(g, landing.file) for g in generations],
        settings,
        on_done=progress_logger(context, "measured"),
    )
    elapsed = time.perf_counter() - started
    find_duplicates(measurements, earlier, settings.duplicate_max_hamming)
    template_of = {(g["artifact_id"], g["attempt"]): g["template_id"] for g in generations}
    rows = quality_rows(week, measurements, template_of)
    checkpoint(faults.QUALITY_MEASURED)
    with warehouse.connect() as con:
        replace_partition(con, {ARTIFACT_QUALITY: rows}, week=week)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": len(rows), **summary_metadata(measurements, elapsed)}
    )
