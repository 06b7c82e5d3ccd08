{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_weeks_to_build() }}",
) }}
-- Good and total events per SLO, day, campaign, template and channel (event time =
-- generated_at), with the day's SLI.
select
    slo || '|' || day || '|' || campaign_id || '|' || template_id || '|' || channel
        as sli_fact_key,
    week,
    day,
    slo,
    campaign_id,
    template_id,
    channel,
    good,
    total,
    good / nullif(total, 0) as sli
from {{ ref('stg_sli_facts') }}
where {{ weeks_to_build() }}
