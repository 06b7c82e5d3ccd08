{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_weeks_to_build() }}",
) }}
-- One row per artifact attempt: its inventory axes, measurements, gate verdict and
-- publication. Rebuilt one week at a time (the run's weeks).
select
    g.artifact_id || '#' || g.attempt as artifact_key,
    g.artifact_id,
    g.attempt,
    g.attempt > 1 as is_reprocess,
    g.week,
    cast(timezone('UTC', g.generated_at) as date) as generated_date,
    g.generated_at,
    g.campaign_id,
    g.template_id,
    g.channel,
    g.model_version,
    g.prompt_version,
    g.processing_ms,
    g.review_seconds,
    q.delta_e_mean,
    q.delta_e_p95,
    q.hist_delta,
    q.min_contrast_ratio,
    q.wcag_aa_pass,
    case when q.wcag_aa_pass is null then null else not q.wcag_aa_pass end as wcag_failed,
    q.clip_score,
    q.prompt_drift,
    q.prompt_drift_status,
    -- Judged drift only (a trained model and an approved prompt): what SLOs and the gate count.
    case when q.prompt_drift_status = 'scored' then q.prompt_drift end as prompt_drift_judged,
    q.clip_untrained,
    q.clip_model_hash,
    q.duplicate_of,
    q.measure_error,
    d.gate_status,
    d.failed_gates,
    d.failed_gate_count,
    d.final_delta_e_mean,
    d.delivery_breach,
    o.publication_status,
    coalesce(o.published, false) as published,
    o.hold_reason
from {{ ref('stg_generations') }} g
left join {{ ref('stg_artifact_quality') }} q using (artifact_id, attempt, week)
left join {{ ref('stg_gate_decisions') }} d using (artifact_id, attempt, week)
left join {{ ref('stg_gated_outputs') }} o using (artifact_id, attempt, week)
where {{ weeks_to_build('g.week') }}
