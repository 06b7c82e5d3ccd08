{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_weeks_to_build() }}",
) }}
-- Every real-user LCP beacon: percentiles are taken over beacons (the `lcp_p75_ms` metric),
-- never averaged from daily percentiles.
select
    source_file || ':' || line_no as beacon_key,
    week,
    beacon_date,
    ts,
    channel,
    template_id,
    campaign_id,
    page,
    lcp_ms
from {{ ref('stg_rum_lcp') }}
where {{ weeks_to_build() }}
