{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_weeks_to_build() }}",
) }}
-- Campaign KPIs per UTC day and channel. Rates are not stored: CTR and CVR are ratios of
-- sums over whatever rows a query groups (the `ctr` / `cvr` metrics), never means of daily rates.
select
    kpi_date || '|' || campaign_id || '|' || channel as kpi_key,
    week,
    kpi_date,
    campaign_id,
    channel,
    impressions,
    clicks,
    conversions,
    revenue,
    support_tickets
from {{ ref('stg_kpi_daily') }}
where {{ weeks_to_build() }}
