-- Reprocess cost per week, campaign and template.
select
    week,
    campaign_id,
    template_id,
    retries,
    processing_hours,
    review_hours,
    cost,
    currency
from {{ source('business', 'cost_weekly') }}
