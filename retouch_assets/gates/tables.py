"""The gates layer's tables: gate rows, decisions, the review queue and publication."""

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
    list_of,
)

_KEY = (
    column("artifact_id", VARCHAR, required=True),
    column("attempt", BIGINT, required=True),
    column("week", DATE, required=True),
)

GATE_RESULTS = Table(
    "retouch.gate_results",
    (
        *_KEY,
        column("gate", VARCHAR, required=True),
        column("metric", VARCHAR, required=True),
        column("phase", VARCHAR, required=True),
        column("value", DOUBLE),
        column("threshold", DOUBLE),
        column("passed", BOOLEAN, required=True),
        column("final", BOOLEAN, required=True),
    ),
    "Every gate measurement per artifact: gate, metric, phase (measured or the healing preset), "
    "value, threshold, passed, and whether it was final.",
)

GATE_DECISIONS = Table(
    "retouch.gate_decisions",
    (
        *_KEY,
        column("campaign_id", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("channel", VARCHAR, required=True),
        column("generated_at", TIMESTAMPTZ, required=True),
        column("status", VARCHAR, required=True),
        column("failed_gates", list_of(VARCHAR), required=True),
        column("unresolved_gates", list_of(VARCHAR), required=True),
        column("heal_actions", JSON, required=True),
        column("proposals", JSON, required=True),
        column("review_reasons", list_of(VARCHAR), required=True),
        column("delta_e_mean", DOUBLE),
        column("final_delta_e_mean", DOUBLE),
        column("final_hist_delta", DOUBLE),
        column("delivery_breach", BOOLEAN, required=True),
    ),
    "Per artifact attempt: status (approved, healed, needs_human_review, rejected), failed and "
    "unresolved gates, heal actions.",
)

REVIEW_QUEUE = Table(
    "retouch.review_queue",
    (
        *_KEY,
        column("campaign_id", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("queued_at", TIMESTAMPTZ, required=True),
        column("priority", VARCHAR, required=True),
        column("reasons", list_of(VARCHAR), required=True),
        column("proposals", JSON, required=True),
    ),
    "Artifacts waiting for a person, with reasons and the proposed accessible text colours.",
)

GATED_OUTPUTS = Table(
    "retouch.gated_outputs",
    (
        *_KEY,
        column("status", VARCHAR, required=True),
        column("failed_gates", list_of(VARCHAR), required=True),
        column("heal_actions", JSON, required=True),
        column("final_delta_e_mean", DOUBLE),
        column("output_path", VARCHAR),
        column("sidecar_path", VARCHAR),
        column("hold_reason", VARCHAR),
        column("output_sha256", VARCHAR),
        column("sidecar_sha256", VARCHAR),
        column("delivery_manifest_path", VARCHAR),
        column("delivery_manifest_sha256", VARCHAR),
        column("unsigned_sha256", VARCHAR),
        column("c2pa_input_sha256", VARCHAR),
    ),
    "Every artifact's publication outcome: approved and healed images published as sRGB PNG "
    "with XMP provenance and a signed C2PA manifest, a JSON sidecar and their web delivery "
    "manifest (renditions' srcset, alt text, JSON-LD, usage rights), with the paths and sha256 "
    "of each (and the sha256 of the PNG before signing and of everything the signature covers, "
    "by which a re-run keeps an unchanged signed file), or why not (status, hold reason).",
)

TEMPLATE_LOCKS = Table(
    "retouch.template_locks",
    (
        column("template_id", VARCHAR, required=True),
        column("locked_at", TIMESTAMPTZ, required=True),
        column("cause_artifact_id", VARCHAR, required=True),
        column("cause_attempt", BIGINT, required=True),
        column("week", DATE, required=True),
        column("prompt_version", VARCHAR, required=True),
        column("prompt_drift", DOUBLE, required=True),
        column("threshold", DOUBLE, required=True),
        column("approved_prompt_version", VARCHAR, required=True),
        column("fallback_prompt_version", VARCHAR, required=True),
        column("model_hash", VARCHAR),
    ),
    "Template locks caused by the prompt-drift gate: one row per drifted artifact attempt (its "
    "generated_at is when the lock begins), appended and never deleted by a re-run, so only a "
    "sign-off ends a lock. A template is locked from its earliest drift that no `retouch "
    "signoff --template <id>` (in `ops.signoffs`) effective at or after it has released; its "
    "newer artifacts are held from publication meanwhile.",
    partition_by=(),
)

TABLES = (GATE_RESULTS, GATE_DECISIONS, REVIEW_QUEUE, GATED_OUTPUTS, TEMPLATE_LOCKS)
