"""The QA layer's table: the template-improvement backlog."""

from retouch_assets.warehouse import (
    BIGINT,
    DATE,
    DOUBLE,
    TIMESTAMPTZ,
    VARCHAR,
    Table,
    column,
    list_of,
)

TEMPLATE_BACKLOG = Table(
    "qa.template_backlog",
    (
        column("week", DATE, required=True),
        column("template_id", VARCHAR, required=True),
        column("artifact_id", VARCHAR, required=True),
        column("attempt", BIGINT, required=True),
        column("generated_at", TIMESTAMPTZ, required=True),
        column("prompt_version", VARCHAR, required=True),
        column("reviewer", VARCHAR),
        column("review_seconds", DOUBLE, required=True),
        column("review_labels", list_of(VARCHAR), required=True),
        column("threshold_seconds", DOUBLE, required=True),
    ),
    "Every QA review of the week slower than `review.slow_review_seconds` (default 300 s): the "
    "template-improvement backlog, with reviewer, duration and labels (article §4.3).",
)

TABLES = (TEMPLATE_BACKLOG,)
