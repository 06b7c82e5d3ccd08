{#- The weeks one run rebuilds. Dagster passes its partition's time window as the vars
    `week_start` / `week_end` (ISO dates, end exclusive; a single-run backfill spans several
    weeks); without them every week is rebuilt. -#}

{#- A predicate selecting the run's weeks on `column`, or `true` when no weeks were given. -#}
{% macro week_in_run(column='week') -%}
    {%- set start = var('week_start', none) -%}
    {%- set end = var('week_end', none) -%}
    {%- if start is none and end is none -%}
        true
    {%- else -%}
        ({{ column }} >= {{ iso_date_literal(start) }} and {{ column }} < {{ iso_date_literal(end) }})
    {%- endif -%}
{%- endmacro %}

{#- A date literal from a var. The value is spliced into SQL, so it must be exactly an ISO
    date: anything else stops the run at compile time. -#}
{% macro iso_date_literal(value) -%}
    {%- if value is none or not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value | string) -%}
        {{ exceptions.raise_compiler_error(
            "week_start and week_end must both be ISO dates (YYYY-MM-DD); got " ~ value) }}
    {%- endif -%}
    date '{{ value }}'
{%- endmacro %}

{#- The rows an incremental fact reads: the run's weeks once the table exists, else all. -#}
{% macro weeks_to_build(column='week') -%}
    {%- if is_incremental() -%} {{ week_in_run(column) }} {%- else -%} true {%- endif -%}
{%- endmacro %}

{#- Pre-hook of a weekly fact: delete the run's weeks before inserting them again, in the same
    transaction, like the Python layers' partition writes (a week whose source rows vanished
    is emptied, which delete+insert by key would miss). -#}
{% macro delete_weeks_to_build(column='week') -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ week_in_run(column) }}
    {%- endif -%}
{%- endmacro %}
