-- The monthly reprocess-cost meter per campaign and template (month of generated_at, UTC).
-- Small, and any week can change its month: rebuilt whole by every run.
select
    month || '|' || campaign_id || '|' || template_id as cost_key,
    month,
    campaign_id,
    template_id,
    retries,
    processing_hours,
    review_hours,
    cost,
    currency,
    weeks
from {{ ref('stg_cost_monthly') }}
