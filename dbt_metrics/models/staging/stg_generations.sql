-- The inventory axes and versions of every accepted artifact attempt.
select
    artifact_id,
    attempt,
    week,
    campaign_id,
    template_id,
    channel,
    model_version,
    prompt_version,
    generated_at,
    processing_ms,
    review_seconds
from {{ source('retouch', 'generations') }}
