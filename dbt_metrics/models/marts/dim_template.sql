-- Every template seen by any layer (generations, LCP beacons, cost), with its span, volumes
-- and its latest prompt version. Rebuilt whole by every run.
with generated as (
    select
        template_id,
        min(week) as first_week,
        max(week) as last_week,
        count(*) as artifact_attempts,
        count(distinct prompt_version) as prompt_versions,
        arg_max(prompt_version, generated_at) as latest_prompt_version
    from {{ ref('stg_generations') }}
    group by template_id
),
ids as (
    select template_id from generated
    union select template_id from {{ ref('stg_rum_lcp') }}
    union select template_id from {{ ref('stg_cost_weekly') }}
)
select
    ids.template_id,
    generated.first_week,
    generated.last_week,
    coalesce(generated.artifact_attempts, 0) as artifact_attempts,
    coalesce(generated.prompt_versions, 0) as prompt_versions,
    generated.latest_prompt_version
from ids
left join generated using (template_id)
