-- Campaign KPIs per UTC day and channel (`date` renamed: it is a keyword).
select
    week,
    "date" as kpi_date,
    campaign_id,
    channel,
    impressions,
    clicks,
    conversions,
    revenue,
    support_tickets,
    source_file,
    line_no
from {{ source('business', 'kpi_daily') }}
