"""The quality layer's table: one row of metrics per artifact attempt."""

from retouch_assets.warehouse import (
    BIGINT,
    BOOLEAN,
    DATE,
    DOUBLE,
    FLOAT,
    JSON,
    TIMESTAMPTZ,
    VARCHAR,
    Table,
    column,
    list_of,
)

ARTIFACT_QUALITY = Table(
    "retouch.artifact_quality",
    (
        column("artifact_id", VARCHAR, required=True),
        column("attempt", BIGINT, required=True),
        column("week", DATE, required=True),
        column("campaign_id", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("generated_at", TIMESTAMPTZ, required=True),
        column("delta_e_mean", DOUBLE),
        column("delta_e_p95", DOUBLE),
        column("hist_delta", DOUBLE),
        column("min_contrast_ratio", DOUBLE),
        column("wcag_aa_pass", BOOLEAN),
        column("clip_score", DOUBLE),
        column("prompt_drift", DOUBLE),
        column("phash", VARCHAR),
        column("duplicate_of", VARCHAR),
        column("processing_ms", BIGINT, required=True),
        column("width", BIGINT),
        column("height", BIGINT),
        column("image_profile", VARCHAR),
        column("master_profile", VARCHAR),
        column("measure_error", VARCHAR),
        column("layer_contrast", JSON),
        column("prompt_drift_status", VARCHAR),
        column("clip_model_hash", VARCHAR),
        column("clip_untrained", BOOLEAN),
        column("sharpness", DOUBLE),
        column("master_sharpness", DOUBLE),
        column("sharpness_ratio", DOUBLE),
    ),
    "One row per artifact attempt: CIEDE2000 mean/p95 to the master, histogram delta, "
    "sharpness (gradient energy of luma) of the artifact and its master and their ratio, WCAG "
    "contrast of every text layer, perceptual hash and duplicates, processing time, and the "
    "CLIP prompt-image score and prompt drift (NULL when no CLIP model is configured; "
    "`prompt_drift_status` says whether the drift gate judged it, and `clip_untrained` marks "
    "scores from a model without trained weights).",
)

CLIP_SCORES = Table(
    "retouch.clip_scores",
    (
        column("artifact_id", VARCHAR, required=True),
        column("attempt", BIGINT, required=True),
        column("week", DATE, required=True),
        column("campaign_id", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("prompt_version", VARCHAR, required=True),
        column("prompt_hash", VARCHAR, required=True),
        column("model_name", VARCHAR),
        column("model_hash", VARCHAR),
        column("untrained", BOOLEAN),
        column("provider", VARCHAR),
        column("precision", VARCHAR),
        column("clip_score", DOUBLE),
        column("clip_score_100", DOUBLE),
        column("prompt_truncated", BOOLEAN),
        column("approved_prompt_version", VARCHAR),
        column("prompt_drift", DOUBLE),
        column("prompt_drift_status", VARCHAR, required=True),
        column("prompt_diff", VARCHAR),
        column("rank_in_group", BIGINT),
        column("group_size", BIGINT),
        column("error", VARCHAR),
    ),
    "CLIP scores per artifact attempt: `clip_score` = cosine of the normalised image and prompt "
    "embeddings (raw, −1..1), `clip_score_100` = 100·max(cos, 0) (torchmetrics' CLIPScore), "
    "prompt drift = 1 − cosine to the template's approved prompt with a word-level diff, and "
    "the rank by clip_score among the variants of its campaign × template × week "
    "(pre-selection). Every row names the model (hash) and whether it was trained.",
)

TEXT_EMBEDDINGS = Table(
    "retouch.text_embeddings",
    (
        column("model_hash", VARCHAR, required=True),
        column("text_precision", VARCHAR, required=True),
        column("prompt_hash", VARCHAR, required=True),
        column("embedding", list_of(FLOAT), required=True),
        column("truncated", BOOLEAN, required=True),
        column("created_at", TIMESTAMPTZ, required=True),
    ),
    "Cache of CLIP text embeddings by (model_hash, text tower precision, prompt_hash): an "
    "unchanged prompt is never encoded twice, across runs.",
)

TABLES = (ARTIFACT_QUALITY, CLIP_SCORES, TEXT_EMBEDDINGS)
