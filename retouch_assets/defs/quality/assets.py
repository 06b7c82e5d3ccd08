"""Quality layer: per-artifact metrics against the master and the brief, and CLIP scores."""

import time
from datetime import UTC, datetime

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
from retouch_assets.quality.artifact import (
    QualitySettings,
    artifact_input,
    find_duplicates,
    measure_all,
    quality_rows,
    summary_metadata,
)
from retouch_assets.quality.queries import (
    cached_text_embeddings,
    clip_scores_of_week,
    earlier_hashes,
    generations_to_measure,
    generations_to_score,
)
from retouch_assets.quality.tables import ARTIFACT_QUALITY, CLIP_SCORES, TEXT_EMBEDDINGS
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
    """Measure every artifact attempt of the week (progress in the run log)."""
    week = week_of_context(context)
    settings = QualitySettings.from_config(retouch_config.load())
    with warehouse.connect() as con:
        generations = generations_to_measure(con, week)
        earlier = earlier_hashes(con, week)
        clip_of = {k: scoring.quality_fields(r) for k, r in clip_scores_of_week(con, week).items()}
    started = time.perf_counter()
    measurements = measure_all(
        [artifact_input(g, landing.file) for g in generations],
        settings,
        on_done=progress_logger(context, "measured"),
    )
    elapsed = time.perf_counter() - started
    find_duplicates(measurements, earlier, settings.duplicate_max_hamming)
    template_of = {(g["artifact_id"], g["attempt"]): g["template_id"] for g in generations}
    rows = quality_rows(week, measurements, template_of, clip_of)
    checkpoint(faults.QUALITY_MEASURED)
    with warehouse.connect() as con:
        replace_partition(con, {ARTIFACT_QUALITY: rows}, week=week)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": len(rows), **summary_metadata(measurements, elapsed)}
    )
