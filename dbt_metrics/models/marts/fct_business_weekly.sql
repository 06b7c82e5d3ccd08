{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_weeks_to_build() }}",
) }}
-- Per week, campaign and channel: outcomes (CTR, CVR, revenue, tickets, LCP P75) next to the
-- quality of that week's artifacts, with week-over-week changes (business.overlay).
select
    week || '|' || campaign_id || '|' || channel as overlay_key,
    *
from {{ ref('stg_overlay') }}
where {{ weeks_to_build() }}
