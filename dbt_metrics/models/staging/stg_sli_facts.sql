-- Good and total events per SLO and day, by campaign, template and channel.
select week, day, slo, campaign_id, template_id, channel, good, total
from {{ source('slo', 'sli_facts') }}
