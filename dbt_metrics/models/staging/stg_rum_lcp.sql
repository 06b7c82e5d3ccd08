-- Real-user LCP beacons with their UTC day; one row per page view.
select
    week,
    ts,
    cast(timezone('UTC', ts) as date) as beacon_date,
    channel,
    template_id,
    campaign_id,
    page,
    lcp_ms,
    source_file,
    line_no
from {{ source('business', 'rum_lcp') }}
