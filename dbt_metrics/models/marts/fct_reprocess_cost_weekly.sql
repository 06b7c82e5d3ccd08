{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_weeks_to_build() }}",
) }}
-- Reprocess cost per week, campaign and template: retries × time × staff cost rate.
select
    week || '|' || campaign_id || '|' || template_id as cost_key,
    week,
    campaign_id,
    template_id,
    retries,
    processing_hours,
    review_hours,
    cost,
    currency
from {{ ref('stg_cost_weekly') }}
where {{ weeks_to_build() }}
