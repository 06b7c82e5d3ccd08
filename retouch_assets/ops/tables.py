"""The ops layer's tables: the event log every layer writes to, the alert outbox and incidents."""

from retouch_assets.warehouse import (
    BIGINT,
    DATE,
    DOUBLE,
    JSON,
    TIMESTAMPTZ,
    VARCHAR,
    Table,
    column,
)

EVENTS = Table(
    "ops.events",
    (
        column("event_id", VARCHAR, required=True),
        column("week", DATE, required=True),
        column("event_time", TIMESTAMPTZ, required=True),
        column("event_type", VARCHAR, required=True),
        column("gate", VARCHAR),
        column("artifact_id", VARCHAR),
        column("attempt", BIGINT),
        column("campaign_id", VARCHAR),
        column("template_id", VARCHAR),
        column("channel", VARCHAR),
        column("prompt_version", VARCHAR),
        column("model_version", VARCHAR),
        column("delta_e", DOUBLE),
        column("contrast_ratio", DOUBLE),
        column("processing_ms", BIGINT),
        column("details", JSON),
        column("source", VARCHAR, required=True),
    ),
    "Events for on-call and analysts: gate outcomes, policy-state changes and guardrail "
    "regressions. Each writing step (source) replaces only its own rows of a week.",
    partition_by=("week", "source"),
)

# Outbox rows are never replaced: their delivery state must survive re-runs.
ALERT_OUTBOX = Table(
    "ops.alert_outbox",
    (
        column("outbox_id", VARCHAR, required=True),
        column("week", DATE, required=True),
        column("created_at", TIMESTAMPTZ, required=True),
        column("kind", VARCHAR, required=True),
        column("action", VARCHAR, required=True),
        column("dedup_key", VARCHAR, required=True),
        column("route", VARCHAR, required=True),
        column("route_kind", VARCHAR, required=True),
        column("severity", VARCHAR, required=True),
        column("slo", VARCHAR),
        column("scope", VARCHAR),
        column("summary", VARCHAR, required=True),
        column("payload", JSON, required=True),
        column("status", VARCHAR, required=True),
        column("attempts", BIGINT, required=True, default="0"),
        column("last_status_code", BIGINT),
        column("last_error", VARCHAR),
        column("delivered_at", TIMESTAMPTZ),
    ),
    "One row per alert state change (trigger, resolve) and policy-state change, per route, with "
    "a stable dedup key, the rendered payload and its delivery state.",
    partition_by=(),
)

INCIDENTS = Table(
    "ops.incidents",
    (
        column("incident_id", VARCHAR, required=True),
        column("number", BIGINT, required=True),
        column("incident_key", VARCHAR, required=True),
        column("slo", VARCHAR, required=True),
        column("scope", VARCHAR, required=True),
        column("severity", VARCHAR, required=True),
        column("status", VARCHAR, required=True),
        column("opened_at", TIMESTAMPTZ, required=True),
        column("resolved_at", TIMESTAMPTZ),
        column("alerts", BIGINT, required=True),
        column("root_cause", VARCHAR, required=True),
        column("root_cause_category", VARCHAR, required=True),
        column("postmortem_due", TIMESTAMPTZ, required=True),
        column("timeline_path", VARCHAR),
    ),
    "RETINC-<n> incidents opened by page alerts: SLO, scope, severity, status, opened/resolved, "
    "root cause, postmortem due; ids stable across re-runs.",
    partition_by=(),
)

INCIDENT_EVENTS = Table(
    "ops.incident_events",
    (
        column("incident_id", VARCHAR, required=True),
        column("event_at", TIMESTAMPTZ, required=True),
        column("kind", VARCHAR, required=True),
        column("details", JSON, required=True),
    ),
    "Each incident's timeline: opened, alerts attached, resolved, postmortem due. Exported as "
    "incident_timeline.md under the reports folder.",
    partition_by=(),
)

TABLES = (EVENTS, ALERT_OUTBOX, INCIDENTS, INCIDENT_EVENTS)
