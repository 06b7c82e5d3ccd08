-- Every campaign seen by any layer (generations, KPIs, LCP beacons, cost), with its span and
-- volumes. Rebuilt whole by every run: a campaign's first week can move with a backfill.
with generated as (
    select
        campaign_id,
        min(week) as first_week,
        max(week) as last_week,
        count(*) as artifact_attempts,
        count(distinct template_id) as templates,
        count(distinct channel) as channels
    from {{ ref('stg_generations') }}
    group by campaign_id
),
kpi as (
    select campaign_id, min(week) as first_kpi_week, sum(conversions) as conversions
    from {{ ref('stg_kpi_daily') }}
    group by campaign_id
),
ids as (
    select campaign_id from generated
    union select campaign_id from kpi
    union select campaign_id from {{ ref('stg_rum_lcp') }} where campaign_id is not null
    union select campaign_id from {{ ref('stg_cost_weekly') }}
)
select
    ids.campaign_id,
    generated.first_week,
    generated.last_week,
    coalesce(generated.artifact_attempts, 0) as artifact_attempts,
    coalesce(generated.templates, 0) as templates,
    coalesce(generated.channels, 0) as channels,
    kpi.first_kpi_week,
    kpi.conversions is not null as has_kpis
from ids
left join generated using (campaign_id)
left join kpi using (campaign_id)
