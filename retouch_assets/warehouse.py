"""The DuckDB warehouse: connections that always close, the table definitions, and idempotent
partition writes (delete the week, insert it again, in one transaction).

No Dagster import: assets call these functions through the `Warehouse` resource.
"""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

# DuckDB allows one writer per file; a second process gets this error while the lock is held.
_LOCK_MESSAGES = ("Could not set lock on file", "Conflicting lock is held")

TEXT_LAYER_TYPE = pa.struct(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("fg", pa.string()),
        ("bg", pa.string()),
        ("bbox", pa.list_(pa.int32())),
        ("font_px", pa.float64()),
        ("bold", pa.bool_()),
    ]
)

GENERATIONS_SCHEMA = pa.schema(
    [
        ("artifact_id", pa.string()),
        ("attempt", pa.int64()),
        ("campaign_id", pa.string()),
        ("template_id", pa.string()),
        ("channel", pa.string()),
        ("retouch_version", pa.string()),
        ("model_version", pa.string()),
        ("prompt", pa.string()),
        ("prompt_version", pa.string()),
        ("prompt_hash", pa.string()),
        ("negative_prompt", pa.string()),
        ("sampler", pa.string()),
        ("seed", pa.int64()),
        ("steps", pa.int64()),
        ("cfg_scale", pa.float64()),
        ("generated_at", pa.timestamp("us", tz="UTC")),
        ("processing_ms", pa.int64()),
        ("image", pa.string()),
        ("master", pa.string()),
        ("text_layers", pa.list_(TEXT_LAYER_TYPE)),
        ("reviewer", pa.string()),
        ("review_seconds", pa.float64()),
        ("review_labels", pa.list_(pa.string())),
        ("batch_id", pa.string()),
        ("line_no", pa.int64()),
        ("week", pa.date32()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("batch_id", pa.string()),
        ("line_no", pa.int64()),
        ("artifact_id", pa.string()),
        ("reason_code", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("week", pa.date32()),
    ]
)

ARTIFACT_QUALITY_SCHEMA = pa.schema(
    [
        ("artifact_id", pa.string()),
        ("attempt", pa.int64()),
        ("week", pa.date32()),
        ("campaign_id", pa.string()),
        ("template_id", pa.string()),
        ("generated_at", pa.timestamp("us", tz="UTC")),
        ("delta_e_mean", pa.float64()),
        ("delta_e_p95", pa.float64()),
        ("hist_delta", pa.float64()),
        ("min_contrast_ratio", pa.float64()),
        ("wcag_aa_pass", pa.bool_()),
        ("clip_score", pa.float64()),
        ("prompt_drift", pa.float64()),
        ("phash", pa.string()),
        ("duplicate_of", pa.string()),
        ("processing_ms", pa.int64()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("image_profile", pa.string()),
        ("master_profile", pa.string()),
        ("measure_error", pa.string()),
        ("layer_contrast", pa.string()),
    ]
)

GATE_RESULTS_SCHEMA = pa.schema(
    [
        ("artifact_id", pa.string()),
        ("attempt", pa.int64()),
        ("week", pa.date32()),
        ("gate", pa.string()),
        ("metric", pa.string()),
        ("phase", pa.string()),
        ("value", pa.float64()),
        ("threshold", pa.float64()),
        ("passed", pa.bool_()),
        ("final", pa.bool_()),
    ]
)

GATE_DECISIONS_SCHEMA = pa.schema(
    [
        ("artifact_id", pa.string()),
        ("attempt", pa.int64()),
        ("week", pa.date32()),
        ("campaign_id", pa.string()),
        ("template_id", pa.string()),
        ("channel", pa.string()),
        ("generated_at", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()),
        ("failed_gates", pa.list_(pa.string())),
        ("unresolved_gates", pa.list_(pa.string())),
        ("heal_actions", pa.string()),
        ("proposals", pa.string()),
        ("review_reasons", pa.list_(pa.string())),
        ("delta_e_mean", pa.float64()),
        ("final_delta_e_mean", pa.float64()),
        ("final_hist_delta", pa.float64()),
        ("delivery_breach", pa.bool_()),
    ]
)

REVIEW_QUEUE_SCHEMA = pa.schema(
    [
        ("artifact_id", pa.string()),
        ("attempt", pa.int64()),
        ("week", pa.date32()),
        ("campaign_id", pa.string()),
        ("template_id", pa.string()),
        ("queued_at", pa.timestamp("us", tz="UTC")),
        ("priority", pa.string()),
        ("reasons", pa.list_(pa.string())),
        ("proposals", pa.string()),
    ]
)

EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("week", pa.date32()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("event_type", pa.string()),
        ("gate", pa.string()),
        ("artifact_id", pa.string()),
        ("attempt", pa.int64()),
        ("campaign_id", pa.string()),
        ("template_id", pa.string()),
        ("channel", pa.string()),
        ("prompt_version", pa.string()),
        ("model_version", pa.string()),
        ("delta_e", pa.float64()),
        ("contrast_ratio", pa.float64()),
        ("processing_ms", pa.int64()),
        ("details", pa.string()),
        ("source", pa.string()),
    ]
)

GATED_OUTPUTS_SCHEMA = pa.schema(
    [
        ("artifact_id", pa.string()),
        ("attempt", pa.int64()),
        ("week", pa.date32()),
        ("status", pa.string()),
        ("failed_gates", pa.list_(pa.string())),
        ("heal_actions", pa.string()),
        ("final_delta_e_mean", pa.float64()),
        ("output_path", pa.string()),
        ("sidecar_path", pa.string()),
        ("hold_reason", pa.string()),
    ]
)

SLI_FACTS_SCHEMA = pa.schema(
    [
        ("week", pa.date32()),
        ("slo", pa.string()),
        ("day", pa.date32()),
        ("campaign_id", pa.string()),
        ("template_id", pa.string()),
        ("channel", pa.string()),
        ("good", pa.int64()),
        ("total", pa.int64()),
    ]
)

ERROR_BUDGET_SCHEMA = pa.schema(
    [
        ("week", pa.date32()),
        ("slo", pa.string()),
        ("scope", pa.string()),
        ("dimension", pa.string()),
        ("window_end", pa.timestamp("us", tz="UTC")),
        ("window_days", pa.float64()),
        ("good", pa.int64()),
        ("total", pa.int64()),
        ("sli", pa.float64()),
        ("objective", pa.float64()),
        ("budget_consumed", pa.float64()),
        ("burn_rates", pa.string()),
        ("policy_state", pa.string()),
        ("frozen_since", pa.timestamp("us", tz="UTC")),
        ("low_traffic", pa.bool_()),
    ]
)

BURN_ALERTS_SCHEMA = pa.schema(
    [
        ("week", pa.date32()),
        ("slo", pa.string()),
        ("scope", pa.string()),
        ("severity", pa.string()),
        ("long_window", pa.string()),
        ("short_window", pa.string()),
        ("factor", pa.float64()),
        ("fired_at", pa.timestamp("us", tz="UTC")),
        ("resolved_at", pa.timestamp("us", tz="UTC")),
        ("peak_burn_long", pa.float64()),
        ("peak_burn_short", pa.float64()),
        ("low_traffic", pa.bool_()),
    ]
)

BASELINES_SCHEMA = pa.schema(
    [
        ("week", pa.date32()),
        ("scope_type", pa.string()),
        ("scope", pa.string()),
        ("artifacts", pa.int64()),
        ("delta_e_mean", pa.float64()),
        ("delta_e_p95", pa.float64()),
        ("wcag_failure_rate", pa.float64()),
        ("reprocess_ms_mean", pa.float64()),
        ("reprocess_ms_max", pa.int64()),
        ("gate_failures", pa.string()),
        ("incidents_30d", pa.string()),
    ]
)

GUARDRAIL_SCHEMA = pa.schema(
    [
        ("week", pa.date32()),
        ("kind", pa.string()),
        ("version", pa.string()),
        ("template_id", pa.string()),
        ("artifacts", pa.int64()),
        ("delta_e_mean", pa.float64()),
        ("baseline_delta_e_mean", pa.float64()),
        ("baseline_artifacts", pa.int64()),
        ("worse_by_pct", pa.float64()),
        ("regressed", pa.bool_()),
        ("note", pa.string()),
    ]
)

OUTBOX_SCHEMA = pa.schema(
    [
        ("outbox_id", pa.string()),
        ("week", pa.date32()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("kind", pa.string()),
        ("action", pa.string()),
        ("dedup_key", pa.string()),
        ("route", pa.string()),
        ("route_kind", pa.string()),
        ("severity", pa.string()),
        ("slo", pa.string()),
        ("scope", pa.string()),
        ("summary", pa.string()),
        ("payload", pa.string()),
        ("status", pa.string()),
        ("attempts", pa.int64()),
    ]
)

# No PRIMARY KEY constraints: DuckDB checks them eagerly, so deleting a week and inserting the
# same keys again in one transaction would fail. Uniqueness is enforced by the ingest triage
# and verified by the batch expectations.
DDL = """
CREATE SCHEMA IF NOT EXISTS retouch;
CREATE TABLE IF NOT EXISTS retouch.generations (
    artifact_id VARCHAR NOT NULL,
    attempt BIGINT NOT NULL,
    campaign_id VARCHAR NOT NULL,
    template_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    retouch_version VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    prompt VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    prompt_hash VARCHAR NOT NULL,
    negative_prompt VARCHAR,
    sampler VARCHAR,
    seed BIGINT NOT NULL,
    steps BIGINT NOT NULL,
    cfg_scale DOUBLE NOT NULL,
    generated_at TIMESTAMPTZ NOT NULL,
    processing_ms BIGINT NOT NULL,
    image VARCHAR NOT NULL,
    master VARCHAR NOT NULL,
    text_layers STRUCT(
        id VARCHAR, text VARCHAR, fg VARCHAR, bg VARCHAR, bbox INTEGER[], font_px DOUBLE,
        bold BOOLEAN
    )[],
    reviewer VARCHAR,
    review_seconds DOUBLE,
    review_labels VARCHAR[],
    batch_id VARCHAR NOT NULL,
    line_no BIGINT NOT NULL,
    week DATE NOT NULL
);
CREATE TABLE IF NOT EXISTS retouch.quarantine (
    batch_id VARCHAR NOT NULL,
    line_no BIGINT NOT NULL,
    artifact_id VARCHAR,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    raw VARCHAR NOT NULL,
    week DATE NOT NULL
);
CREATE TABLE IF NOT EXISTS retouch.artifact_quality (
    artifact_id VARCHAR NOT NULL,
    attempt BIGINT NOT NULL,
    week DATE NOT NULL,
    campaign_id VARCHAR NOT NULL,
    template_id VARCHAR NOT NULL,
    generated_at TIMESTAMPTZ NOT NULL,
    delta_e_mean DOUBLE,
    delta_e_p95 DOUBLE,
    hist_delta DOUBLE,
    min_contrast_ratio DOUBLE,
    wcag_aa_pass BOOLEAN,
    clip_score DOUBLE,
    prompt_drift DOUBLE,
    phash VARCHAR,
    duplicate_of VARCHAR,
    processing_ms BIGINT NOT NULL,
    width BIGINT,
    height BIGINT,
    image_profile VARCHAR,
    master_profile VARCHAR,
    measure_error VARCHAR,
    layer_contrast JSON
);
CREATE TABLE IF NOT EXISTS retouch.gate_results (
    artifact_id VARCHAR NOT NULL,
    attempt BIGINT NOT NULL,
    week DATE NOT NULL,
    gate VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    phase VARCHAR NOT NULL,
    value DOUBLE,
    threshold DOUBLE,
    passed BOOLEAN NOT NULL,
    final BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS retouch.gate_decisions (
    artifact_id VARCHAR NOT NULL,
    attempt BIGINT NOT NULL,
    week DATE NOT NULL,
    campaign_id VARCHAR NOT NULL,
    template_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    generated_at TIMESTAMPTZ NOT NULL,
    status VARCHAR NOT NULL,
    failed_gates VARCHAR[] NOT NULL,
    unresolved_gates VARCHAR[] NOT NULL,
    heal_actions JSON NOT NULL,
    proposals JSON NOT NULL,
    review_reasons VARCHAR[] NOT NULL,
    delta_e_mean DOUBLE,
    final_delta_e_mean DOUBLE,
    final_hist_delta DOUBLE,
    delivery_breach BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS retouch.review_queue (
    artifact_id VARCHAR NOT NULL,
    attempt BIGINT NOT NULL,
    week DATE NOT NULL,
    campaign_id VARCHAR NOT NULL,
    template_id VARCHAR NOT NULL,
    queued_at TIMESTAMPTZ NOT NULL,
    priority VARCHAR NOT NULL,
    reasons VARCHAR[] NOT NULL,
    proposals JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS retouch.gated_outputs (
    artifact_id VARCHAR NOT NULL,
    attempt BIGINT NOT NULL,
    week DATE NOT NULL,
    status VARCHAR NOT NULL,
    failed_gates VARCHAR[] NOT NULL,
    heal_actions JSON NOT NULL,
    final_delta_e_mean DOUBLE,
    output_path VARCHAR,
    sidecar_path VARCHAR,
    hold_reason VARCHAR
);
ALTER TABLE retouch.gated_outputs ADD COLUMN IF NOT EXISTS hold_reason VARCHAR;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.events (
    event_id VARCHAR NOT NULL,
    week DATE NOT NULL,
    event_time TIMESTAMPTZ NOT NULL,
    event_type VARCHAR NOT NULL,
    gate VARCHAR,
    artifact_id VARCHAR,
    attempt BIGINT,
    campaign_id VARCHAR,
    template_id VARCHAR,
    channel VARCHAR,
    prompt_version VARCHAR,
    model_version VARCHAR,
    delta_e DOUBLE,
    contrast_ratio DOUBLE,
    processing_ms BIGINT,
    details JSON,
    source VARCHAR NOT NULL
);
CREATE SCHEMA IF NOT EXISTS slo;
CREATE TABLE IF NOT EXISTS slo.sli_facts (
    week DATE NOT NULL,
    slo VARCHAR NOT NULL,
    day DATE NOT NULL,
    campaign_id VARCHAR NOT NULL,
    template_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    good BIGINT NOT NULL,
    total BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS slo.error_budget (
    week DATE NOT NULL,
    slo VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    dimension VARCHAR,
    window_end TIMESTAMPTZ NOT NULL,
    window_days DOUBLE NOT NULL,
    good BIGINT NOT NULL,
    total BIGINT NOT NULL,
    sli DOUBLE,
    objective DOUBLE NOT NULL,
    budget_consumed DOUBLE NOT NULL,
    burn_rates JSON NOT NULL,
    policy_state VARCHAR NOT NULL,
    frozen_since TIMESTAMPTZ,
    low_traffic BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS slo.burn_alerts (
    week DATE NOT NULL,
    slo VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    long_window VARCHAR NOT NULL,
    short_window VARCHAR NOT NULL,
    factor DOUBLE NOT NULL,
    fired_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    peak_burn_long DOUBLE NOT NULL,
    peak_burn_short DOUBLE NOT NULL,
    low_traffic BOOLEAN NOT NULL
);
CREATE SCHEMA IF NOT EXISTS baselines;
CREATE TABLE IF NOT EXISTS baselines.weekly (
    week DATE NOT NULL,
    scope_type VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    artifacts BIGINT NOT NULL,
    delta_e_mean DOUBLE,
    delta_e_p95 DOUBLE,
    wcag_failure_rate DOUBLE,
    reprocess_ms_mean DOUBLE,
    reprocess_ms_max BIGINT,
    gate_failures JSON NOT NULL,
    incidents_30d JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS baselines.version_guardrail (
    week DATE NOT NULL,
    kind VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    template_id VARCHAR,
    artifacts BIGINT NOT NULL,
    delta_e_mean DOUBLE,
    baseline_delta_e_mean DOUBLE,
    baseline_artifacts BIGINT NOT NULL,
    worse_by_pct DOUBLE,
    regressed BOOLEAN NOT NULL,
    note VARCHAR
);
CREATE TABLE IF NOT EXISTS ops.signoffs (
    signoff_id VARCHAR NOT NULL,
    signed_at TIMESTAMPTZ NOT NULL,
    kind VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    approver VARCHAR NOT NULL,
    release_note VARCHAR NOT NULL,
    effective_from TIMESTAMPTZ NOT NULL
);
-- Warehouses written before events had a source: their events all came from the gates.
ALTER TABLE ops.events ADD COLUMN IF NOT EXISTS source VARCHAR DEFAULT 'gates';
-- Outbox rows are never replaced: their delivery state must survive re-runs.
CREATE TABLE IF NOT EXISTS ops.alert_outbox (
    outbox_id VARCHAR NOT NULL,
    week DATE NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    kind VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    dedup_key VARCHAR NOT NULL,
    route VARCHAR NOT NULL,
    route_kind VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    slo VARCHAR,
    scope VARCHAR,
    summary VARCHAR NOT NULL,
    payload JSON NOT NULL,
    status VARCHAR NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_status_code BIGINT,
    last_error VARCHAR,
    delivered_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS ops.incidents (
    incident_id VARCHAR NOT NULL,
    number BIGINT NOT NULL,
    incident_key VARCHAR NOT NULL,
    slo VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    alerts BIGINT NOT NULL,
    root_cause VARCHAR NOT NULL,
    root_cause_category VARCHAR NOT NULL,
    postmortem_due TIMESTAMPTZ NOT NULL,
    timeline_path VARCHAR
);
CREATE TABLE IF NOT EXISTS ops.incident_events (
    incident_id VARCHAR NOT NULL,
    event_at TIMESTAMPTZ NOT NULL,
    kind VARCHAR NOT NULL,
    details JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS ops.applied_config (
    applied_at TIMESTAMPTZ NOT NULL,
    config_hash VARCHAR NOT NULL,
    config JSON NOT NULL,
    source VARCHAR NOT NULL
);
"""

# The weekly tables and their Arrow schemas. Statements are built only from these constant
# names, never from a key, a config value or file contents; values are always parameters.
WEEKLY_TABLES = {
    "retouch.generations": GENERATIONS_SCHEMA,
    "retouch.quarantine": QUARANTINE_SCHEMA,
    "retouch.artifact_quality": ARTIFACT_QUALITY_SCHEMA,
    "retouch.gate_results": GATE_RESULTS_SCHEMA,
    "retouch.gate_decisions": GATE_DECISIONS_SCHEMA,
    "retouch.review_queue": REVIEW_QUEUE_SCHEMA,
    "retouch.gated_outputs": GATED_OUTPUTS_SCHEMA,
    "ops.events": EVENTS_SCHEMA,
    "slo.sli_facts": SLI_FACTS_SCHEMA,
    "slo.error_budget": ERROR_BUDGET_SCHEMA,
    "slo.burn_alerts": BURN_ALERTS_SCHEMA,
    "baselines.weekly": BASELINES_SCHEMA,
    "baselines.version_guardrail": GUARDRAIL_SCHEMA,
}
_DELETE_WEEK = {name: f"DELETE FROM {name} WHERE week = $week" for name in WEEKLY_TABLES}
# ops.events is written by several steps (gates, slo, guardrail): each replaces only its own.
_DELETE_WEEK["ops.events"] = "DELETE FROM ops.events WHERE week = $week AND source = $source"
_INSERT_ALL = {name: f"INSERT INTO {name} BY NAME SELECT * FROM incoming" for name in WEEKLY_TABLES}


def arrow_rows(table: str, rows: list[dict]) -> pa.Table:
    """Rows shaped as `table`'s Arrow schema (missing keys become NULL)."""
    return pa.Table.from_pylist(rows, schema=WEEKLY_TABLES[table])


@contextmanager
def connect(
    path: str | Path, *, read_only: bool = False, lock_timeout_s: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting up to `lock_timeout_s` for another writer to finish, and
    close the connection whatever happens (DuckDB holds the file lock until close)."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.1
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not any(m in str(exc) for m in _LOCK_MESSAGES) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    try:
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def replace_weeks(
    con: duckdb.DuckDBPyConnection,
    week: date,
    tables: Mapping[str, pa.Table],
    events_source: str | None = None,
) -> None:
    """Replace one week of each table with the given rows, all in one transaction
    (`ops.events`: only the rows of `events_source`)."""
    con.execute("BEGIN TRANSACTION")
    try:
        for table, rows in tables.items():
            params = {"week": week}
            if table == "ops.events":
                if events_source is None:
                    raise ValueError("replacing ops.events needs the events_source")
                params["source"] = events_source
            con.execute(_DELETE_WEEK[table], params)
            con.register("incoming", rows)
            con.execute(_INSERT_ALL[table])
            con.unregister("incoming")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        con.unregister("incoming")  # a view of the caller's Arrow table; harmless if absent
        raise
