"""Quality layer: per-artifact metrics against the master and the brief, and CLIP scores."""

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from retouch_assets import faults
from retouch_assets.defs.shared import (
    GPU_POOL,
    key_of,
    progress_logger,
    week_of_context,
    weekly_check,
    weekly_table_asset,
)
from retouch_assets.faults import checkpoint
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.quality import clip_scores as scoring
from retouch_assets.quality.artifact import QualitySettings, duplicates_of
from retouch_assets.quality.queries import (
    cached_text_embeddings,
    clip_scores_of_week,
    earlier_hashes,
    generations_to_measure,
    generations_to_score,
    load_measured_week,
    quality_summary,
)
from retouch_assets.quality.tables import ARTIFACT_QUALITY, CLIP_SCORES, TEXT_EMBEDDINGS
from retouch_assets.quality.week import MeasureOptions, measure_week, work_items
from retouch_assets.resources import (
    ClipModelResource,
    LandingResource,
    RetouchConfigResource,
    WarehouseResource,
)
from retouch_assets.vocabulary import DriftStatus
from retouch_assets.warehouse import insert, replace_partition


@weekly_table_asset(
    CLIP_SCORES,
    "quality",
    deps=[key_of(GENERATIONS)],
    kinds=("onnx", "duckdb", "python"),
    pool=GPU_POOL,
)
def clip_scores(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    retouch_config: RetouchConfigResource,
    clip_model: ClipModelResource,
) -> dg.MaterializeResult:
    """Score every artifact attempt of the week with CLIP on ONNX Runtime (CUDA when usable):
    prompt-image score, prompt drift to the template's approved prompt, rank among variants."""
    week = week_of_context(context)
    config = retouch_config.load()
    model_dir = scoring.resolve_model_dir(config, retouch_config.path, clip_model.model_dir)
    with warehouse.connect() as con:
        generations = generations_to_score(con, week)
    if model_dir is None:
        context.log.warning(scoring.NOT_CONFIGURED_HINT)
        rows = scoring.not_configured_rows(week, generations)
        with warehouse.connect() as con:
            replace_partition(con, {CLIP_SCORES: rows}, week=week)
        return dg.MaterializeResult(
            metadata={"dagster/row_count": len(rows), "clip_model": "not configured"}
        )

    from retouch_assets.clip.runtime import load_clip

    runtime = load_clip(
        model_dir,
        device=config.clip.device,
        batch_size=config.clip.batch_size,
        precision=config.clip.precision,
    )
    info = runtime.info
    model = scoring.ModelFacts(
        info.model_name, info.model_hash, info.untrained, info.provider, info.precision
    )
    context.log.info(
        f"CLIP {info.model_name} ({info.precision}) on {info.provider}: {info.provider_reason}"
    )
    if info.untrained:
        context.log.warning(scoring.UNTRAINED_HINT)
    texts = scoring.prompts_to_embed(generations, config)
    with warehouse.connect() as con:
        cached = cached_text_embeddings(con, info.model_hash, model.text_precision, list(texts))
    embeddings, new_texts = scoring.embed_texts(runtime, texts, cached, model, datetime.now(UTC))
    started = time.perf_counter()
    images, errors = runtime.encode_images(
        [landing.file(g, "image") for g in generations],
        on_progress=progress_logger(context, "CLIP images"),
    )
    elapsed = time.perf_counter() - started
    rows = scoring.score_rows(week, generations, images, errors, embeddings, config, model)
    with warehouse.connect() as con:
        insert(
            con,
            TEXT_EMBEDDINGS,
            new_texts,
            skip_existing=("model_hash", "text_precision", "prompt_hash"),
        )
        replace_partition(con, {CLIP_SCORES: rows}, week=week)
    unapproved = scoring.templates_without_approved_prompt(generations, config)
    if unapproved:
        context.log.warning(
            f"templates without an approved prompt (drift not computed): {', '.join(unapproved)}"
        )
    metadata = scoring.score_metadata(
        info.as_metadata(), rows, errors, len(texts), len(new_texts), unapproved, elapsed
    )
    return dg.MaterializeResult(metadata={"dagster/row_count": len(rows), **metadata})


@weekly_check(key_of(CLIP_SCORES), "clip_model_configured")
def clip_model_configured(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """A trained CLIP model scored the week (WARN otherwise: with no model, or a model without
    trained weights, prompt drift is not judged — never passed silently)."""
    week = week_of_context(context)
    with warehouse.connect() as con:
        rows = list(clip_scores_of_week(con, week).values())
    not_configured = sum(1 for r in rows if r["prompt_drift_status"] == DriftStatus.NOT_CONFIGURED)
    untrained = sum(1 for r in rows if r["untrained"])
    problems = []
    if not_configured:
        problems.append(scoring.NOT_CONFIGURED_HINT)
    if untrained:
        problems.append(scoring.UNTRAINED_HINT)
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={"artifacts": len(rows), "not_configured": not_configured, "untrained": untrained},
    )


@weekly_table_asset(ARTIFACT_QUALITY, "quality", deps=[key_of(GENERATIONS), key_of(CLIP_SCORES)])
def artifact_quality(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """Measure every artifact attempt of the week on worker processes, outside the warehouse
    (progress in the run log); one short transaction loads the results."""
    week = week_of_context(context)
    config = retouch_config.load()
    settings, options = QualitySettings.from_config(config), MeasureOptions.from_config(config)
    with warehouse.connect() as con:
        generations = generations_to_measure(con, week)
        earlier = earlier_hashes(con, week)
        clip_of = {k: scoring.quality_fields(r) for k, r in clip_scores_of_week(con, week).items()}
    work = work_items(generations, landing.file, clip_of)
    context.log.info(
        f"measuring {len(work)} attempts on {options.workers} worker(s), "
        f"{options.chunk_size} per chunk, {len({w.master_key for w in work})} distinct masters"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"retouch-quality-{context.run.run_id[:8]}-") as tmp:
        measured = measure_week(
            week, work, settings, options, Path(tmp), on_done=progress_logger(context, "measured")
        )
        elapsed = time.perf_counter() - started
        duplicates = duplicates_of(measured.hashes, earlier, settings.duplicate_max_hamming)
        checkpoint(faults.QUALITY_MEASURED)
        with warehouse.connect() as con:
            load_measured_week(con, week, measured.files, duplicates)
            summary = quality_summary(con, week)
    rows = summary.pop("artifacts")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            **summary,
            "artifacts_per_second": round(rows / elapsed, 1) if elapsed > 0 else None,
            "workers": options.workers,
            "master_decodes": measured.cache_misses,
            "master_cache_hits": measured.cache_hits,
        }
    )
