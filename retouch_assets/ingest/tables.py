"""The ingest layer's tables: accepted generations and quarantined manifest lines."""

from retouch_assets.warehouse import (
    BIGINT,
    BOOLEAN,
    DATE,
    DOUBLE,
    INTEGER,
    TIMESTAMPTZ,
    VARCHAR,
    Table,
    column,
    list_of,
    struct_of,
)

TEXT_LAYER = struct_of(
    id=VARCHAR,
    text=VARCHAR,
    fg=VARCHAR,
    bg=VARCHAR,
    bbox=list_of(INTEGER),
    font_px=DOUBLE,
    bold=BOOLEAN,
)

# Optional delivery fields of a manifest line (issue 15 part 5): the alt text and the usage
# rights the web delivery manifest and its JSON-LD carry. Migration 13 adds them.
RIGHTS_COLUMNS = (
    ("alt_text", VARCHAR),
    ("creator", VARCHAR),
    ("credit_text", VARCHAR),
    ("copyright_notice", VARCHAR),
    ("usage_terms", VARCHAR),
    ("license_url", VARCHAR),
    ("acquire_license_url", VARCHAR),
    ("rights_expire_at", TIMESTAMPTZ),
)

GENERATIONS = Table(
    "retouch.generations",
    (
        column("artifact_id", VARCHAR, required=True),
        column("attempt", BIGINT, required=True),
        column("campaign_id", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("channel", VARCHAR, required=True),
        column("retouch_version", VARCHAR, required=True),
        column("model_version", VARCHAR, required=True),
        column("prompt", VARCHAR, required=True),
        column("prompt_version", VARCHAR, required=True),
        column("prompt_hash", VARCHAR, required=True),
        column("negative_prompt", VARCHAR),
        column("sampler", VARCHAR),
        column("seed", BIGINT, required=True),
        column("steps", BIGINT, required=True),
        column("cfg_scale", DOUBLE, required=True),
        column("generated_at", TIMESTAMPTZ, required=True),
        column("processing_ms", BIGINT, required=True),
        column("image", VARCHAR, required=True),
        column("master", VARCHAR, required=True),
        column("text_layers", list_of(TEXT_LAYER)),
        column("reviewer", VARCHAR),
        column("review_seconds", DOUBLE),
        column("review_labels", list_of(VARCHAR)),
        column("batch_id", VARCHAR, required=True),
        column("line_no", BIGINT, required=True),
        column("week", DATE, required=True),
        *(column(name, kind) for name, kind in RIGHTS_COLUMNS),
    ),
    "Accepted generations of the week: every contract field plus batch_id, line_no and week.",
)

QUARANTINE = Table(
    "retouch.quarantine",
    (
        column("batch_id", VARCHAR, required=True),
        column("line_no", BIGINT, required=True),
        column("artifact_id", VARCHAR),
        column("reason_code", VARCHAR, required=True),
        column("reason", VARCHAR, required=True),
        column("raw", VARCHAR, required=True),
        column("week", DATE, required=True),
    ),
    "Manifest lines that broke the input contract, with the reason and the original line.",
)

TABLES = (GENERATIONS, QUARANTINE)
