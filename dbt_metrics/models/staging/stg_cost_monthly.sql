-- The monthly reprocess-cost meter per campaign and template.
select
    month,
    campaign_id,
    template_id,
    retries,
    processing_hours,
    review_hours,
    cost,
    currency,
    weeks
from {{ source('business', 'cost_monthly') }}
