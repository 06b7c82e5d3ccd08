"""Quality layer: per-artifact metrics against the master and the brief."""

import json
import time

import dagster as dg
import numpy as np

from retouch_assets.defs.shared import (
    ARTIFACT_QUALITY,
    GENERATIONS,
    fetch_dicts,
    progress_logger,
    weekly_asset,
)
from retouch_assets.partitions import week_from_key
from retouch_assets.quality.artifact import (
    ArtifactInput,
    KnownHash,
    QualitySettings,
    find_duplicates,
    measure_all,
)
from retouch_assets.resources import LandingResource, RetouchConfigResource, WarehouseResource
from retouch_assets.warehouse import arrow_rows, replace_weeks

_GENERATIONS_OF_WEEK = """
SELECT artifact_id, attempt, campaign_id, template_id, generated_at, batch_id, image, master,
       text_layers, processing_ms
FROM retouch.generations WHERE week = $week ORDER BY artifact_id, attempt
"""
# Hashes of earlier weeks in the campaigns of this week: duplicates may reach back.
_EARLIER_HASHES = """
SELECT artifact_id, campaign_id, generated_at, phash FROM retouch.artifact_quality
WHERE week < $week AND phash IS NOT NULL
  AND campaign_id IN (SELECT DISTINCT campaign_id FROM retouch.generations WHERE week = $week)
"""


@dg.asset(
    key=ARTIFACT_QUALITY,
    deps=[GENERATIONS],
    **weekly_asset("quality"),
)
def artifact_quality(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """One row per artifact attempt: CIEDE2000 mean/p95 to the master, histogram delta, WCAG
    contrast of every text layer, perceptual hash and duplicates, processing time. CLIP score
    and prompt drift stay NULL until scored."""
    week = week_from_key(context.partition_key)
    config = retouch_config.load()
    with warehouse.connect() as con:
        generations = fetch_dicts(con, _GENERATIONS_OF_WEEK, {"week": week})
        earlier = [KnownHash(**row) for row in fetch_dicts(con, _EARLIER_HASHES, {"week": week})]
    items = [
        ArtifactInput(
            artifact_id=g["artifact_id"],
            attempt=g["attempt"],
            campaign_id=g["campaign_id"],
            generated_at=g["generated_at"],
            image_path=landing.file(g, "image"),
            master_path=landing.file(g, "master"),
            text_layers=g["text_layers"] or [],
            processing_ms=g["processing_ms"],
        )
        for g in generations
    ]
    settings = QualitySettings.from_config(config)
    started = time.perf_counter()
    measurements = measure_all(items, settings, on_done=progress_logger(context, "measured"))
    elapsed = time.perf_counter() - started
    find_duplicates(measurements, earlier, settings.duplicate_max_hamming)

    template_of = {(g["artifact_id"], g["attempt"]): g["template_id"] for g in generations}
    rows = [
        {
            **{
                k: getattr(m, k)
                for k in (
                    "artifact_id",
                    "attempt",
                    "campaign_id",
                    "generated_at",
                    "delta_e_mean",
                    "delta_e_p95",
                    "hist_delta",
                    "min_contrast_ratio",
                    "wcag_aa_pass",
                    "phash",
                    "duplicate_of",
                    "processing_ms",
                    "width",
                    "height",
                    "image_profile",
                    "master_profile",
                    "measure_error",
                )
            },
            "week": week,
            "template_id": template_of[(m.artifact_id, m.attempt)],
            "layer_contrast": json.dumps([layer.__dict__ for layer in m.layers]),
        }
        for m in measurements
    ]
    with warehouse.connect() as con:
        replace_weeks(
            con, week, {"retouch.artifact_quality": arrow_rows("retouch.artifact_quality", rows)}
        )

    measured = [m for m in measurements if m.delta_e_mean is not None]
    delta_e = np.array([m.delta_e_mean for m in measured]) if measured else np.array([np.nan])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "delta_e_mean_median": float(np.nanmedian(delta_e)),
            "delta_e_mean_max": float(np.nanmax(delta_e)),
            "wcag_failures": sum(1 for m in measurements if m.wcag_aa_pass is False),
            "duplicates": sum(1 for m in measurements if m.duplicate_of),
            "measure_errors": sum(1 for m in measurements if m.measure_error),
            "artifacts_per_second": round(len(items) / elapsed, 1) if elapsed > 0 else None,
        }
    )
