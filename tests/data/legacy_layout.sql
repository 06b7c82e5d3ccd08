-- The warehouse DDL of the first layout (before numbered migrations), kept to test the upgrade.
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
