"""The quality layer's table: one row of metrics per artifact attempt."""

from retouch_assets.warehouse import (
    BIGINT,
    BOOLEAN,
    DATE,
    DOUBLE,
    JSON,
    TIMESTAMPTZ,
    VARCHAR,
    Table,
    column,
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
    ),
    "One row per artifact attempt: CIEDE2000 mean/p95 to the master, histogram delta, WCAG "
    "contrast of every text layer, perceptual hash and duplicates, processing time. CLIP score "
    "and prompt drift stay NULL until scored.",
)

TABLES = (ARTIFACT_QUALITY,)
