-- Per artifact attempt: the colour, contrast, drift and timing measurements.
select
    artifact_id,
    attempt,
    week,
    delta_e_mean,
    delta_e_p95,
    hist_delta,
    min_contrast_ratio,
    wcag_aa_pass,
    clip_score,
    prompt_drift,
    prompt_drift_status,
    clip_untrained,
    clip_model_hash,
    duplicate_of,
    measure_error
from {{ source('retouch', 'artifact_quality') }}
