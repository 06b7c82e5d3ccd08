"""The delivery layer's table: every channel rendition of every approved or healed image."""

from retouch_assets.warehouse import (
    BIGINT,
    BOOLEAN,
    DATE,
    DOUBLE,
    JSON,
    VARCHAR,
    Table,
    column,
)

RENDITIONS = Table(
    "retouch.renditions",
    (
        column("artifact_id", VARCHAR, required=True),
        column("attempt", BIGINT, required=True),
        column("week", DATE, required=True),
        column("channel", VARCHAR, required=True),
        column("format", VARCHAR, required=True),
        column("width", BIGINT, required=True),
        column("height", BIGINT, required=True),
        column("quality", BIGINT, required=True),
        column("bytes", BIGINT, required=True),
        column("max_bytes", BIGINT, required=True),
        column("delta_e_mean", DOUBLE, required=True),
        column("delta_e_mean_max", DOUBLE, required=True),
        column("ssim", DOUBLE, required=True),
        column("ssim_min", DOUBLE, required=True),
        column("within_budget", BOOLEAN, required=True),
        column("meets_floor", BOOLEAN, required=True),
        column("probes", JSON, required=True),
        column("mime", VARCHAR, required=True),
        column("path", VARCHAR, required=True),
        column("sha256", VARCHAR, required=True),
        column("unsigned_sha256", VARCHAR),
        column("c2pa_input_sha256", VARCHAR),
    ),
    "Channel renditions of every approved or healed image: channel, format, size, encoder "
    "quality (the lowest of a bounded search that keeps the floor), final bytes against the "
    "budget, ΔE mean and SSIM against the published image at that size, the search's probes, "
    "and the content-addressed, C2PA-signed file (path, sha256; the sha256 before signing and "
    "of everything the signature covers, by which a re-run keeps an unchanged signed file).",
)

TABLES = (RENDITIONS,)
