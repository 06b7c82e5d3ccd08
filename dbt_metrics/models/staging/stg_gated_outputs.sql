-- Per artifact attempt: whether it was published, or why not.
select
    artifact_id,
    attempt,
    week,
    status as publication_status,
    output_path is not null as published,
    hold_reason
from {{ source('retouch', 'gated_outputs') }}
